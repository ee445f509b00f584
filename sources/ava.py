"""AVA Actions v2.2 -> AR (which actions is the person doing; select one or more of 4).

Format: the published format (official evaluator, mmaction2, PySlowFast). Rows are
`video_id,middle_frame_timestamp,x1,y1,x2,y2,action_id,person_id` with no header, one row per (box, action);
a record here is one person at one keyframe. The label map is the pbtxt read line by line as the official
evaluator does (`name:` then `id:` or `label_id:`). Excluded timestamps are honoured.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Literal

from humansense.ids import check_component, seeded_rng
from humansense.schema import ClipSpec, Crop, ItemDraft, Provenance
from humansense.sections import SourceConfig
from humansense.sources.base import Record, RecordError, SourceAdapter, distractor_pool, find_video


class AvaConfig(SourceConfig):
    annotation_files: list[str] = ["ava_val_v2.2.csv"]  # AVA's action CSVs, relative to the root
    label_map: str = "ava_action_list_v2.2.pbtxt"  # action ids to names and kinds (pose, object, person)
    excluded_timestamps: list[str] = ["ava_val_excluded_timestamps_v2.2.csv"]  # keyframes AVA marks unusable
    videos_dir: str = "trainval"  # the movie files, `<video_id>.<ext>`
    # "full": the CVDF movie files (keyframe t at t seconds); "cut_900_1800": mmaction2's 15-minute cuts (t - 900).
    layout: Literal["full", "cut_900_1800"] = "full"
    clip_half_span_s: float = 1.5  # clip = keyframe +- this; AVA labels describe the second around the keyframe


VIDEO_EXTENSIONS = (".mkv", ".mp4", ".webm")
MAX_AR_ANSWERS = 3
PERSON_BOX_MARGIN = 0.05
# Near-synonyms or actions seen together so often that a "wrong" option could well be true.
ACTION_CONFUSABLE = [frozenset(g) for g in [
    {"hit (an object)", "fight/hit (a person)"},
    {"kick (an object)", "kick (a person)"},
    {"lift/pick up", "lift (a person)", "carry/hold (an object)", "touch (an object)", "put down"},
    {"watch (e.g., TV)", "watch (a person)"},
    {"listen (e.g., to music)", "listen to (a person)"},
    {"talk to (e.g., self, a person, a group)", "sing to (e.g., self, a person, a group)"},
    {"bend/bow (at the waist)", "crouch/kneel"},
    {"answer phone", "text on/look at a cellphone"},
    {"ride (e.g., a bike, a car, a horse)", "drive (e.g., a car, a truck)"},
    {"push (an object)", "push (another person)"},
    {"hand shake", "grab (a person)"},
]]


def read_label_map(path: Path, text: str | None = None) -> dict[int, str]:
    """Parse `ava_action_list_v2.2*.pbtxt` the way the official evaluator does; a malformed entry is an error
    naming its line."""
    labels: dict[int, str] = {}
    name = None
    lines = (path.read_text(encoding="utf-8") if text is None else text).splitlines()
    for n, line in enumerate(lines, start=1):
        try:
            if line.startswith("  name:"):
                name = line.split('"')[1]
            elif line.startswith("  id:") or line.startswith("  label_id:"):
                labels[int(line.strip().split(" ")[-1])] = name
        except (IndexError, ValueError):
            raise ValueError(f"{path.name}, line {n}: not a label map entry: {line[:80]!r}") from None
    return labels


def read_label_types(path: Path, text: str | None = None) -> dict[str, str]:
    """Label name -> its `label_type` (PERSON_MOVEMENT, OBJECT_MANIPULATION, PERSON_INTERACTION); "action" where a
    label map has no types."""
    types: dict[str, str] = {}
    name = None
    for line in (path.read_text(encoding="utf-8") if text is None else text).splitlines():
        if line.startswith("  name:") and line.count('"') >= 2:
            name = line.split('"')[1]
            types[name] = "action"
        elif line.startswith("  label_type:") and name is not None:
            types[name] = line.split(":", 1)[1].strip()
    return types


class AvaAdapter(SourceAdapter):
    name = "ava"
    tasks = ("AR",)
    published_files = ("ava_action_list_v2.*.pbtxt", "ava_train_v2.*.csv", "ava_val_v2.*.csv",
                       "ava_*_excluded_timestamps_v2.*.csv")
    config: AvaConfig

    def annotation_files(self) -> list[Path]:
        files = [self.root / self.config.label_map] + [self.root / f for f in self.config.annotation_files]
        return files + [self.root / f for f in self.config.excluded_timestamps]

    def optional_files(self) -> list[Path]:
        return [self.root / f for f in self.config.excluded_timestamps]

    def records(self) -> Iterable[Record]:
        label_map = self.root / self.config.label_map
        text = self.read_text(label_map)
        self.labels = read_label_map(label_map, text)
        self.types = read_label_types(label_map, text)
        self.vocabularies: dict[str, list[str]] = {}
        self.videos_found: dict[str, Path] = {}
        excluded = set()
        for name in self.config.excluded_timestamps:
            if not (self.root / name).is_file():
                continue  # optional: reported as a warning
            for row in csv.reader(self.read_text(self.root / name).splitlines()):
                if len(row) == 2:
                    excluded.add((row[0], row[1]))
        for name in self.config.annotation_files:
            path = self.root / name
            rows = self._valid_rows(path, excluded)
            if not self._frames_contiguous(path):  # not as published: the keyframes are gathered in memory
                rows = iter(sorted(rows, key=lambda row: row[1][:2]))
            yield from self._persons_by_keyframe(path, rows)

    def _valid_rows(self, path: Path, excluded: set[tuple[str, str]]) -> Iterator[tuple[int, tuple]]:
        """(row number, parsed row) for each row of `path` as it is read; bad and excluded rows quarantined."""
        for n, row in enumerate(csv.reader(self.read_lines(path)), start=1):
            try:
                parsed = self._parse_row(row)
            except RecordError as e:
                self.quarantine(e.reason, str(e), file=path, row=n, record_id=row[0] if row else None, task="AR")
                continue
            if parsed[:2] in excluded:
                self.quarantine("excluded timestamp", f"{parsed[0]},{parsed[1]} is listed in the excluded timestamps",
                                file=path, row=n, record_id=f"{parsed[0]},{parsed[1]},{parsed[4]}", task="AR")
                continue
            yield n, parsed

    def _frames_contiguous(self, path: Path) -> bool:
        """Whether each keyframe's rows are together, as in the published files (sorted by video and time), so
        keyframes stream one at a time. Read once ahead: the check holds only a hash per keyframe."""
        seen, current = set(), None
        for line in self.read_lines(path):
            frame = tuple(line.split(",", 2)[:2])
            if frame != current:
                key = hash(frame)
                if key in seen:
                    return False
                seen.add(key)
                current = frame
        return True

    def _persons_by_keyframe(self, path: Path, rows: Iterable[tuple[int, tuple]]) -> Iterator[Record]:
        """One record per person at a keyframe, from rows whose keyframes are contiguous; the record knows how
        many persons its keyframe has (several: the clip is cropped to the one asked about)."""
        frame, persons = None, {}

        def flush() -> Iterator[Record]:
            for person, (n, person_rows) in persons.items():
                video, ts = frame
                yield Record(file=path, row=n, record_id=f"{video},{ts},{person}", data=(person_rows, len(persons)))

        for n, parsed in rows:
            if parsed[:2] != frame:
                yield from flush()
                frame, persons = parsed[:2], {}
            persons.setdefault(parsed[4], (n, []))[1].append(parsed)
        yield from flush()

    def _vocabulary(self, kind: str) -> list[str]:
        """The labels of one kind (the wrong options of a question about that kind), listed once per kind."""
        if kind not in self.vocabularies:
            self.vocabularies[kind] = [n for n in self.labels.values() if self.types.get(n, "action") == kind]
        return self.vocabularies[kind]

    def _video(self, video: str) -> Path:
        """The movie's file, looked up once per movie (a movie has thousands of persons at its keyframes)."""
        if video not in self.videos_found:
            self.videos_found[video] = find_video(self.root / self.config.videos_dir, video, VIDEO_EXTENSIONS)
        return self.videos_found[video]

    def _parse_row(self, row: list[str]):
        if len(row) not in (7, 8):  # 8 in ground truth; detections add a score, results may drop person_id
            raise RecordError("malformed row", f"expected 8 comma-separated fields, got {len(row)}")
        video, ts = row[0], row[1]
        if not re.fullmatch(r"\d{4}", ts):
            raise RecordError("malformed row", f"timestamp {ts!r} is not 4-digit zero-padded seconds")
        try:
            box = [float(v) for v in row[2:6]]
            action = int(row[6])
            person = int(row[7]) if len(row) == 8 else -1
        except ValueError as e:
            raise RecordError("malformed row", f"non-numeric field ({e})") from None
        if not all(0.0 <= v <= 1.0 for v in box) or box[0] >= box[2] or box[1] >= box[3]:
            raise RecordError("malformed row", f"box {box} is not normalised x1<x2, y1<y2 in 0-1")
        if action not in self.labels:
            raise RecordError("unknown label", f"action_id {action} is not in {self.config.label_map}")
        return video, ts, box, action, person

    def drafts_for(self, record: Record) -> list[ItemDraft]:
        rows, persons_in_frame = record.data
        video, ts, box, _, person = rows[0]
        check_component(video, "video id")
        actions = sorted({self.labels[r[3]] for r in rows})
        t = int(ts) - (900 if self.config.layout == "cut_900_1800" else 0)
        half = self.config.clip_half_span_s
        start, end = max(0.0, t - half), t + half
        crop = None
        if persons_in_frame > 1:  # several people: show only the one asked about
            m = PERSON_BOX_MARGIN
            crop = Crop(left=max(0.0, box[0] - m), top=max(0.0, box[1] - m), right=min(1.0, box[2] + m),
                        bottom=min(1.0, box[3] + m))
        # One kind of action per question (the person's pose, or what they do with objects, or with people), with
        # wrong options of that kind: every person has exactly one pose, so a question mixing kinds would let
        # "pick the pose" answer it without the video.
        rng = seeded_rng(self.seed, self.name, record.record_id, "AR")
        kinds = sorted({self.types.get(a, "action") for a in actions})
        kind = rng.choice(kinds)
        of_kind = [a for a in actions if self.types.get(a, "action") == kind]
        answers = rng.sample(of_kind, min(len(of_kind), MAX_AR_ANSWERS))
        vocabulary = self._vocabulary(kind)
        media = self._video(video)
        return [self.draft(
            task="AR", record_id=record.record_id,
            provenance=Provenance(source=self.name, record_id=record.record_id, group=video, original_file=self.rel(media),
                                  start_s=start, end_s=end, annotation_file=record.file.name,
                                  annotation_row=record.row),
            answers=answers, distractors=distractor_pool(vocabulary, actions, ACTION_CONFUSABLE), vocabulary=vocabulary,
            clip=ClipSpec(kind="span", source_path=str(media), start_s=start, end_s=end, crop=crop,
                          required_end_s=max(start, float(t))),  # the keyframe; the second after it is context
            annotations={"actions": actions, "action_kind": kind, "person_id": person, "box": box, "keyframe_s": t,
                         "persons_in_frame": persons_in_frame})]
