"""The annotator engines built from the config, in one place: the build's annotate stage, the audit's text-only LLM
and `humansense annotate` all take their engines from here. Engines import heavy libraries (PaddlePaddle,
TensorFlow, CTranslate2), so each is imported only when asked for."""

from __future__ import annotations

from collections.abc import Iterator
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


def asr_engine(cfg: AnnotatorsConfig, name: str | None = None) -> AsrEngine:
    """The configured ASR engine (or the engine `name`, with the configured model and decoding settings)."""
    from humansense.annotators.asr import make_engine

    return make_engine(name or cfg.asr.engine, model=cfg.asr.model, language=cfg.asr.language,
                       beam_size=cfg.asr.beam_size, word_timestamps=cfg.asr.word_timestamps)


def ocr_engine(cfg: AnnotatorsConfig) -> PaddleOcrEngine:
    from humansense.annotators.ocr import PaddleOcrEngine

    return PaddleOcrEngine(cfg.ocr.models, cfg.ocr.det_model_dir, cfg.ocr.rec_model_dir)


def emotion_engine(cfg: AnnotatorsConfig) -> FerEngine:  # fer has no settings of its own; its rate is per read
    from humansense.annotators.emotion import FerEngine

    return FerEngine()


def tts_engine(cfg: AnnotatorsConfig) -> PiperEngine:
    from humansense.annotators.tts import PiperEngine

    return PiperEngine(cfg.tts.voice, cfg.tts.length_scale)


@contextmanager
def llm_client(cfg: AnnotatorsConfig, cache: AnnotationCache) -> Iterator[LlmClient]:
    """The configured LLM endpoint (`annotators.llm.base_url`), or the packaged local model served on 127.0.0.1 for
    the duration: the one way the build, the audit and the CLI open an LLM."""
    from humansense.annotators.llm import LlmClient, LocalLlmServer

    with ExitStack() as stack:
        base_url = cfg.llm.base_url or stack.enter_context(LocalLlmServer(cache.root / "models")).base_url
        yield LlmClient(cfg.llm, cache, base_url=base_url)
