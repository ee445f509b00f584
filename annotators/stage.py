"""Annotation steps of the build: run an annotator over a source's media and leave its results as evidence files."""

from __future__ import annotations

from pathlib import Path

from humansense.annotators.base import AnnotationCache
from humansense.annotators.ocr import PaddleOcrEngine, read_captions
from humansense.config import OcrConfig
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
