"""Frames sampled from a video span by ffmpeg (with a timeout), shared by the OCR and facial-emotion annotators."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from humansense.annotators.base import AnnotationCache, NoAnnotation
from humansense.media import SAFE_INPUT_ARGS, MediaError, probe_source, run_ffmpeg_bytes


def sample_frames(path: Path, fps: float, start: float | None = None, end: float | None = None,
                  max_height: int = 720, timeout_s: float = 300.0) -> tuple[list[np.ndarray], float]:
    """RGB frames at `fps` from a span; returns (frames, the rate actually used)."""
    info = probe_source(Path(path), timeout_s)  # once per file: an annotator samples many spans of one video
    if not info.has_video or not info.width:
        raise MediaError("no video stream", f"{path} has no video stream")
    height = min(info.height, max_height) // 2 * 2
    width = int(info.width * height / info.height) // 2 * 2
    args = ["ffmpeg", "-nostdin", "-loglevel", "error"] + (["-ss", f"{start:.3f}"] if start else [])
    args += [*SAFE_INPUT_ARGS, "-i", str(path)] + (["-t", f"{end - (start or 0):.3f}"] if end is not None else [])
    args += ["-vf", f"fps={fps},scale={width}:{height}", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:"]
    raw = run_ffmpeg_bytes(args, timeout_s, f"sampling frames of {path}")
    size = width * height * 3
    frames = [np.frombuffer(raw[k:k + size], np.uint8).reshape(height, width, 3)
              for k in range(0, len(raw) - size + 1, size)]
    return frames, fps


def thumbnail(frame: np.ndarray) -> np.ndarray:
    grey = frame.mean(axis=2)
    h, w = grey.shape
    ys, xs = np.linspace(0, h - 1, 32).astype(int), np.linspace(0, w - 1, 32).astype(int)
    return grey[np.ix_(ys, xs)]


def frames_decoded(fps: float, start: float | None, end: float | None) -> dict:
    """What `sample_frames` decodes for a span, as `AnnotationCache.cached_by_media` remembers it."""
    return {"frames": fps, "start": start, "end": end, "max_height": 720}


def sampled_span(kind: str, engine: str, path: Path, fps: float, start: float | None, end: float | None,
                 timeout_s: float, cache: AnnotationCache | None = None
                 ) -> tuple[list[np.ndarray], float, str] | NoAnnotation:
    """Frames of a span, the rate, and the sha256 of their pixels (the cache's content key, remembered in `cache`
    for the file); or why there are none."""
    try:
        frames, rate = sample_frames(Path(path), fps, start, end, timeout_s=timeout_s)
    except MediaError as e:
        return NoAnnotation(kind=kind, engine=engine, reason=e.reason, detail=e.detail)
    if not frames:
        return NoAnnotation(kind=kind, engine=engine, reason="no frames", detail=f"{path}: empty span")
    content = hashlib.sha256(b"".join(f.tobytes() for f in frames)).hexdigest()
    if cache is not None:
        cache.remember_decoded(Path(path), frames_decoded(fps, start, end), content)
    return frames, rate, content


def cached_or_sampled(kind: str, engine, path: Path, fps: float, start: float | None, end: float | None,
                      timeout_s: float, cache: AnnotationCache, params: dict[str, Any],
                      result_of: Callable[[dict], BaseModel]) -> BaseModel | tuple[list[np.ndarray], float, str]:
    """A span's cached result (found by the file without decoding, else by the decoded frames, and read by
    `result_of`), or why there are no frames, or the frames to annotate with their rate and cache key."""
    key_of = lambda content: cache.key(kind, engine.name, engine.model_version(), params, content)  # noqa: E731
    hit = cache.cached_by_media(kind, Path(path), frames_decoded(fps, start, end), key_of)
    if hit is not None:
        return result_of(hit)
    sampled = sampled_span(kind, engine.name, path, fps, start, end, timeout_s, cache)
    if isinstance(sampled, NoAnnotation):
        return sampled
    frames, rate, content = sampled
    key = key_of(content)
    hit = cache.get(kind, key)
    return result_of(hit) if hit is not None else (frames, rate, key)
