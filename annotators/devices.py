"""Where an annotator engine runs, from the config (`[annotators.asr|ocr|emotion] device`).

`auto` takes the first GPU that the engine's own runtime sees (CTranslate2 for ASR, PaddlePaddle for OCR,
TensorFlow for facial emotion), else the CPU; `cuda` / `cuda:N` ask for a GPU and fail loudly where there is none.
The worker that loads an engine resolves its device, so a cluster whose GPU workers and CPU workers share one
config puts each engine where that worker can run it; the build report names the device each shard used. Speech
synthesis (Piper on onnxruntime) stays on the CPU, where it is faster.

A device never keys a cached result on its own: the same model gives the same answer on CPU and GPU. What can
change the output (CTranslate2's compute type, batched decoding) is an engine parameter and keys it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


class DeviceError(RuntimeError):
    """A GPU asked for by the config that this worker's runtime cannot see."""


def _ctranslate2_gpus() -> int:
    import ctranslate2

    return ctranslate2.get_cuda_device_count()


def _paddle_gpus() -> int:
    import paddle

    return paddle.device.cuda.device_count() if paddle.device.is_compiled_with_cuda() else 0


def before_tensorflow() -> None:
    """PaddlePaddle imported after TensorFlow segfaults the process (paddlepaddle 3.3.1 with tensorflow-cpu 2.21;
    the other order works, checked 2026-12-02). A worker gets shards in any order, so wherever TensorFlow is about
    to be imported, PaddlePaddle, where installed, comes first."""
    import importlib.util
    import sys

    if "tensorflow" not in sys.modules and "paddle" not in sys.modules and importlib.util.find_spec("paddle"):
        import paddle  # noqa: F401


def _tensorflow_gpus() -> int:
    before_tensorflow()
    import tensorflow as tf

    return len(tf.config.list_physical_devices("GPU"))


# How many GPUs each runtime sees (a CPU-only build of the runtime sees none).
GPU_COUNTERS: dict[str, Callable[[], int]] = {"ctranslate2": _ctranslate2_gpus, "paddle": _paddle_gpus,
                                              "tensorflow": _tensorflow_gpus}
RUNTIME_OF = {"asr": "ctranslate2", "ocr": "paddle", "emotion": "tensorflow"}  # TTS and the LLM server: CPU


@dataclass(frozen=True)
class Placement:
    kind: str  # "cpu" or "cuda"
    index: int = 0
    reason: str = ""

    @property
    def label(self) -> str:
        return "cpu" if self.kind == "cpu" else f"cuda:{self.index}"


def gpus_seen(runtime: str) -> int:
    """GPUs `runtime` sees here; 0 where the runtime is missing or built without CUDA."""
    try:
        return int(GPU_COUNTERS[runtime]())
    except Exception:  # noqa: BLE001 - an import error or a CPU-only build: no GPU for this runtime
        return 0


def resolve(requested: str, annotator: str) -> Placement:
    """The device an annotator's engine takes on this machine for the configured `requested` device."""
    runtime = RUNTIME_OF.get(annotator)
    if runtime is None or requested == "cpu":
        return Placement("cpu", reason="configured" if requested == "cpu" else f"{annotator} runs on the CPU")
    seen = gpus_seen(runtime)
    if requested == "auto":
        if seen:
            return Placement("cuda", 0, reason=f"auto: {runtime} sees {seen} GPU(s)")
        return Placement("cpu", reason=f"auto: {runtime} sees no GPU")
    index = int(requested.partition(":")[2] or 0)
    if index >= seen:
        raise DeviceError(f"annotators.{annotator}.device = {requested!r}, but {runtime} sees {seen} GPU(s) on this "
                          f"worker (use 'auto' or 'cpu', or install the runtime's CUDA build)")
    return Placement("cuda", index, reason="configured")


def wants_gpu(requested: str) -> bool:
    """Whether a config asks for a GPU outright (so the shard must go to a worker that has one)."""
    return requested.startswith("cuda")
