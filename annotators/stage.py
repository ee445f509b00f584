"""Annotation steps of the build: run an annotator over a source's media and leave its results as evidence files."""

from __future__ import annotations

from pathlib import Path

from contextlib import ExitStack

from humansense.annotators.base import AnnotationCache
from humansense.annotators.ocr import PaddleOcrEngine, read_captions
from humansense.config import AnnotatorsConfig, OcrConfig
from humansense.io import write_text_atomic


def caption_evidence(videos: list[tuple[str, Path]], out_dir: Path, ocr: OcrConfig, cache_dir: Path,
                     window_s: float) -> dict[str, int]:
    """OCR the first `window_s` seconds of each video into `out_dir/<id>.ocr.json` (a result or its NoAnnotation)."""
    engine = PaddleOcrEngine(ocr.models, ocr.det_model_dir, ocr.rec_model_dir)
    cache = AnnotationCache(cache_dir)
    counts = {"videos": 0, "with_text": 0, "no_annotation": 0}
    for video_id, media in videos:
        result = read_captions(media, engine, cache, fps=ocr.fps, start=None, end=window_s,
                               dup_threshold=ocr.dup_threshold)
        write_text_atomic(out_dir / f"{video_id}.ocr.json", result.model_dump_json())
        counts["videos"] += 1
        if result.status == "none":
            counts["no_annotation"] += 1
        elif result.frames:
            counts["with_text"] += 1
    counts.update(cache.stats())
    return counts


def transcript_and_rapport(videos: list[tuple[str, Path]], out_dir: Path, cfg: AnnotatorsConfig, cache_dir: Path,
                           window_s: float, min_words: int) -> dict:
    """ASR over the first `window_s` seconds (`<id>.asr.json`), then the LLM's rapport score of each transcript long
    enough to judge (`<id>.rapport.json`). Returns counts and the LLM's token and cost account."""
    from humansense.annotators.asr import make_engine, transcribe
    from humansense.annotators.llm import LlmClient, LocalLlmServer
    from humansense.annotators.rapport import score_rapport

    cache = AnnotationCache(cache_dir)
    asr = make_engine(cfg.asr.engine, model=cfg.asr.model, language=cfg.asr.language, beam_size=cfg.asr.beam_size,
                      word_timestamps=cfg.asr.word_timestamps)
    transcripts = {}
    for video_id, media in videos:
        result = transcribe(media, asr, cache, start=None, end=window_s)
        write_text_atomic(out_dir / f"{video_id}.asr.json", result.model_dump_json())
        if result.status == "ok" and len(result.text.split()) >= min_words:
            transcripts[video_id] = result.text
    counts = {"videos": len(videos), "transcribed": len(transcripts), "llm_account": {}}
    if not transcripts:
        return counts
    with ExitStack() as stack:
        base_url = cfg.llm.base_url or stack.enter_context(LocalLlmServer(cache.root / "models")).base_url
        client = LlmClient(cfg.llm, cache, base_url=base_url)
        for video_id, text in transcripts.items():
            write_text_atomic(out_dir / f"{video_id}.rapport.json", score_rapport(client, text).model_dump_json())
        counts["llm_account"] = client.account
    return counts


def gather_evidence(kinds: tuple[str, ...], videos: list[tuple[str, Path]], out_dir: Path, cfg: AnnotatorsConfig,
                    cache_dir: Path, source_config) -> dict:
    """Run the annotators a source asks for over its videos; each writes `<id>.<kind>.json` into `out_dir`."""
    out: dict = {}
    if "captions" in kinds:
        out["captions"] = caption_evidence(videos, out_dir, cfg.ocr, cache_dir, source_config.caption_window_s)
    if "transcripts" in kinds:
        out["transcripts"] = transcript_and_rapport(videos, out_dir, cfg, cache_dir, source_config.clip_s,
                                                    source_config.rr_min_words)
    return out
