"""The annotation steps a source can declare, and how each runs over a shard of its records.

A source names its steps with their parameters (`SourceAdapter.annotation_steps()`: which span of each video, which
thresholds, which hand-kept files); the annotate stage runs them and knows no source by name. Each step reads its
records' media or texts, asks the engines this process holds (`annotators.registry`) and leaves one evidence file
per record and kind (`humansense.evidence`):

* `captions` (OCR over the first seconds of each video) -> `<id>.ocr.json`
* `transcripts` (ASR over a window, then the LLM's rapport score of a transcript long enough) -> `.asr`, `.rapport`
* `conversation` (ASR segments, then faces over the segments the source asks for) -> `.asr`, `.faces`
* `speech` (texts translated and spoken by two voices) -> `.speech`

A record's evidence depends on that record alone, so a step gives the same files whichever shard, worker or
runner runs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, ClassVar, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

from humansense.annotators import registry
from humansense.annotators.base import AnnotationCache
from humansense.annotators.registry import llm_client
from humansense.annotators.ocr import read_captions
from humansense.config import AnnotatorsConfig
from humansense.evidence import EvidenceFolder
from humansense.faults import checkpoint
from humansense.terminal import Ticker


class _Step(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    annotators: ClassVar[tuple[str, ...]]  # the engines the step holds (their devices decide where it may run)
    units: ClassVar[Literal["videos", "texts"]] = "videos"


class CaptionsStep(_Step):
    """On-screen captions read by OCR over the first `window_s` seconds."""

    name: Literal["captions"] = "captions"
    window_s: float
    annotators: ClassVar = ("ocr",)


class TranscriptsStep(_Step):
    """ASR over the first `window_s` seconds, then the rapport score of transcripts of `min_words` words or more: the
    hand-kept review in `reviews` (a JSONL file) where there is one, else the LLM's."""

    name: Literal["transcripts"] = "transcripts"
    window_s: float | None
    min_words: int
    reviews: Path | None = None
    annotators: ClassVar = ("asr", "llm")


class ConversationStep(_Step):
    """Timed ASR segments over the first `window_s` seconds (all of it: None), then faces over the segments the
    source's `read_faces(video_id, asr, read)` asks for."""

    name: Literal["conversation"] = "conversation"
    window_s: float | None
    annotators: ClassVar = ("asr", "emotion")


class SpeechStep(_Step):
    """The source's speech jobs translated (`memory` first) and spoken."""

    name: Literal["speech"] = "speech"
    memory: Path | None = None
    annotators: ClassVar = ("tts", "llm")
    units: ClassVar = "texts"


AnnotationStep = Annotated[Union[CaptionsStep, TranscriptsStep, ConversationStep, SpeechStep],
                           Field(discriminator="name")]


def caption_evidence(videos: list[tuple[str, Path]], out_dir: Path, cfg: AnnotatorsConfig, cache_dir: Path,
                     window_s: float) -> dict[str, int]:
    """OCR the first `window_s` seconds of each video into `out_dir/<id>.ocr.json` (a result or its NoAnnotation)."""
    engine, ocr = registry.engine("ocr", cfg), cfg.ocr
    cache, evidence = AnnotationCache(cache_dir), EvidenceFolder(out_dir)
    counts = {"videos": 0, "with_text": 0, "no_annotation": 0}
    ticker = Ticker(f"{out_dir.name} captions", len(videos))
    for video_id, media in videos:
        result = read_captions(media, engine, cache, fps=ocr.fps, start=None, end=window_s,
                               dup_threshold=ocr.dup_threshold)
        evidence.write(video_id, "ocr", result)
        ticker.tick()
        checkpoint("annotate")
        counts["videos"] += 1
        if result.status == "none":
            counts["no_annotation"] += 1
        elif result.frames:
            counts["with_text"] += 1
    counts.update(cache.stats())
    return counts


def transcript_and_rapport(videos: list[tuple[str, Path]], out_dir: Path, cfg: AnnotatorsConfig, cache_dir: Path,
                           window_s: float, min_words: int, reviews_file: Path | None = None,
                           held: bool = False) -> dict:
    """ASR over the first `window_s` seconds (`<id>.asr.json`), then the rapport score of each transcript long enough
    to judge (`<id>.rapport.json`): a reviewed score from `reviews_file` when there is one, else the LLM's. Returns
    counts and the LLM's token and cost account."""
    from humansense.annotators.asr import transcribe
    from humansense.annotators.rapport import load_reviews, score_rapports

    cache, evidence = AnnotationCache(cache_dir), EvidenceFolder(out_dir)
    asr = registry.engine("asr", cfg)
    transcripts = {}
    ticker = Ticker(f"{out_dir.name} transcripts", len(videos))
    for video_id, media in videos:
        result = transcribe(media, asr, cache, start=None, end=window_s)
        evidence.write(video_id, "asr", result)
        ticker.tick()
        checkpoint("annotate")
        if result.status == "ok" and len(result.text.split()) >= min_words:
            transcripts[video_id] = result.text
    reviews = load_reviews(reviews_file)
    for video_id in [v for v in transcripts if v in reviews]:
        evidence.write(video_id, "rapport", reviews[video_id])
        del transcripts[video_id]
    counts = {"videos": len(videos), "transcribed": len(transcripts), "reviewed": len(reviews), "llm_account": {}}
    if not transcripts:
        return counts
    with llm_client(cfg, cache, held=held) as client:
        for video_id, score in score_rapports(client, transcripts).items():
            evidence.write(video_id, "rapport", score)
        counts["llm_account"] = client.account
    return counts


def conversation_evidence(videos: list[tuple[str, Path]], out_dir: Path, cfg: AnnotatorsConfig, cache_dir: Path,
                          window_s: float | None, read_faces) -> dict:
    """For two-person conversations (TR, ES): ASR segments with times (`<id>.asr.json`), then the faces over the
    segments the source asks for, summarised for the left and the right person (`<id>.faces.json`, an entry per
    segment read, with its index). `read_faces(video_id, asr, read)` is the source's: it calls `read(index)` for
    the segments it needs, in the order it needs them, and stops when it has enough (RealTalk's ES: a few replies of
    a conversation's ~170 segments)."""
    from humansense.annotators.asr import transcribe
    from humansense.annotators.emotion import read_emotion, summarise

    cache, evidence = AnnotationCache(cache_dir), EvidenceFolder(out_dir)
    asr, fer = registry.engine("asr", cfg), registry.engine("emotion", cfg)
    counts = {"videos": len(videos), "transcribed": 0, "segments": 0, "segments_read": 0, "segments_with_faces": 0}
    ticker = Ticker(f"{out_dir.name} conversations", len(videos))
    for video_id, media in videos:
        result = transcribe(media, asr, cache, start=None, end=window_s)
        evidence.write(video_id, "asr", result)
        if result.status != "ok":
            ticker.tick()
            continue
        counts["transcribed"] += 1
        counts["segments"] += len(result.segments)

        def read(index: int) -> dict:
            seg = result.segments[index]
            faces = read_emotion(media, fer, cache, region="any", fps=cfg.emotion.fps, start=seg.start, end=seg.end)
            entry = {"index": index, "start": seg.start, "end": seg.end,
                     "reason": None if faces.status == "ok" else faces.reason}
            for side in ("left", "right"):
                summary = summarise(faces.frames, side, faces.frame_width) if faces.status == "ok" else None
                entry[side] = summary.model_dump() if summary else None
            counts["segments_read"] += 1
            counts["segments_with_faces"] += faces.status == "ok"
            return entry

        entries = read_faces(video_id, evidence.read(video_id, "asr"), read)  # the transcript as the parse reads it
        evidence.write(video_id, "faces", {"engine": fer.label, "fps": cfg.emotion.fps,
                                           "segments": [entries[k] for k in sorted(entries)]})
        ticker.tick()
        checkpoint("annotate")
    counts.update(cache.stats())
    return counts


def run_step(step: AnnotationStep, adapter, units: list, out_dir: Path, cfg: AnnotatorsConfig, cache_dir: Path,
             held: bool = True) -> dict:
    """Run one declared step over `units` (the step's records: (id, video) pairs, or speech jobs); the counts."""
    if isinstance(step, CaptionsStep):
        return caption_evidence(units, out_dir, cfg, cache_dir, step.window_s)
    if isinstance(step, TranscriptsStep):
        return transcript_and_rapport(units, out_dir, cfg, cache_dir, step.window_s, step.min_words, step.reviews,
                                      held=held)
    if isinstance(step, ConversationStep):
        return conversation_evidence(units, out_dir, cfg, cache_dir, step.window_s, adapter.read_faces)
    from humansense.annotators.speech import speech_evidence

    return speech_evidence(units, out_dir, cfg, cache_dir, step.memory, held=held)
