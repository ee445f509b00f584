"""The annotation steps a source can declare: each a class that names its annotators (the engines it holds, whose
devices decide where it may run: `resources`), the kinds of evidence it leaves, and `run()` over a shard's records.

A source lists its step classes (`SourceAdapter.steps`) and makes them with their parameters
(`annotation_steps()`: which span of each video, which thresholds, which hand-kept files); the annotate stage runs
them and knows no source by name. Each step reads its records' media or texts, asks the engines this process holds
(`annotators.registry`) and leaves one evidence file per record and kind (`humansense.evidence`):

* `captions` (OCR over the first seconds of each video) -> `<id>.ocr.json`
* `transcripts` (ASR over a window, then the LLM's rapport score of a transcript long enough) -> `.asr`, `.rapport`
* `conversation` (ASR segments, then faces over the segments the source asks for) -> `.asr`, `.faces`
* `speech` (texts translated and spoken by two voices) -> `.speech`

A record's evidence depends on that record alone, so a step gives the same files whichever shard, worker or
runner runs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, ClassVar, Literal, NamedTuple, Union

from pydantic import BaseModel, ConfigDict, Field

from humansense.annotators import devices, registry
from humansense.annotators.asr import transcribe
from humansense.annotators.base import AnnotationCache
from humansense.annotators.emotion import read_emotion, summarise
from humansense.annotators.rapport import load_reviews, score_rapports
from humansense.annotators.speech import speech_evidence
from humansense.annotators.registry import llm_client
from humansense.annotators.ocr import read_captions
from humansense.sections import AnnotatorsConfig
from humansense.evidence import EvidenceFolder
from humansense.faults import checkpoint
from humansense.terminal import Ticker

if TYPE_CHECKING:
    from humansense.annotators.protocol import AnnotatedSource


class StepResources(NamedTuple):
    """Where a step may run, from its engines' configured devices: `gpu` "must" (an engine put on a GPU outright:
    only a worker with one), "may" (an engine on 'auto' or a GPU: a GPU worker suits it best) or "no"."""

    cpus: int
    gpu: Literal["no", "may", "must"]


class Step(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    annotators: ClassVar[tuple[str, ...]]  # the engines the step holds (their devices decide where it may run)
    kinds: ClassVar[tuple[str, ...]]  # the evidence it leaves per record (`humansense.evidence.Kind`)
    units: ClassVar[Literal["videos", "texts"]] = "videos"

    @classmethod
    def step_name(cls) -> str:
        return cls.model_fields["name"].default

    def resources(self, cfg: AnnotatorsConfig) -> StepResources:
        placed = [getattr(getattr(cfg, a, None), "device", "cpu") for a in self.annotators]
        threads = max([getattr(getattr(cfg, a, None), "cpu_threads", 1) for a in self.annotators] +
                      [cfg.llm.local_threads if "llm" in self.annotators else 1])
        gpu = "must" if any(devices.wants_gpu(d) for d in placed) else "may" if any(d != "cpu" for d in placed) else "no"
        return StepResources(cpus=threads, gpu=gpu)

    def run(self, source: AnnotatedSource, units: list, out_dir: Path, cfg: AnnotatorsConfig, cache_dir: Path,
            held: bool = True) -> dict:
        """Run over `units` (the step's records: (id, video) pairs, or speech jobs); the counts."""
        raise NotImplementedError


class CaptionsStep(Step):
    """On-screen captions read by OCR over the first `window_s` seconds."""

    name: Literal["captions"] = "captions"
    window_s: float
    annotators: ClassVar = ("ocr",)
    kinds: ClassVar = ("ocr",)

    def run(self, source, units, out_dir, cfg, cache_dir, held=True) -> dict:
        return caption_evidence(units, out_dir, cfg, cache_dir, self.window_s)


class TranscriptsStep(Step):
    """ASR over the first `window_s` seconds, then the rapport score of transcripts of `min_words` words or more: the
    hand-kept review in `reviews` (a JSONL file) where there is one, else the LLM's."""

    name: Literal["transcripts"] = "transcripts"
    window_s: float | None
    min_words: int
    reviews: Path | None = None
    annotators: ClassVar = ("asr", "llm")
    kinds: ClassVar = ("asr", "rapport")

    def run(self, source, units, out_dir, cfg, cache_dir, held=True) -> dict:
        return transcript_and_rapport(units, out_dir, cfg, cache_dir, self.window_s, self.min_words, self.reviews,
                                      held=held)


class ConversationStep(Step):
    """Timed ASR segments over the first `window_s` seconds (all of it: None), then faces over the segments the
    source's `read_faces(video_id, asr, read)` asks for."""

    name: Literal["conversation"] = "conversation"
    window_s: float | None
    annotators: ClassVar = ("asr", "emotion")
    kinds: ClassVar = ("asr", "faces")

    def run(self, source, units, out_dir, cfg, cache_dir, held=True) -> dict:
        return conversation_evidence(units, out_dir, cfg, cache_dir, self.window_s, source.read_faces)


class SpeechStep(Step):
    """The source's speech jobs translated (`memory` first) and spoken."""

    name: Literal["speech"] = "speech"
    memory: Path | None = None
    annotators: ClassVar = ("tts", "llm")
    kinds: ClassVar = ("speech",)
    units: ClassVar = "texts"

    def run(self, source, units, out_dir, cfg, cache_dir, held=True) -> dict:
        return speech_evidence(units, out_dir, cfg, cache_dir, self.memory, held=held)


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
