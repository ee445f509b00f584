"""ActivityNet Captions -> CM (which description matches the sequence of actions; single choice).

Format: the published format: `{video_id: {duration, timestamps: [[s, e]...], sentences: [...]}}`. An item takes
two or three consecutive events with a clear order, cuts the span they cover, and asks which description matches
them. Two kinds, mixed by a seeded draw per video (`description_share`):

* **order**: the wrong options are the same events in another order (same words, same length, so neither gives
  anything away): the video must be watched for the order;
* **description** (the paper's CM): the wrong options are other videos' event sequences, told the same way and
  drawn from the same share of each video (its seeded window, not its opening, which ActivityNet's annotators
  start alike: "A man is seen..."), within the length rule like any free text.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from pathlib import Path

from pydantic import Field

from humansense.ids import check_component, seeded_rng, unit_interval
from humansense.schema import ClipSpec, ItemDraft, Provenance
from humansense.sections import SourceConfig
from humansense.sources.base import Record, RecordError, SourceAdapter, find_video


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


# Sentence openings that read naturally in lower case after "then" (names and other words keep their case).
_LOWER_OK = {"a", "an", "the", "he", "she", "they", "we", "it", "his", "her", "their", "two", "three", "several",
             "many", "some", "people", "one", "another", "after", "next", "finally", "more", "this", "that"}


def _clause(sentence: str, first: bool) -> str:
    text = sentence.strip().rstrip(".").strip()
    word = text.split(" ", 1)[0]
    if not first and word.lower() in _LOWER_OK:
        text = word.lower() + text[len(word):]
    return text


def describe(sentences: list[str]) -> str:
    """Join event sentences into one ordered description: 'X, then y, then z.'"""
    return ", then ".join(_clause(s, i == 0) for i, s in enumerate(sentences)) + "."


class ActivityNetAdapter(SourceAdapter):
    name = "activitynet"
    tasks = ("CM",)
    published_files = ("train.json", "val_1.json", "val_2.json")
    config: ActivityNetConfig

    def annotation_files(self) -> list[Path]:
        return [self.root / f for f in self.config.annotation_files]

    def records(self) -> Iterable[Record]:
        records = []
        for path in self.annotation_files():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                self.quarantine("malformed annotation file", f"{path.name}: not valid UTF-8 JSON ({e})", file=path)
                continue
            if not isinstance(data, dict):
                self.quarantine("malformed annotation file", f"{path.name}: expected an object of videos", file=path)
                continue
            records += [Record(file=path, row=n, record_id=vid, data=v)
                        for n, (vid, v) in enumerate(data.items(), start=1)]
        # Other videos' event sequences are the pool of wrong options (`pools()`, stored once, not per draft): each
        # video's own window, the span its own item asks about.
        self.sequences: dict[str, list[str]] = {}
        for r in records:
            try:
                events = self._events(r)
            except RecordError:
                continue
            if len(events) >= 2:
                first, k = self._window(r.record_id, events)
                self.sequences[r.record_id] = [s for _, _, s in events[first:first + k]]
        yield from records

    def pools(self) -> dict[str, list[tuple[str, str]]]:
        """`events-K`: every video's window (its first K events where it is longer, K = min_events..max_events) as
        one description, owned by that video."""
        return super().pools() | {
            f"events-{k}": [(vid, describe(seq[:k])) for vid, seq in sorted(getattr(self, "sequences", {}).items())
                            if len(seq) >= k]
            for k in range(self.config.min_events, self.config.max_events + 1)}

    def _window(self, vid: str, events: list) -> tuple[int, int]:
        """The seeded run of consecutive events a video's item asks about: (first index, count)."""
        k = min(len(events), self.config.max_events)
        return seeded_rng(self.seed, self.name, vid, "CM").randrange(len(events) - k + 1), k

    def _events(self, record: Record) -> list[tuple[float, float, str]]:
        v = record.data
        try:
            duration = float(v["duration"])
            spans = [(float(s), float(e)) for s, e in v["timestamps"]]
            sentences = [str(s).strip() for s in v["sentences"]]  # many carry leading spaces
        except (KeyError, TypeError, ValueError) as e:
            raise RecordError("malformed record", f"video {record.record_id}: bad field ({e})") from None
        if len(spans) != len(sentences):
            raise RecordError("malformed record", f"video {record.record_id}: {len(spans)} timestamps but "
                                                  f"{len(sentences)} sentences")
        events = sorted((max(0.0, s), min(e, duration), text) for (s, e), text in zip(spans, sentences) if text)
        ordered: list[tuple[float, float, str]] = []
        for ev in events:  # an event starting with (or just after) the previous one has no clear order: skip it
            if ev[1] > ev[0] and (not ordered or ev[0] - ordered[-1][0] >= self.config.min_gap_s):
                ordered.append(ev)
        return ordered

    def drafts_for(self, record: Record) -> list[ItemDraft]:
        vid = check_component(record.record_id, "video id")
        events = self._events(record)
        if len(events) < self.config.min_events:
            raise RecordError("too few ordered events", f"video {vid}: {len(events)} events with a clear order "
                                                        f"(need {self.config.min_events})")
        first, k = self._window(vid, events)
        window = events[first:first + k]
        sentences = [s for _, _, s in window]
        answer = describe(sentences)
        kind = ("description" if unit_interval(self.seed, self.name, vid, "CM kind") < self.config.description_share
                else "order")
        wrong_orders = ([] if kind == "description" else
                        [describe(list(p)) for p in itertools.permutations(sentences) if list(p) != sentences])
        start, end = window[0][0], max(e for _, e, _ in window)
        media = find_video(self.root / self.config.videos_dir, vid)
        params = {"events": [first, first + k]} | ({"kind": kind} if kind != "order" else {})  # order items' ids stay
        return [self.draft(
            task="CM", record_id=vid, params=params,
            provenance=Provenance(source=self.name, record_id=vid, group=vid, original_file=self.rel(media),
                                  start_s=start, end_s=end, annotation_file=record.file.name,
                                  annotation_row=record.row),
            answers=[answer], hard_distractors=[d for d in wrong_orders if d != answer],
            distractors=[], distractor_pool=f"events-{k}",
            clip=ClipSpec(kind="span", source_path=str(media), start_s=start, end_s=end),
            annotations={"events": [{"start_s": s, "end_s": e, "sentence": t} for s, e, t in window],
                         "cm_kind": kind})]
