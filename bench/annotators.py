"""Benchmark the default annotator engines on synthesised media, each cold and then from the cache, side by side.

    .venv/bin/python bench/annotators.py

* ASR (faster-whisper, bundled tiny.en): real-time factor on espeak-ng and Piper speech, and word error rate.
* TTS (Piper, bundled voice): seconds of speech made per second.
* OCR (PaddleOCR, PP-OCRv5 mobile) and facial emotion (fer): frames per second on rendered captions and a face.
* LLM (local llama.cpp server, Gemma 3 270M): structured calls per second at concurrency 1 and 2.
Each second pass over the same inputs is served by the annotation cache; the ratio warm/cold is printed.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path
from typing import Literal

import jiwer
from pydantic import BaseModel, Field

from humansense.annotators.asr import make_engine, transcribe
from humansense.annotators.base import AnnotationCache
from humansense.annotators.llm import LlmClient, LocalLlmServer
from humansense.annotators.tts import PiperEngine, speak_dialogue
from humansense.config import LlmConfig

SENTENCES = ["The quick brown fox jumps over the lazy dog.",
             "We have been married for six years and we still laugh every day.",
             "Please call me back when you have time to talk about the weekend.",
             "My brother and I grew up in a small town near the sea.",
             "I am calling from the police department about a suspicious transfer.",
             "She said the meeting was moved to Thursday afternoon."]
norm = jiwer.Compose([jiwer.ToLowerCase(), jiwer.RemovePunctuation(), jiwer.RemoveMultipleSpaces(), jiwer.Strip()])


class Score(BaseModel):
    interaction_frequency: int = Field(ge=1, le=5)
    atmosphere: Literal["pleasant", "neutral", "tense"]
    conflict: bool


def duration(path: Path) -> float:
    return float(subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                                 str(path)], capture_output=True, text=True, check=True).stdout)


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="hs-bench-"))
    espeak = []
    for k, s in enumerate(SENTENCES):
        espeak.append(work / f"e{k}.wav")
        subprocess.run(["espeak-ng", "-s", "150", "-w", str(espeak[-1]), s], check=True)
    tts_cache = AnnotationCache(work / "tts")
    piper = PiperEngine()
    piper.speak("warm up")
    made, tts_cold = timed(lambda: [speak_dialogue([(k % 2, s)], piper, tts_cache) for k, s in enumerate(SENTENCES)])
    _, tts_warm = timed(lambda: [speak_dialogue([(k % 2, s)], piper, tts_cache) for k, s in enumerate(SENTENCES)])
    speech_s = sum(r.duration_s for r in made)
    print(f"TTS  piper: {speech_s:.1f} s of speech in {tts_cold:.2f} s = {speech_s / tts_cold:.1f}x real time; "
          f"cached {tts_warm:.3f} s (warm/cold {tts_warm / tts_cold:.3f})")
    engine = make_engine()
    transcribe(espeak[0], engine, AnnotationCache(None))  # load the model outside the timing
    for label, files in (("espeak-ng", espeak), ("piper", [Path(r.path) for r in made])):
        cache = AnnotationCache(work / f"asr-{label}")
        audio_s = sum(duration(f) for f in files)
        results, cold = timed(lambda: [transcribe(f, engine, cache) for f in files])
        _, warm = timed(lambda: [transcribe(f, engine, cache) for f in files])
        wer = jiwer.wer([norm(s) for s in SENTENCES], [norm(r.text) for r in results])
        print(f"ASR  faster-whisper tiny.en on {label}: RTF {cold / audio_s:.3f} ({audio_s:.1f} s audio in "
              f"{cold:.2f} s), WER {wer:.3f}; cached {warm:.3f} s (warm/cold {warm / cold:.3f})")
    from PIL import Image, ImageDraw, ImageFont
    import matplotlib
    import numpy as np
    from skimage import data

    from humansense.annotators.emotion import FerEngine, read_emotion
    from humansense.annotators.ocr import PaddleOcrEngine, read_captions

    font = ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts/ttf/DejaVuSans.ttf"), 36)
    for k, text in enumerate(["Married 6 years", "Best friends since school", "Sam & Alex"] * 4):
        img = Image.new("RGB", (640, 360), (30, 40, 60))
        ImageDraw.Draw(img).text((60, 280), text, font=font, fill=(255, 255, 255))
        img.save(work / f"cap{k:03d}.png")
    captions = work / "captions.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-framerate", "1", "-i", str(work / "cap%03d.png"), "-c:v",
                    "libx264", "-pix_fmt", "yuv420p", "-r", "4", str(captions)], check=True)
    ocr, cache = PaddleOcrEngine(), AnnotationCache(work / "ocr")
    read_captions(captions, ocr, AnnotationCache(None), end=1)  # load the models outside the timing
    result, cold = timed(lambda: read_captions(captions, ocr, cache, fps=1.0))
    _, warm = timed(lambda: read_captions(captions, ocr, cache, fps=1.0))
    read = result.frames_sampled - result.duplicates_skipped
    print(f"OCR  paddleocr: {read} frames read in {cold:.2f} s = {read / cold:.1f} frames/s "
          f"({result.frames_sampled} sampled, {result.duplicates_skipped} duplicates skipped); "
          f"cached {warm:.3f} s (warm/cold {warm / cold:.3f})")
    canvas = np.full((512, 1024, 3), 40, np.uint8)
    canvas[:, :512] = data.astronaut()
    Image.fromarray(canvas).save(work / "face.png")
    face = work / "face.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-loop", "1", "-i", str(work / "face.png"), "-t", "10", "-r", "4",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", str(face)], check=True)
    fer, cache = FerEngine(), AnnotationCache(work / "emotion")
    read_emotion(face, fer, AnnotationCache(None), end=0.5)
    result, cold = timed(lambda: read_emotion(face, fer, cache, region="left", fps=2.0))
    _, warm = timed(lambda: read_emotion(face, fer, cache, region="left", fps=2.0))
    print(f"EMO  fer: {result.frames_sampled / cold:.1f} frames/s ({result.frames_sampled} frames, dominant "
          f"{result.dominant}); cached {warm:.3f} s (warm/cold {warm / cold:.3f})")
    prompts = [f"Transcript {k}: '{s}' Rate the rapport." for k, s in enumerate(SENTENCES)]
    with LocalLlmServer(work / "models") as server:
        for concurrency in (1, 2):
            cache = AnnotationCache(work / f"llm-{concurrency}")
            client = LlmClient(LlmConfig(base_url=server.base_url, max_tokens=48, max_concurrency=concurrency),
                               cache)
            results, cold = timed(lambda: client.map_structured(prompts, Score))
            _, warm = timed(lambda: client.map_structured(prompts, Score))
            ok = sum(r.status == "ok" for r in results)
            print(f"LLM  local gemma-3-270m, concurrency {concurrency}: {len(prompts) / cold:.2f} calls/s "
                  f"({ok}/{len(prompts)} schema-valid, {client.account['completion_tokens']} output tokens); "
                  f"cached {warm:.3f} s (warm/cold {warm / cold:.4f})")


if __name__ == "__main__":
    main()
