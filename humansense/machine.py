"""What this machine lets a build use, and how many annotation workers a plain `humansense build` starts.

CPUs are what the process may run on (its affinity), capped by the cgroup's CPU quota (a container's `--cpus`),
never `os.cpu_count()`, which counts the host's. Memory is what is available now, capped by the cgroup's limit.
GPUs are the devices the process sees (`CUDA_VISIBLE_DEVICES`, else `nvidia-smi`).

Workers follow the engines' threads, never the reverse: an engine's thread count can change its answers (ASR
segments, the LLM's text), so it stays what the config says, and the worker count adapts so that workers x threads
do not oversubscribe the CPUs, bounded by available memory over a worker's measured peak. On a machine with GPUs,
each GPU gets a worker of its own, pinned to it (`CUDA_VISIBLE_DEVICES`, as Dask's CUDA clusters and Ray do);
GPU shards go only to those, and CPU workers take the rest of the CPUs.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

# A worker with every engine loaded peaks at about 2 GB (bench/RESULTS.md, "Annotation against workers").
WORKER_PEAK_BYTES = 2 * 2**30
CGROUP = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class Resources:
    cpus: int  # CPUs this process may use
    memory_bytes: int  # memory it may still take
    gpus: tuple[str, ...] = ()  # device ids it sees
    cpus_why: str = ""  # where the CPU count came from, for the build log


def cgroup_cpu_limit(root: Path = CGROUP) -> float | None:
    """CPUs the cgroup's quota allows (v2 `cpu.max`, v1 `cpu.cfs_quota_us`), or None without a quota."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return quota / period if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None


def cgroup_memory_left(root: Path = CGROUP) -> int | None:
    """Bytes the cgroup's memory limit leaves (v2 `memory.max` less `memory.current`; v1 likewise), or None."""
    for limit_file, used_file in (("memory.max", "memory.current"),
                                  ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes")):
        try:
            limit = (root / limit_file).read_text().strip()
            used = int((root / used_file).read_text())
        except (OSError, ValueError):
            continue
        if limit != "max" and int(limit) < 2**60:  # v1 says "no limit" with a huge number
            return max(0, int(limit) - used)
    return None


def visible_gpus(env: dict[str, str] | None = None) -> tuple[str, ...]:
    """The GPU ids this process sees: `CUDA_VISIBLE_DEVICES` when set (empty or -1: none), else nvidia-smi's list."""
    env = os.environ if env is None else env
    if "CUDA_VISIBLE_DEVICES" in env:
        ids = [d.strip() for d in env["CUDA_VISIBLE_DEVICES"].split(",") if d.strip()]
        return tuple(ids) if ids and ids[0] != "-1" else ()
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return ()
    try:
        listed = subprocess.run([smi, "--query-gpu=index", "--format=csv,noheader"], capture_output=True,
                                text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return ()
    return tuple(line.strip() for line in listed.stdout.splitlines() if line.strip().isdigit()) \
        if listed.returncode == 0 else ()


def detect() -> Resources:
    """This process's CPUs, memory and GPUs."""
    import psutil

    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    quota = cgroup_cpu_limit()
    cpus, why = affinity, f"{affinity} CPUs in this process's affinity"
    if quota is not None and math.ceil(quota) < affinity:
        cpus, why = max(1, math.ceil(quota)), f"{max(1, math.ceil(quota))} CPUs (the cgroup's quota: {quota:g})"
    memory = psutil.virtual_memory().available
    left = cgroup_memory_left()
    return Resources(cpus=cpus, memory_bytes=min(memory, left) if left is not None else memory,
                     gpus=visible_gpus(), cpus_why=why)


@dataclass(frozen=True)
class WorkerPlan:
    workers: int  # worker processes in all
    gpu_devices: tuple[str, ...]  # the first len(gpu_devices) workers, one pinned to each device
    threads: int  # an engine's threads in each worker (the config's)
    reason: str

    @property
    def cpu_workers(self) -> int:
        return self.workers - len(self.gpu_devices)


def _gib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB"


def plan_workers(res: Resources, threads: int, *, requested: int | None = None, use_gpus: bool = True,
                 worker_peak_bytes: int = WORKER_PEAK_BYTES) -> WorkerPlan:
    """How many workers, and which are pinned to a GPU: one per GPU, and CPU workers for the CPUs left at
    `threads` each, all bounded by memory over a worker's peak; `requested` (`--workers`) overrides the count."""
    threads = max(1, threads)
    gpus = res.gpus if use_gpus else ()
    by_memory = max(1, res.memory_bytes // worker_peak_bytes)
    memory_note = f"memory allows {by_memory} ({_gib(res.memory_bytes)} available / {_gib(worker_peak_bytes)} a worker)"
    if requested is not None:
        pinned = gpus[:requested]
        return WorkerPlan(requested, pinned, threads, f"{requested} workers: --workers"
                          + (f", {len(pinned)} pinned to GPU {', '.join(pinned)}" if pinned else ""))
    gpu_workers = gpus[:by_memory]
    cpu_workers = min((res.cpus - len(gpu_workers) * threads) // threads, by_memory - len(gpu_workers))
    cpu_workers = max(0 if gpu_workers else 1, cpu_workers)
    cpu_part = f"{res.cpus} CPUs / {threads} thread{'s' if threads > 1 else ''} each"
    if gpu_workers:
        reason = (f"{len(gpu_workers) + cpu_workers} workers: {len(gpu_workers)} pinned to GPU "
                  f"{', '.join(gpu_workers)}, {cpu_workers} on the CPU ({cpu_part}, the GPU workers' included); "
                  f"{memory_note}")
    else:
        reason = f"{cpu_workers} worker{'s' if cpu_workers > 1 else ''}: {cpu_part}; {memory_note}"
    return WorkerPlan(len(gpu_workers) + cpu_workers, tuple(gpu_workers), threads, reason)
