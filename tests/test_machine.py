"""How a plain build sizes its workers: CPUs from affinity and the cgroup's quota, memory, GPUs, and the engines'
threads; GPU workers pinned to one device each (tested through the placement logic, with the device list given)."""

from __future__ import annotations

from pathlib import Path

import pytest

from humansense.sources import adapter_class
from humansense.config import BuildConfig
from humansense.machine import (Resources, WORKER_PEAK_BYTES, cgroup_cpu_limit, cgroup_memory_left, plan_workers,
                                visible_gpus)

GB = 2**30


@pytest.mark.parametrize("res, threads, workers, gpus, reason", [
    (Resources(cpus=2, memory_bytes=24 * GB), 1, 2, (),
     "2 workers: 2 CPUs / 1 thread each; memory allows 12 (24.0 GiB available / 2.0 GiB a worker)"),
    (Resources(cpus=2, memory_bytes=24 * GB), 2, 1, (), "1 worker: 2 CPUs / 2 threads each"),
    (Resources(cpus=16, memory_bytes=64 * GB), 1, 16, (), "16 workers: 16 CPUs / 1 thread each; memory allows 32"),
    (Resources(cpus=16, memory_bytes=64 * GB), 2, 8, (), "8 workers: 16 CPUs / 2 threads each"),
    (Resources(cpus=64, memory_bytes=8 * GB), 1, 4, (), "4 workers: 64 CPUs / 1 thread each; memory allows 4"),
    (Resources(cpus=8, memory_bytes=32 * GB, gpus=("0", "1")), 2, 4, ("0", "1"),
     "4 workers: 2 pinned to GPU 0, 1, 2 on the CPU (8 CPUs / 2 threads each, the GPU workers' included)"),
    (Resources(cpus=2, memory_bytes=1 * GB), 1, 1, (), "1 worker: 2 CPUs / 1 thread each; memory allows 1"),
])
def test_workers_follow_cpus_threads_memory_and_gpus(res, threads, workers, gpus, reason):
    plan = plan_workers(res, threads)
    assert (plan.workers, plan.gpu_devices, plan.threads) == (workers, gpus, threads)
    assert reason in plan.reason
    assert plan.cpu_workers * threads + len(plan.gpu_devices) * threads <= max(res.cpus, threads)  # no oversubscription


def test_requested_workers_override_the_count_and_gpus_can_be_left_alone():
    res = Resources(cpus=8, memory_bytes=32 * GB, gpus=("0", "1"))
    assert plan_workers(res, 1, requested=3).workers == 3
    assert plan_workers(res, 1, requested=3).gpu_devices == ("0", "1")
    assert plan_workers(res, 1, requested=1).gpu_devices == ("0",)
    assert plan_workers(res, 1, use_gpus=False).gpu_devices == ()
    assert plan_workers(res, 1, worker_peak_bytes=WORKER_PEAK_BYTES * 8).workers == 2  # memory bounds GPU + CPU


def test_cgroup_quota_and_memory_limits_are_read(tmp_path: Path):
    (tmp_path / "cpu.max").write_text("250000 100000\n")
    (tmp_path / "memory.max").write_text(str(8 * GB))
    (tmp_path / "memory.current").write_text(str(3 * GB))
    assert cgroup_cpu_limit(tmp_path) == 2.5 and cgroup_memory_left(tmp_path) == 5 * GB
    (tmp_path / "cpu.max").write_text("max 100000\n")
    (tmp_path / "memory.max").write_text("max\n")
    assert cgroup_cpu_limit(tmp_path) is None and cgroup_memory_left(tmp_path) is None
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("150000")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000")
    assert cgroup_cpu_limit(v1) == 1.5


def test_visible_gpus_come_from_cuda_visible_devices():
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "2,3"}) == ("2", "3")
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": ""}) == () and visible_gpus({"CUDA_VISIBLE_DEVICES": "-1"}) == ()


def test_a_gpu_machine_gets_a_pinned_cluster_and_gpu_shards_go_to_its_gpu_workers(monkeypatch, tmp_path: Path):
    from humansense.annotators.shards import plan_shards
    from humansense.annotators.steps import ConversationStep
    from humansense.config import AnnotatorsConfig
    import humansense.flows.build as build

    monkeypatch.setattr(build, "detect", lambda: Resources(cpus=8, memory_bytes=64 * GB, gpus=("0", "1")))
    cfg = BuildConfig()
    assert build.plan_runner("auto", None, cfg)[:3] == ("dask", 8, ("0", "1"))  # 1-thread engines: 6 on the CPU
    assert build.plan_runner("processes", None, cfg)[:3] == ("processes", 8, ())
    assert build.plan_runner("threads", None, cfg)[:3] == ("threads", 1, ())
    monkeypatch.setattr(build, "detect", lambda: Resources(cpus=2, memory_bytes=24 * GB))
    assert build.plan_runner("auto", None, cfg)[:2] == ("processes", 2)  # this kind of machine
    assert build.plan_runner("auto", 1, cfg)[:2] == ("threads", 1)

    spec = build.cluster_spec(["0", "1"], 2)
    assert {name: (w["options"]["env"]["CUDA_VISIBLE_DEVICES"], w["options"]["resources"])
            for name, w in spec.items()} == {"gpu-0": ("0", {"GPU": 1}), "gpu-1": ("1", {"GPU": 1}),
                                             "cpu-0": ("", {"CPU": 1}), "cpu-1": ("", {"CPU": 1})}
    assert build.cluster_spec(["0"], 0)["gpu-0"]["options"]["resources"] == {"GPU": 1, "CPU": 1}

    def shard(**devices):
        annotators = AnnotatorsConfig.model_validate({k: {"device": v} for k, v in devices.items()})
        return plan_shards(adapter_class("realtalk"), cfg.sources.realtalk, tmp_path, 1,
                           [ConversationStep(window_s=60)], ["a"],
                           {"a": "1", "*": "x"}, tmp_path, tmp_path, annotators, "code")[0]

    asr_auto = shard(asr="auto", emotion="auto")
    asr_cuda = shard(asr="cuda", emotion="cpu")
    cpu_only = shard(asr="cpu", emotion="cpu")
    assert build.shard_resources(asr_cuda, pinned=False) == {"GPU": 1}  # a worker with --resources GPU=1
    assert build.shard_resources(asr_auto, pinned=False) is None and build.shard_resources(cpu_only, False) is None
    assert build.shard_resources(asr_auto, pinned=True) == {"GPU": 1}
    assert build.shard_resources(cpu_only, pinned=True) == {"CPU": 1}


def test_a_step_declares_its_resources_from_its_engines_settings():
    """A step's CPU threads and GPU need come from the engines it holds: the conversation step (ASR, faces) may use
    a GPU while ASR is on 'auto', must have one when an engine is put on a GPU outright, and needs none on the CPU;
    its threads are the most any of its engines is set to."""
    from humansense.annotators.steps import ConversationStep, SpeechStep
    from humansense.sections import AnnotatorsConfig

    step, cfg = ConversationStep(window_s=60), AnnotatorsConfig()
    on_cpu = cfg.model_copy(update={"asr": cfg.asr.model_copy(update={"device": "cpu", "cpu_threads": 3}),
                                    "emotion": cfg.emotion.model_copy(update={"device": "cpu"})})
    assert step.resources(on_cpu) == (3, "no")
    on_gpu = on_cpu.model_copy(update={"emotion": cfg.emotion.model_copy(update={"device": "cuda:1"})})
    assert step.resources(on_gpu).gpu == "must"
    assert step.resources(on_cpu.model_copy(update={"asr": cfg.asr.model_copy(update={"device": "auto"})})).gpu == "may"
    llm = cfg.model_copy(update={"llm": cfg.llm.model_copy(update={"local_threads": 4})})
    assert SpeechStep().resources(llm).cpus == 4
