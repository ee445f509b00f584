"""ActivityNet Captions -> CM (which description matches the sequence of actions; single choice).

Format: FORMATS.md section 6: `{video_id: {duration, timestamps: [[s, e]...], sentences: [...]}}`. An item takes
two or three consecutive events with a clear order, cuts the span they cover, and asks which description tells
them in the right order. Wrong options are the same events in another order (equal length by construction, so
length gives nothing away) and the events of another video.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from pathlib import Path

from humansense.config import ActivityNetConfig
from humansense.ids import check_component, seeded_rng
from humansense.schema import ClipSpec, ItemDraft, Provenance
from humansense.sources.base import Record, RecordError, SourceAdapter, find_video

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
        # Other videos' event sequences are the pool of wrong options (`pools()`, stored once, not per draft).
        self.sequences: dict[str, list[str]] = {}
        for r in records:
            try:
                self.sequences[r.record_id] = [s for _, _, s in self._events(r)]
            except RecordError:
                pass
        yield from records

    def pools(self) -> dict[str, list[tuple[str, str]]]:
        """`events-K`: every video's first K events (K = 2..max_events) as one description, owned by that video."""
        return super().pools() | {
            f"events-{k}": [(vid, describe(seq[:k])) for vid, seq in sorted(getattr(self, "sequences", {}).items())
                            if len(seq) >= 2]
            for k in range(self.config.min_events, self.config.max_events + 1)}

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
        rng = seeded_rng(self.seed, self.name, vid, "CM")
        k = min(len(events), self.config.max_events)
        first = rng.randrange(len(events) - k + 1)
        window = events[first:first + k]
        sentences = [s for _, _, s in window]
        answer = describe(sentences)
        wrong_orders = [describe(list(p)) for p in itertools.permutations(sentences) if list(p) != sentences]
        start, end = window[0][0], max(e for _, e, _ in window)
        media = find_video(self.root / self.config.videos_dir, vid)
        return [self.draft(
            task="CM", record_id=vid, params={"events": [first, first + k]},
            provenance=Provenance(source=self.name, record_id=vid, group=vid, original_file=self.rel(media), start_s=start,
                                  end_s=end, annotation_file=record.file.name, annotation_row=record.row),
            answers=[answer], hard_distractors=[d for d in wrong_orders if d != answer],
            distractors=[], distractor_pool=f"events-{k}",
            clip=ClipSpec(kind="span", source_path=str(media), start_s=start, end_s=end),
            annotations={"events": [{"start_s": s, "end_s": e, "sentence": t} for s, e, t in window]})]
