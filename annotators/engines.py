"""How each annotator engine is built from the config (`BUILDERS`): the registry (annotators/registry.py) holds
what they build, once a process, and `humansense annotate` builds from here too. Engines import heavy libraries
(PaddlePaddle, TensorFlow, CTranslate2), so each is imported only when asked for."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from humansense.sections import AnnotatorsConfig

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
