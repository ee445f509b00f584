"""The annotator engines built from the config, in one place: the build's annotate stage, the audit's text-only LLM
and `humansense annotate` all take their engines from here. Engines import heavy libraries (PaddlePaddle,
TensorFlow, CTranslate2), so each is imported only when asked for."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING

from humansense.config import AnnotatorsConfig

if TYPE_CHECKING:
    from humansense.annotators.asr import AsrEngine
    from humansense.annotators.base import AnnotationCache
    from humansense.annotators.emotion import FerEngine
    from humansense.annotators.llm import LlmClient
    from humansense.annotators.ocr import PaddleOcrEngine
    from humansense.annotators.tts import PiperEngine


def asr_engine(cfg: AnnotatorsConfig, name: str | None = None, device: str = "cpu", index: int = 0) -> AsrEngine:
    """The configured ASR engine (or the engine `name`, with the configured model and decoding settings), on
    `device` (a placement from `annotators.devices`; the registry resolves the configured one)."""
    from humansense.annotators.asr import make_engine

    engine = name or cfg.asr.engine
    options = dict(model=cfg.asr.model, language=cfg.asr.language, beam_size=cfg.asr.beam_size,
                   word_timestamps=cfg.asr.word_timestamps, device=device, device_index=index)
    if engine == "faster-whisper":
        options |= dict(compute_type=cfg.asr.compute_type, batched=cfg.asr.batched, batch_size=cfg.asr.batch_size,
                        threads=cfg.asr.cpu_threads)
    return make_engine(engine, **options)


def ocr_engine(cfg: AnnotatorsConfig, device: str = "cpu", index: int = 0) -> PaddleOcrEngine:
    from humansense.annotators.ocr import PaddleOcrEngine

    return PaddleOcrEngine(cfg.ocr.models, cfg.ocr.det_model_dir, cfg.ocr.rec_model_dir, device=device,
                           device_index=index)


def emotion_engine(cfg: AnnotatorsConfig, device: str = "cpu", index: int = 0) -> FerEngine:
    # fer has no settings of its own; its rate is per read
    from humansense.annotators.emotion import FerEngine

    return FerEngine(device, index)


def tts_engine(cfg: AnnotatorsConfig, device: str = "cpu", index: int = 0) -> PiperEngine:
    from humansense.annotators.tts import PiperEngine

    return PiperEngine(cfg.tts.voice, cfg.tts.length_scale)


BUILDERS = {"asr": asr_engine, "ocr": ocr_engine, "emotion": emotion_engine, "tts": tts_engine}


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
            from humansense.annotators.registry import local_llm_url

            base_url = local_llm_url(cache.root / "models", cfg.llm.model, cfg.llm.local_threads)
        else:
            base_url = stack.enter_context(LocalLlmServer(cache.root / "models", cfg.llm.model,
                                                          threads=cfg.llm.local_threads)).base_url
        # The local server has one slot on the machine's cores: requests beyond it would only queue there, and time
        # out queued (a 1.5B model takes ~20 s on a 150 s transcript), so they wait here, one at a time.
        local = cfg.llm.model_copy(update={"max_concurrency": 1, "timeout_s": max(cfg.llm.timeout_s, LOCAL_TIMEOUT_S)})
        yield LlmClient(local, cache, base_url=base_url, extra_body=LOCAL_REQUEST)
