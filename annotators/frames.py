"""Frames sampled from a video span by ffmpeg (with a timeout), shared by the OCR and facial-emotion annotators."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from humansense.media import MediaError, probe


def sample_frames(path: Path, fps: float, start: float | None = None, end: float | None = None,
                  max_height: int = 720, timeout_s: float = 300.0) -> tuple[list[np.ndarray], float]:
    """RGB frames at `fps` from a span; returns (frames, the rate actually used)."""
    info = probe(Path(path), timeout_s)
    if not info.has_video or not info.width:
        raise MediaError("no video stream", f"{path} has no video stream")
    height = min(info.height, max_height) // 2 * 2
    width = int(info.width * height / info.height) // 2 * 2
    args = ["ffmpeg", "-nostdin", "-loglevel", "error"] + (["-ss", f"{start:.3f}"] if start else [])
    args += ["-i", str(path)] + (["-t", f"{end - (start or 0):.3f}"] if end is not None else [])
    args += ["-vf", f"fps={fps},scale={width}:{height}", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:"]
    try:
        run = subprocess.run(args, capture_output=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise MediaError("ffmpeg timed out", f"sampling frames of {path}: no result after {timeout_s:g} s") from None
    if run.returncode != 0:
        raise MediaError("unreadable media", f"{path}: {run.stderr.decode(errors='replace').strip()[-300:]}")
    size = width * height * 3
    frames = [np.frombuffer(run.stdout[k:k + size], np.uint8).reshape(height, width, 3)
              for k in range(0, len(run.stdout) - size + 1, size)]
    return frames, fps


def thumbnail(frame: np.ndarray) -> np.ndarray:
    grey = frame.mean(axis=2)
    h, w = grey.shape
    ys, xs = np.linspace(0, h - 1, 32).astype(int), np.linspace(0, w - 1, 32).astype(int)
    return grey[np.ix_(ys, xs)]
