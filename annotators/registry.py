"""Engines held by a worker process: each loads once, on the device the config and this worker resolve, and serves
every shard the process runs afterwards (a Dask worker or a process of the process pool annotates many shards; a
model load costs seconds, a TensorFlow import more).

Engines are keyed by (annotator, the engine's own settings, the device): two configs that differ only in what a
read asks for (frame rate, duplicate threshold) share one engine. `loads()` says what this process loaded, so a
shard's result can show which worker ran it and that its engines were not loaded again.

The packaged local LLM is held the same way: one llama.cpp server per process, stopped when the process ends.
`llm_client` is the one way the build, the audit and the CLI open an LLM.
"""

from __future__ import annotations

import atexit
import json
import os
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from humansense.annotators import devices
from humansense.annotators.engines import BUILDERS
from humansense.sections import AnnotatorsConfig

if TYPE_CHECKING:
    from humansense.annotators.base import AnnotationCache
    from humansense.annotators.llm import LlmClient

# What a read asks for, not what the engine is: left out of the engine's identity.
PER_READ = {"fps", "dup_threshold"}

_held: dict[tuple, Any] = {}
_placed: dict[str, str] = {}  # annotator -> device label, as this process resolved it
_loads: Counter[str] = Counter()
_servers: dict[str, Any] = {}
_lock = threading.RLock()


def _identity(annotator: str, cfg: AnnotatorsConfig, placement: devices.Placement) -> tuple:
    section = getattr(cfg, annotator).model_dump(mode="json", exclude=PER_READ | {"device"})
    return annotator, json.dumps(section, sort_keys=True), placement.label


def pin_threads(threads: int) -> None:
    """The BLAS and OpenMP thread pools of this process at the engines' configured count. faster-whisper's features
    go through numpy, and its transcript depends on OpenBLAS's thread count: under Dask's nanny, which starts
    workers with OMP_NUM_THREADS=1, one conversation gave 21 segments against 128 on two threads, so a LocalCluster
    wrote other evidence than a plain process. Set at run time (threadpoolctl), since numpy read the variable
    when the worker imported it; CTranslate2's OpenMP reads it when loaded."""
    from threadpoolctl import threadpool_limits

    os.environ["OMP_NUM_THREADS"] = str(threads)  # for the runtimes loaded from now on (CTranslate2's OpenMP)
    threadpool_limits(limits=threads)  # for those loaded already; kept for the process


# glibc's mallopt parameters, and what a worker's engines get instead of a nanny's tiny trim threshold.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
ENGINE_MMAP_THRESHOLD, ENGINE_TRIM_THRESHOLD = 32 << 20, 64 << 20
_malloc: dict[str, int] = {}
_malloc_tried = False


def relax_malloc_trim() -> dict[str, int]:
    """Undo, for this process, the allocator setting Dask's nanny starts workers with (MALLOC_TRIM_THRESHOLD_=65536).
    Setting it also freezes glibc's mmap threshold at 128 KiB, so every array an engine frees above that size is
    unmapped and its next one mapped and zeroed again: a RealTalk conversation took about 2 min on a LocalCluster
    worker, more system time than user time, and 91 s with this (bench/RESULTS.md). The thresholds set here
    are those glibc would have grown to by itself. Nothing changes where the variable is unset or not glibc."""
    global _malloc_tried
    if _malloc_tried or "MALLOC_TRIM_THRESHOLD_" not in os.environ:
        return dict(_malloc)
    _malloc_tried = True  # once a process: engine() asks on every shard
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        if libc.mallopt(M_MMAP_THRESHOLD, ENGINE_MMAP_THRESHOLD) and libc.mallopt(M_TRIM_THRESHOLD,
                                                                                  ENGINE_TRIM_THRESHOLD):
            _malloc.update(mmap_threshold=ENGINE_MMAP_THRESHOLD, trim_threshold=ENGINE_TRIM_THRESHOLD)
    except (OSError, AttributeError):  # not glibc (musl, macOS): its allocator has no such setting to undo
        pass
    return dict(_malloc)


def engine(annotator: str, cfg: AnnotatorsConfig):
    """This process's engine for `annotator` ("asr", "ocr", "emotion", "tts") under `cfg`, loaded on first use."""
    pin_threads(cfg.asr.cpu_threads)
    relax_malloc_trim()

    requested = getattr(getattr(cfg, annotator), "device", "cpu")
    placement = devices.resolve(requested, annotator)
    key = _identity(annotator, cfg, placement)
    with _lock:  # one load even when two threads of a process ask at once
        if key not in _held:
            built = BUILDERS[annotator](cfg, device=placement.kind, index=placement.index)
            built.load()
            pin_threads(cfg.asr.cpu_threads)  # and the pools the engine's runtime brought
            _held[key] = built
            _loads[f"{annotator}:{built.name}@{placement.label}"] += 1
            _placed[annotator] = placement.label
        return _held[key]


def local_llm_url(model_dir: Path, model: str, threads: int = 2) -> str:
    """The base URL of this process's local LLM server for `model` on `threads` CPU threads, started on first use."""
    from humansense.annotators.llm import LocalLlmServer

    key = f"{Path(model_dir).resolve()}:{model}:{threads}"
    relax_malloc_trim()
    with _lock:
        if key not in _servers:
            server = LocalLlmServer(Path(model_dir), model, threads=threads).__enter__()
            atexit.register(server.__exit__, None, None, None)
            _servers[key] = server
            _loads[f"llm:{model}@cpu"] += 1
        return _servers[key].base_url


def loads() -> dict[str, Any]:
    """What this process holds: its id, the engines it loaded (with how many times: once each) and their devices."""
    with _lock:
        return {"pid": os.getpid(), "loads": dict(sorted(_loads.items())), "devices": dict(sorted(_placed.items())),
                "threads": _thread_pools(), "malloc": dict(_malloc)}


def _thread_pools() -> dict[str, int]:
    from threadpoolctl import threadpool_info

    return {pool["internal_api"]: pool["num_threads"] for pool in threadpool_info()}


LOCAL_TIMEOUT_S = 600.0  # one answer of the packaged model on two cores: prompt evaluation dominates


def llm_description(cfg: AnnotatorsConfig) -> str:
    """Which LLM answers, for the build log and report: the endpoint's host and model (never its key or path), or
    the packaged model (or GGUF file name) served on 127.0.0.1."""
    from urllib.parse import urlsplit

    from humansense.annotators.local_models import CHOICES

    if cfg.llm.base_url:
        parts = urlsplit(cfg.llm.base_url)
        return f"{cfg.llm.model} at {parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}"
    if cfg.llm.model in CHOICES:
        return f"{cfg.llm.model} (packaged, served on 127.0.0.1)"
    return f"{Path(cfg.llm.model).name} (a GGUF file, served on 127.0.0.1)"


@contextmanager
def llm_client(cfg: AnnotatorsConfig, cache: AnnotationCache, held: bool = False) -> Iterator[LlmClient]:
    """The configured LLM endpoint (`annotators.llm.base_url`), or the packaged local model served on 127.0.0.1: for
    the duration, or (`held`, an annotation worker) started once and kept for the process's next shards. The one
    way the build, the audit and the CLI open an LLM; each call has its own client, so its token account is its own."""
    from humansense.annotators.llm import LOCAL_REQUEST, LlmClient, LocalLlmServer

    with ExitStack() as stack:
        if cfg.llm.base_url:
            yield LlmClient(cfg.llm, cache, base_url=cfg.llm.base_url)
            return
        if held:
            base_url = local_llm_url(cache.root / "models", cfg.llm.model, cfg.llm.local_threads)
        else:
            base_url = stack.enter_context(LocalLlmServer(cache.root / "models", cfg.llm.model,
                                                          threads=cfg.llm.local_threads)).base_url
        # The local server has one slot on the machine's cores: requests beyond it would only queue there, and time
        # out queued (a 1.5B model takes ~20 s on a 150 s transcript), so they wait here, one at a time.
        local = cfg.llm.model_copy(update={"max_concurrency": 1, "timeout_s": max(cfg.llm.timeout_s, LOCAL_TIMEOUT_S)})
        yield LlmClient(local, cache, base_url=base_url, extra_body=LOCAL_REQUEST)
