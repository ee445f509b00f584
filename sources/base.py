"""What every source adapter is: parse a source's published annotation files into item drafts, refusing bad records.

Adapters read annotation files only (listing folders to find media is allowed, decoding media is not), so
`humansense sources check` can validate a download in seconds. Each refused record becomes a `Quarantined` entry
naming file and row; nothing is dropped silently.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

from pydantic import ValidationError

from humansense.sections import SourceConfig
from humansense.annotators.steps import Step
from humansense.evidence import EvidenceError, EvidenceFolder, Kind
from humansense.faults import checkpoint
from humansense.ids import UnsafeIdError, digest, is_safe_component, item_id
from humansense.schema import ClipSpec, ItemDraft, Provenance, Quarantined, SpeechJob, normalise_text


INLINE_DISTRACTORS = 8  # longer distractor lists are stored once per source and named by the draft


class NotAnnotated(Exception):
    """A record the annotate stage left alone because the release did not need it: counted, not quarantined."""


class RecordError(Exception):
    """A bad source record. `reason` is a short stable category; the message says what exactly is wrong."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason


class UnreadableFile(Exception):
    """An annotation file that cannot be read as its format says (wrong encoding, say): the source stops there."""


@dataclass(frozen=True)
class Record:
    """One raw source record and where it was read (file, 1-based row or record index)."""

    file: Path
    row: int
    record_id: str | None
    data: Any


@dataclass
class ParseResult:
    source: str
    records_read: int = 0
    not_annotated: int = 0  # records the annotate stage did not reach (selection needed fewer)
    drafts: list[ItemDraft] = field(default_factory=list)  # kept only when parse() has no sink
    quarantined: list[Quarantined] = field(default_factory=list)  # kept only when parse() has no quarantine sink
    quarantine_counts: Counter = field(default_factory=Counter)  # refused records by reason
    candidates: Counter = field(default_factory=Counter)  # drafts per task
    warnings: list[str] = field(default_factory=list)  # problems that do not refuse a record (missing optional file)

    def summary(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "records_read": self.records_read,
            "not_annotated": self.not_annotated,
            "candidates_per_task": dict(sorted(self.candidates.items())),
            "quarantined": self.quarantine_counts.total(),
            "quarantined_by_reason": dict(sorted(self.quarantine_counts.items())),
            "quarantine": [q.model_dump(exclude_none=True) for q in self.quarantined],
            "warnings": self.warnings,
        }


class SourceAdapter(ABC):
    name: ClassVar[str]
    tasks: ClassVar[tuple[str, ...]]
    # The annotation step classes a source's items are made from (`annotators.steps`: captions, transcripts, ...):
    # the build runs them over `videos()` or `speech_jobs()` first, into an evidence folder (`humansense.evidence`),
    # and hands the adapter that folder (`evidence`). `evidence_kinds` (their names) is derived from them.
    steps: ClassVar[tuple[type[Step], ...]] = ()
    evidence_kinds: ClassVar[tuple[str, ...]] = ()
    # The source's published annotation files (glob patterns under the root, named as the dataset publishes them):
    # `sources check` warns about those present but not read by the config, and `sources scan` recognises a source
    # by them.
    published_files: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.evidence_kinds = tuple(step.step_name() for step in cls.steps)

    def annotation_steps(self) -> list:
        """The annotation steps this source's items are made from, with their parameters: one of each of `steps`.
        The annotate stage runs these over the records it needs (`annotators.protocol` lists every hook it calls)."""
        return []

    def source_files(self) -> list[Path]:
        """The texts a text source's speech jobs come from (their checksums key its evidence)."""
        return []

    def hand_kept_files(self) -> list[Path]:
        """Files kept by people that decide evidence (The Skin Deep's reviewed rapport scores)."""
        return []

    def read_faces(self, video_id: str, asr: dict, read: Callable[[int], dict]) -> dict[int, dict]:
        """For the conversation step: which segments' faces to read (`read(index)`), by segment index."""
        raise NotImplementedError(f"{self.name} declares no conversation step")

    def most_drafts_per_record(self, task: str) -> int:
        """The most drafts of `task` one record can give: the annotate stage's first round takes need / this many
        records, so a source whose records give several items (a conversation) is not annotated as if each gave one."""
        return 1

    def __init__(self, config: SourceConfig, root: Path, seed: int = 0, evidence: Path | None = None):
        self.config = config
        self.root = Path(root)
        self.seed = seed
        self.evidence_dir = Path(evidence) if evidence else None  # the annotate stage's output for this source
        self.result = ParseResult(source=self.name)
        self.reading: Path | None = None  # the annotation file being read (set by `read_text`), for error reports
        self.not_reached = self._not_reached()
        self._interned: dict[str, list[tuple[str, str]]] = {}
        self._quarantine_sink: Callable[[Quarantined], None] | None = None

    def _not_reached(self) -> set[str]:
        """Record ids the annotate stage did not reach because selection needed fewer (bad records are never
        annotation units, so they still meet their quarantine reason)."""
        folder = self.evidence_folder()
        return folder.not_reached() if folder is not None else set()

    def evidence_folder(self) -> EvidenceFolder | None:
        """Where the build's annotate step left this source's evidence (`humansense.evidence`), if it ran."""
        return EvidenceFolder(self.evidence_dir) if self.evidence_dir else None

    def annotated_file(self) -> Path | None:
        folder = self.evidence_folder()
        return folder.manifest_file if folder is not None else None


    @abstractmethod
    def annotation_files(self) -> list[Path]:
        """The files whose contents decide this source's drafts (their checksums key the parse cache)."""

    def optional_files(self) -> list[Path]:
        """Annotation files a source reads when present (AVA's excluded timestamps): missing is a warning."""
        return []

    @abstractmethod
    def records(self) -> Iterable[Record]:
        """Yield the raw records; a file that cannot be read at all is quarantined here as a whole."""

    @abstractmethod
    def drafts_for(self, record: Record) -> list[ItemDraft]:
        """Turn one record into drafts (one per task it feeds); raise RecordError to quarantine it."""

    def videos(self) -> list[tuple[str, Path]]:
        """(record id, media file) pairs the build's annotators read (sources with video evidence kinds)."""
        return []

    def records_among(self, only: Collection[str] | None) -> Iterator[Record]:
        """`records()`, less those whose id is not in `only` (all of them when `only` is None)."""
        return (r for r in self.records() if only is None or r.record_id in only)

    def speech_jobs(self, only: Collection[str] | None = None) -> Iterator[SpeechJob]:
        """Texts to translate and speak (sources with the "speech" evidence kind), made as the source streams (a
        job holds its texts and wrong options: all of EFAQA's at once were 75 MB at twice its size); `only`: the
        jobs of those record ids alone."""
        return iter(())

    def evidence(self, record_id: str, kind: Kind) -> dict | None:
        """The evidence of a record, None if there is none, NotAnnotated if the annotate stage did not reach it."""
        if record_id in self.not_reached:
            raise NotAnnotated(record_id)
        folder = self.evidence_folder()
        return folder.read(record_id, kind) if folder is not None else None

    def pools(self) -> dict[str, list[tuple[str, str]]]:
        """Wrong-option pools shared by this source's drafts (name -> [(owner record id, text)]), written once
        beside the drafts; call after `parse()`. Long distractor lists given to `draft()` are interned here."""
        return dict(self._interned)

    def wrong_options(self, draft: ItemDraft) -> list[str]:
        """A draft's whole pool of wrong options: its own list, then its shared pool (less its own record's)."""
        if not draft.distractor_pool:
            return list(draft.distractors)
        name = draft.distractor_pool.removeprefix(f"{self.name}/")
        skip = set(draft.pool_excludes)
        return list(draft.distractors) + [t for who, t in self.pools()[name]
                                          if who != draft.provenance.record_id and t not in skip]

    def translation_memory(self) -> Path | None:
        """A translation memory shipped with the source, if any (see `humansense.annotators.translate`)."""
        return None

    @classmethod
    def code_version(cls) -> str:
        """A digest of the adapter's module source: editing the parser invalidates its cached output."""
        return digest(inspect.getsource(inspect.getmodule(cls)), inspect.getsource(inspect.getmodule(SourceAdapter)))

    def parse(self, sink: Callable[[ItemDraft], None] | None = None,
              quarantine_sink: Callable[[Quarantined], None] | None = None,
              only: Collection[str] | None = None) -> ParseResult:
        """Parse every record; each draft goes to `sink` as it is made (streamed to disk by the build), or is kept
        in `result.drafts` when there is no sink; refused records likewise go to `quarantine_sink` or
        `result.quarantined` (counted by reason either way). `only` (record ids) parses just those records and
        passes over the others unread and uncounted: the annotate stage counts the drafts of each round's records
        this way, so a round costs its own records, not the source's. The evidence manifest is read afresh."""
        self._quarantine_sink = quarantine_sink
        self.not_reached = self._not_reached()
        try:
            return self._parse(sink, None if only is None else frozenset(only))
        finally:
            self._quarantine_sink = None

    def _parse(self, sink: Callable[[ItemDraft], None] | None, only: frozenset[str] | None) -> ParseResult:
        optional = set(self.optional_files())
        for f in self.annotation_files():
            if f in optional and not f.exists():
                self.result.warnings.append(f"optional file {self.rel(f)} is missing (read when present)")
                continue
            if not f.is_file():
                self.quarantine("missing annotation file", f"{f} does not exist", file=f)
                return self.result
            if f.stat().st_size == 0:
                self.quarantine("empty annotation file", f"{f} is empty", file=f)
                return self.result
        taken = 0
        records = iter(self.records())
        while True:
            try:
                record = next(records)
            except StopIteration:
                break
            except Exception as e:  # a file the adapter could not read at all: reported, the build goes on
                where = self.reading or next(iter(self.annotation_files()), None)
                self.quarantine("unreadable annotation file", f"{type(e).__name__}: {str(e)[:300]}", file=where)
                break
            if self.config.max_records is not None and taken >= self.config.max_records:
                break
            taken += 1  # the cap counts records in the source's order, parsed or passed over
            if only is not None and record.record_id not in only:
                continue
            checkpoint("parse")
            self.result.records_read += 1
            try:
                for made in self.drafts_for(record):
                    self.result.candidates[made.task] += 1
                    if sink is None:
                        self.result.drafts.append(made)
                    else:
                        sink(made)
            except NotAnnotated:
                self.result.not_annotated += 1
            except RecordError as e:
                self.quarantine(e.reason, str(e), file=record.file, row=record.row,
                                record_id=record.record_id)
            except UnsafeIdError as e:
                self.quarantine("unsafe id", str(e), file=record.file,
                                row=record.row, record_id=None)
            except EvidenceError as e:  # a damaged evidence file, named in the detail
                self.quarantine("unreadable evidence", str(e), file=record.file, row=record.row,
                                record_id=record.record_id)
            except ValidationError as e:
                self.quarantine("invalid record", _first_error(e), file=record.file,
                                row=record.row, record_id=record.record_id)
            except Exception as e:  # a record the adapter did not foresee (a number where text was, ...)
                self.quarantine("malformed record", f"{type(e).__name__}: {str(e)[:300]}", file=record.file,
                                row=record.row, record_id=record.record_id if is_safe_component(record.record_id) else None)
        return self.result

    # Helpers for adapters -------------------------------------------------------------------------------------

    def read_text(self, path: Path) -> str:
        """A text annotation file (UTF-8, a BOM allowed), remembered as the file being read for error reports."""
        self.reading = path
        try:
            return path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as e:
            raise UnreadableFile(f"{path.name} is not UTF-8 text (byte {e.object[e.start]:#04x} at offset "
                                 f"{e.start})") from None

    def read_lines(self, path: Path) -> Iterator[str]:
        """A text annotation file's lines as they are read (memory does not grow with the file; UTF-8, a BOM
        allowed, line ends dropped); a line that is not UTF-8 stops the file with an error naming it."""
        self.reading = path
        with open(path, "rb") as f:
            for n, raw in enumerate(f, start=1):
                try:
                    line = raw.decode("utf-8-sig" if n == 1 else "utf-8")
                except UnicodeDecodeError as e:
                    raise UnreadableFile(f"{path.name} is not UTF-8 text (line {n}: byte {e.object[e.start]:#04x} "
                                         f"at column {e.start + 1})") from None
                yield line.rstrip("\r\n")

    def rel(self, path: Path) -> str:
        """`path` as the release names it: relative to the source root (its own text when outside it)."""
        return _relative(path, self.root)

    def quarantine(self, reason: str, detail: str, *, file: Path | str | None = None, row: int | None = None,
                   record_id: str | None = None, task: str | None = None) -> None:
        file_text = self.rel(Path(file)) if isinstance(file, Path) else file
        where = f"{file_text}" + (f", row {row}" if row is not None else "")
        detail = detail if not where or detail.startswith(where) else f"{where}: {detail}"
        entry = Quarantined(stage="parse", source=self.name, reason=reason, detail=detail, file=file_text, row=row,
                            record_id=record_id, task=task)
        self.result.quarantine_counts[reason] += 1
        if self._quarantine_sink is None:
            self.result.quarantined.append(entry)
        else:
            self._quarantine_sink(entry)

    def draft(self, *, task: str, record_id: str, params: dict[str, Any] | None = None, provenance: Provenance,
              answers: list[str], distractors: list[str], clip: ClipSpec, hard_distractors: list[str] | None = None,
              template_vars: dict[str, str] | None = None, annotations: dict[str, Any] | None = None,
              distractor_pool: str | None = None, vocabulary: Iterable[str] | None = None) -> ItemDraft:
        """A draft of this source. A long `distractors` list (80 AVA actions, 40 appearance attributes less the
        answers) is stored once in the source's pools and named by the draft: with `vocabulary` (the list it was
        filtered from, as `distractor_pool` does) the vocabulary is stored once and the draft names what it may not
        offer, so 100,000 drafts with 100,000 different answer sets share one pool."""
        excludes: list[str] = []
        if distractor_pool is None and len(distractors) > INLINE_DISTRACTORS:
            distractor_pool, stored, members = _stored_pool(tuple(distractors if vocabulary is None else vocabulary))
            allowed = set(distractors)
            if not allowed <= members:
                raise ValueError(f"{record_id}: distractors {sorted(allowed - members)[:3]} are not in the "
                                 f"vocabulary")
            if distractor_pool not in self._interned:
                self._interned[distractor_pool] = [("", d) for d in stored]
            excludes = [v for v in stored if v not in allowed]
            distractors = []
        return ItemDraft(id=item_id(self.name, record_id, task, params), task=task, provenance=provenance,
                         answers=answers, hard_distractors=hard_distractors or [], distractors=distractors,
                         distractor_pool=f"{self.name}/{distractor_pool}" if distractor_pool else None,
                         pool_excludes=excludes,
                         template_vars=template_vars or {}, annotations=annotations or {}, clip=clip)


def transcript_of(asr: dict | None, start: float, end: float) -> str:
    """The build's ASR text of a span: the segments that overlap it (the authors' `asr_en` field)."""
    if not asr or asr.get("status") != "ok":
        return ""
    return " ".join(s["text"].strip() for s in asr.get("segments", []) if s["end"] > start and s["start"] < end)


def transcript_segments(asr: dict | None, start: float, end: float) -> list[dict]:
    """The ASR segments overlapping a clip's span, timed from the clip's start (for a reviewer to seek to)."""
    if not asr or asr.get("status") != "ok":
        return []
    return [{"start_s": round(max(0.0, s["start"] - start), 2), "end_s": round(min(end, s["end"]) - start, 2),
             "text": s["text"].strip()} for s in asr.get("segments", []) if s["end"] > start and s["start"] < end]


def find_video(folder: Path, stem: str, extensions: tuple[str, ...] = (".mp4", ".mkv", ".webm")) -> Path:
    """The first `<stem><ext>` that exists in `folder`; else the first candidate, which the media stage reports missing."""
    for ext in extensions:
        if (folder / f"{stem}{ext}").exists():
            return folder / f"{stem}{ext}"
    return folder / f"{stem}{extensions[0]}"


def forget_shared_caches() -> None:
    """Empty the caches drafts of one source share (paths, pools, normalised labels): they grow with the source
    (~27,000 labels at full size, twice that at scale 2), and the next source or stage has no use for them."""
    for cached in (_relative, _resolved, _stored_pool, _filtered, normalise_text):
        cached.cache_clear()


@lru_cache(maxsize=4096)  # drafts of one video share its path (AVA: 64 movies, 124,000 drafts)
def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(_resolved(root)).as_posix()
    except ValueError:
        return str(path)


@lru_cache(maxsize=64)
def _resolved(root: Path) -> Path:
    return root.resolve()


@lru_cache(maxsize=256)  # a source has a few vocabularies, shared by its 100,000 drafts
def _stored_pool(vocabulary: tuple[str, ...]) -> tuple[str, tuple[str, ...], frozenset[str]]:
    """(pool name, entries, their set) of a vocabulary stored once: first of each normalised text only (as
    `distractor_pool` keeps them)."""
    seen: set[str] = set()
    stored = tuple(v for v in vocabulary if not (normalise_text(v) in seen or seen.add(normalise_text(v))))
    return f"v-{digest(list(stored), length=12)}", stored, frozenset(stored)


def distractor_pool(vocabulary: Iterable[str], answers: Iterable[str],
                    confusable: Iterable[frozenset[str]] = ()) -> list[str]:
    """Vocabulary entries that may serve as wrong options: not an answer, not confusable with one.

    `confusable` groups hold labels that are synonyms, near-synonyms or implied by each other (e.g. Robbery /
    Stealing); a label sharing a group with any answer is never offered as a wrong option.
    """
    return list(_filtered(tuple(vocabulary), frozenset(answers), tuple(confusable)))


@lru_cache(maxsize=4096)  # answer sets recur (AVA: ~1,000 distinct action sets over 124,000 persons)
def _filtered(vocabulary: tuple[str, ...], answers: frozenset[str],
              confusable: tuple[frozenset[str], ...]) -> tuple[str, ...]:
    answer_set = {normalise_text(a) for a in answers}
    blocked = set(answer_set)
    for group in confusable:
        normalised = {normalise_text(g) for g in group}
        if normalised & answer_set:
            blocked |= normalised
    seen: set[str] = set()
    pool = []
    for label in vocabulary:
        key = normalise_text(label)
        if key not in blocked and key not in seen:
            seen.add(key)
            pool.append(label)
    return tuple(pool)


def _first_error(e: ValidationError) -> str:
    err = e.errors()[0]
    loc = ".".join(str(x) for x in err.get("loc", ()))
    return f"{loc}: {err.get('msg')}" if loc else str(err.get("msg"))
