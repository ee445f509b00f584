"""The typed records every stage speaks.

`ItemDraft` is what a source adapter proposes (answer, distractor pool, clip to cut); `Item` is a finished
question (options, answer letter, clip in the release). An `Item` that breaks the task table's rules cannot be
constructed. `Quarantined` is a record some stage refused, with the reason and where it came from.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Annotated, Any, Literal

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from humansense.answer_rules import normalise_text as normalise_option_text
from humansense.tasks import QUESTION_PATTERN, Kind, Level, Modality, task

SCHEMA_VERSION = 1
LETTERS = "ABCDEFGHIJ"

Split = Literal["unassigned", "eval", "train"]
QcStatus = Literal["not_sampled", "pending", "accepted", "rejected", "corrected"]


# Times from sources are untrusted: NaN, infinite or negative seconds are refused where a record is made.
Seconds = Annotated[float | None, Field(ge=0, allow_inf_nan=False)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Provenance(_Strict):
    source: str
    record_id: str
    group: str | None = None  # the unit that must never straddle splits: source video, conversation or person
    original_file: str  # relative to the source root, as the dataset names it
    start_s: Seconds = None  # span in the original file, seconds
    end_s: Seconds = None
    annotation_file: str | None = None
    annotation_row: int | None = None  # 1-based line (CSV/text) or record index (JSON)

    @property
    def group_key(self) -> str:
        """The unit that must not straddle splits, named across sources ("<source>:<group or record>")."""
        return f"{self.source}:{self.group or self.record_id}"

    @model_validator(mode="after")
    def _span(self) -> Provenance:
        if self.start_s is not None and self.end_s is not None and not (0 <= self.start_s < self.end_s):
            raise ValueError(f"bad span {self.start_s}..{self.end_s} for {self.record_id}")
        return self


class Crop(_Strict):
    """A crop box normalised to the frame (0-1), as CelebV-HQ and AVA give them."""

    left: float = Field(ge=0, le=1)
    top: float = Field(ge=0, le=1)
    right: float = Field(ge=0, le=1)
    bottom: float = Field(ge=0, le=1)
    square: bool = False  # grow the shorter side to make a square (CelebV-HQ's official crop)

    @model_validator(mode="after")
    def _ordered(self) -> Crop:
        if not (self.left < self.right and self.top < self.bottom):
            raise ValueError(f"empty crop box {self.model_dump()}")
        return self


class ClipSpec(_Strict):
    """How to make a clip: a span of a media file, or a numbered frame sequence assembled at a frame rate."""

    kind: Literal["span", "frames"]
    source_path: str  # absolute path at build time (work files only; the release keeps relative provenance)
    start_s: Seconds = None
    end_s: Seconds = None
    crop: Crop | None = None
    frame_pattern: str | None = None  # ffmpeg image2 pattern inside source_path, e.g. "%05d.jpg"
    first_frame: int | None = None
    frame_count: int | None = None  # None: every frame from first_frame on
    fps: Annotated[float | None, Field(gt=0, allow_inf_nan=False)] = None
    output: Literal["video", "audio"] = "video"  # audio: a WAV of the span's sound (the audio tasks)
    # Where the part the question is about ends (the anomaly, the utterance, the keyframe); the rest of the span is
    # context that may be cut short at the media's end. None: the whole span is required (a CM event sequence).
    required_end_s: Seconds = None

    @model_validator(mode="after")
    def _complete(self) -> ClipSpec:
        if self.kind == "span" and (self.start_s is None or self.end_s is None or self.end_s <= self.start_s):
            raise ValueError("a span clip needs start_s < end_s")
        if self.kind == "frames" and not (self.frame_pattern and self.fps and self.first_frame is not None
                                          and (self.frame_count is None or self.frame_count > 0)):
            raise ValueError("a frames clip needs frame_pattern, first_frame, fps and no empty frame_count")
        if self.output == "audio" and (self.kind != "span" or self.crop is not None):
            raise ValueError("an audio clip is an uncropped span")
        if self.required_end_s is not None and not (self.kind == "span"
                                                    and self.start_s <= self.required_end_s <= self.end_s):
            raise ValueError("required_end_s lies within a span clip's start and end")
        return self

    @property
    def suffix(self) -> str:
        return ".wav" if self.output == "audio" else ".mp4"


class SpeechJob(_Strict):
    """A source text to be heard (FG calls, PC dialogues): translated, then spoken by two voices in the annotate step."""

    id: str  # the record id; the result is `<evidence folder>/<id>.speech.json`
    turns: list[tuple[int, str]] = Field(min_length=1)  # (speaker 0 or 1, source-language text)
    extra_texts: list[str] = []  # translated too, not spoken (e.g. reply options)
    arrangement: Literal["dialogue", "call"] = "dialogue"  # call: one caller's text, with the callee answering
    phone_band: bool = False
    # Ask the LLM whether each extra text would also be an appropriate next reply ("auto": only a configured endpoint).
    judge_replies: Literal["never", "auto", "always"] = "never"
    # The answer's class when the source knows it before annotation (FG: the fraud type), so the annotate stage can
    # let classes take turns: selection can only even out the classes it is given.
    answer_class: str | None = None


class ItemDraft(_Strict):
    """A candidate question from a source adapter, before templates, option order and media."""

    id: str
    task: str
    provenance: Provenance
    answers: list[str] = Field(min_length=1)  # correct option texts (one, or several for multi; a digit for numeral)
    hard_distractors: list[str] = []  # taken first (e.g. the same events in the wrong order)
    distractors: list[str] = []  # the rest of the pool, sampled from
    distractor_pool: str | None = None  # then a pool shared by a source's drafts, by name (`sources/pools.py`)
    pool_excludes: list[str] = []  # texts of that pool this draft may not offer (its answers, their confusables)
    template_vars: dict[str, str] = {}
    annotations: dict[str, Any] = {}  # the labels / annotator outputs the item was made from
    clip: ClipSpec

    @model_validator(mode="after")
    def _pool(self) -> ItemDraft:
        spec = task(self.task)
        answers = {_norm(a) for a in self.answers}
        if len(answers) != len(self.answers):
            raise ValueError(f"{self.id}: duplicate answers {self.answers}")
        clash = answers & {_norm(d) for d in self.hard_distractors + self.distractors}
        if clash:
            raise ValueError(f"{self.id}: distractor equals an answer: {sorted(clash)}")
        if spec.kind is Kind.MULTI and len(self.answers) >= spec.options:
            raise ValueError(f"{self.id}: a multi item needs fewer than {spec.options} answers")
        if spec.kind is not Kind.MULTI and len(self.answers) != 1:
            raise ValueError(f"{self.id}: a {spec.kind} item has exactly one answer")
        return self


class Option(_Strict):
    letter: str
    text: str = Field(min_length=1)


class Media(_Strict):
    path: str  # relative to the release root, e.g. "data/videos/3f2a….mp4"
    duration_s: float = Field(gt=0)
    modality: Modality
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    frame_count: int | None = None
    sha256: str | None = None

    @field_validator("path")
    @classmethod
    def _relative(cls, v: str) -> str:
        if v.startswith("/") or ".." in v.split("/") or "\\" in v:
            raise ValueError(f"media path must be relative inside the release: {v!r}")
        return v


class Item(_Strict):
    schema_version: int = SCHEMA_VERSION
    id: str
    task: str
    level: Level
    modality: Modality
    kind: Kind
    question_pattern: str
    question: str = Field(min_length=1)
    options: list[Option]
    answer: str
    media: Media
    provenance: Provenance
    template_id: str
    annotations: dict[str, Any] = {}
    split: Split = "unassigned"
    qc_status: QcStatus = "not_sampled"

    @model_validator(mode="after")
    def _consistent(self) -> Item:
        spec = task(self.task)
        if (self.level, self.modality, self.kind) != (spec.level, spec.modality, spec.kind):
            raise ValueError(f"{self.id}: level/modality/kind disagree with the task table for {self.task}")
        if self.question_pattern != QUESTION_PATTERN[self.kind]:
            raise ValueError(f"{self.id}: question_pattern must be {QUESTION_PATTERN[self.kind]!r}")
        letters = [o.letter for o in self.options]
        if letters != list(LETTERS[: len(letters)]):
            raise ValueError(f"{self.id}: option letters must run A, B, C... in order, got {letters}")
        texts = [_norm(o.text) for o in self.options]
        if len(set(texts)) != len(texts):
            raise ValueError(f"{self.id}: duplicate option texts")
        if self.kind is Kind.NUMERAL:
            if not re.fullmatch(r"[0-9]", self.answer):
                raise ValueError(f"{self.id}: a numeral answer is one digit 0-9, got {self.answer!r}")
            if self.options and self.answer not in [o.text for o in self.options]:
                raise ValueError(f"{self.id}: the numeral answer must be among the candidate counts")
        elif self.kind is Kind.MULTI:
            if len(self.options) != 4:
                raise ValueError(f"{self.id}: a multi item has exactly 4 options")
            if not re.fullmatch(r"A?B?C?D?", self.answer) or not self.answer:
                raise ValueError(f"{self.id}: a multi answer is bare letters in order, like 'AC'; got {self.answer!r}")
        else:
            if not 2 <= len(self.options) <= 5:
                raise ValueError(f"{self.id}: a single-choice item has 2 to 5 options")
            if len(self.answer) != 1 or self.answer not in letters:
                raise ValueError(f"{self.id}: a single answer is one of the option letters, got {self.answer!r}")
        if self.kind is not Kind.NUMERAL and len(self.options) != spec.options:
            raise ValueError(f"{self.id}: {self.task} items have {spec.options} options, got {len(self.options)}")
        return self

    def answer_texts(self) -> list[str]:
        if self.kind is Kind.NUMERAL:
            return [self.answer]
        return [o.text for o in self.options if o.letter in self.answer]


class Quarantined(_Strict):
    """A record a stage refused, with where it came from and why; written to the release's quarantine report."""

    stage: Literal["fetch", "parse", "media", "augment", "qc", "release"]
    source: str
    reason: str  # a short, stable category (e.g. "unknown label", "unreadable media")
    detail: str  # the full message, naming file and row
    file: str | None = None
    row: int | None = None
    record_id: str | None = None
    task: str | None = None

    @classmethod
    def of(cls, drafted: ItemDraft | Item, stage: str, reason: str, detail: str) -> Quarantined:
        """A draft or item refused by a later stage, named by where it came from (source, task, record, file)."""
        p = drafted.provenance
        return cls(stage=stage, source=p.source, reason=reason, detail=detail, task=drafted.task,
                   record_id=p.record_id, file=p.original_file)


@lru_cache(maxsize=1 << 16)  # labels recur in every draft of a source (AVA's 80 actions in 124,000 drafts)
def _norm(text: str) -> str:
    return normalise_option_text(text)


normalise_text = _norm


# The Parquet layout of `Item`. Nested pydantic fields become structs; free-form annotations are JSON text so that
# every task shares one table schema.
PROVENANCE_TYPE = pa.struct([
    ("source", pa.string()), ("record_id", pa.string()), ("group", pa.string()), ("original_file", pa.string()),
    ("start_s", pa.float64()), ("end_s", pa.float64()), ("annotation_file", pa.string()),
    ("annotation_row", pa.int64()),
])
MEDIA_TYPE = pa.struct([
    ("path", pa.string()), ("duration_s", pa.float64()), ("modality", pa.string()), ("width", pa.int64()),
    ("height", pa.int64()), ("fps", pa.float64()), ("frame_count", pa.int64()), ("sha256", pa.string()),
])
ITEM_ARROW_SCHEMA = pa.schema([
    ("schema_version", pa.int32()),
    ("id", pa.string()),
    ("task", pa.string()),
    ("level", pa.string()),
    ("modality", pa.string()),
    ("kind", pa.string()),
    ("question_pattern", pa.string()),
    ("question", pa.string()),
    ("options", pa.list_(pa.struct([("letter", pa.string()), ("text", pa.string())]))),
    ("answer", pa.string()),
    ("media", MEDIA_TYPE),
    ("provenance", PROVENANCE_TYPE),
    ("template_id", pa.string()),
    ("annotations", pa.string()),
    ("split", pa.string()),
    ("qc_status", pa.string()),
])


def item_to_row(item: Item) -> dict[str, Any]:
    row = item.model_dump(mode="json")
    row["annotations"] = json.dumps(row["annotations"], sort_keys=True, ensure_ascii=False)
    return row


def row_to_item(row: dict[str, Any]) -> Item:
    row = dict(row)
    row["annotations"] = json.loads(row["annotations"]) if row.get("annotations") else {}
    return Item.model_validate(row)


def items_to_table(items: list[Item]) -> pa.Table:
    return pa.Table.from_pylist([item_to_row(i) for i in items], schema=ITEM_ARROW_SCHEMA)
