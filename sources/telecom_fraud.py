"""Telecom fraud texts (Li, Zhang, Jiang 2024) -> FG: which kind of fraud a phone call attempts.

Format: the published format: `label0N-last.csv`, header `content,label`, CRLF, UTF-8 with BOM except `label04`
(GBK); some rows quote with `""` escapes, a few open a quote they never close, so rows are read the robust way
(split on line ends, `rsplit(',', 1)`, unquote) instead of with a CSV reader that would merge lines. The label is the
file's class as Chinese text ("0" for normal). There are no ids: a record's id is a digest of its text, and a text
seen twice is quarantined as a duplicate.

Each text becomes a two-voice phone call (the caller speaks the text, the callee answers briefly), translated to
English and rendered in the telephone band by the annotate step; the options are the dataset's fraud types.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from pathlib import Path

from humansense.ids import digest
from humansense.schema import ItemDraft, Provenance, SpeechJob
from humansense.sections import SourceConfig
from humansense.sources.base import Record, RecordError, distractor_pool
from humansense.sources.spoken import SpokenTextAdapter


class TelecomFraudConfig(SourceConfig):
    files: list[str] = [f"label0{n}-last.csv" for n in range(5)]  # the CSVs, one per label (00: normal)
    include_normal: bool = True  # label00's normal texts become "Not a fraud" calls
    min_chars: int = 8  # shorter texts make no call
    max_chars: int = 300  # longer texts make calls well over a minute
    translation_memory: str | None = "translations.en.jsonl"  # in the root, if present (the sample ships one)


# The dataset's class names (README) -> option text; lengths kept close so no option stands out by length.
FRAUD_TYPES = {
    "冒充公检法及政府机关类": "Impersonating police or government",
    "贷款、代办信用卡类": "Fake loan or credit card offer",
    "冒充客服服务": "Impersonating customer service",
    "冒充领导、熟人类": "Impersonating a boss or acquaintance",
    "0": "Not a fraud: an ordinary call",
}


def decode(data: bytes) -> tuple[str, str]:
    """The file's text and encoding: UTF-8 (BOM or not), else GBK (label04); anything else raises."""
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("gbk"), "gbk"


def split_row(line: str) -> tuple[str, str]:
    """`content,label` where content may contain commas and quotes (doubled, or an opening quote never closed)."""
    if "," not in line:
        raise RecordError("malformed row", f"no ',' separating content and label in {line[:60]!r}")
    content, label = line.rsplit(",", 1)
    content, label = content.strip(), label.strip().strip('"')
    if content.startswith('"'):
        content = content[1:-1] if content.endswith('"') and len(content) > 1 else content[1:]
        content = content.replace('""', '"')
    return content.strip(), label


class TelecomFraudAdapter(SpokenTextAdapter):
    name = "telecom_fraud"
    tasks = ("FG",)
    published_files = ("label0?-last.csv",)
    config: TelecomFraudConfig

    def source_files(self) -> list[Path]:
        return [self.root / f for f in self.config.files]

    def records(self) -> Iterable[Record]:
        seen: dict[str, str] = {}
        for path in self.source_files():
            try:
                text, _ = decode(path.read_bytes())
            except UnicodeDecodeError as e:
                self.quarantine("malformed annotation file", f"{path.name}: neither UTF-8 nor GBK ({e})", file=path)
                continue
            lines = text.split("\r\n") if "\r\n" in text else text.split("\n")
            if not lines or lines[0].strip().lower() != "content,label":
                self.quarantine("malformed annotation file", f"{path.name}: header {lines[0][:40]!r} is not "
                                "'content,label'", file=path, row=1)
                continue
            for n, line in enumerate(lines[1:], start=2):
                if not line.strip():
                    continue
                record_id = "fg-" + digest(line, length=16)
                try:
                    content, label = split_row(line)
                    record_id = "fg-" + digest(content, length=16)
                except RecordError:
                    content, label = None, None
                first = seen.setdefault(record_id, f"{path.name} row {n}")
                yield Record(file=path, row=n, record_id=record_id,
                             data={"line": line, "content": content, "label": label,
                                   "duplicate_of": None if first == f"{path.name} row {n}" else first})

    def checked(self, record: Record) -> tuple[str, str]:
        """(content, option text) of a usable record; RecordError says why a record is not."""
        data = record.data
        if data["content"] is None:
            split_row(data["line"])  # raises with the reason
        content, label = data["content"], data["label"]
        if data["duplicate_of"]:
            raise RecordError("duplicate text", f"the same text as {data['duplicate_of']}")
        if label not in FRAUD_TYPES:
            raise RecordError("unknown label", f"label {label!r} is not one of the dataset's classes")
        if label == "0" and not self.config.include_normal:
            raise RecordError("normal text excluded", "normal texts are excluded (include_normal = false)")
        if not self.config.min_chars <= len(content) <= self.config.max_chars:
            raise RecordError("text length", f"{len(content)} characters; calls are made from "
                                             f"{self.config.min_chars}-{self.config.max_chars}")
        return content, FRAUD_TYPES[label]

    def speech_jobs(self, only: Collection[str] | None = None) -> Iterator[SpeechJob]:
        for record in self.records_among(only):
            try:
                content, answer = self.checked(record)
            except RecordError:
                continue  # the parse step quarantines it with the reason
            yield SpeechJob(id=record.record_id, turns=[(0, content)], arrangement="call", phone_band=True,
                            answer_class=answer)

    def drafts_for(self, record: Record) -> list[ItemDraft]:
        content, answer = self.checked(record)
        speech = self.speech_for(record.record_id)
        vocabulary = [v for k, v in FRAUD_TYPES.items() if self.config.include_normal or k != "0"]
        clip = self.audio_clip(speech)
        return [self.draft(
            task="FG", record_id=record.record_id, answers=[answer], distractors=distractor_pool(vocabulary, [answer]),
            clip=clip,
            provenance=Provenance(source=self.name, record_id=record.record_id, group=record.record_id,
                                  original_file=record.file.name, start_s=clip.start_s, end_s=clip.end_s,
                                  annotation_file=record.file.name, annotation_row=record.row),
            annotations={"text_zh": content, "text_en": self.english(speech, content),
                         "label": record.data["label"], **self.speech_annotations(speech)})]
