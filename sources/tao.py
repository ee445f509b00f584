"""TAO -> HC (how many distinct people appear, across cuts and re-appearances; one digit).

Format: the published format: a COCO-style JSON with `videos`, `images`, `tracks`, `annotations`, `categories`.
People are the LVIS category whose synset is `person.n.01` (named "baby" in LVIS v0.5, so never matched by name),
plus categories merged into it. The answer is the number of distinct person tracks in the video; a video whose
person annotations are marked not exhaustive cannot give a trustworthy count and is quarantined. The clip is the
video's frame sequence from its first to its last annotated frame, assembled at the native frame rate.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from humansense.ids import safe_join
from humansense.schema import ClipSpec, ItemDraft, Provenance
from humansense.sections import SourceConfig
from humansense.sources.base import Record, RecordError, SourceAdapter


class TaoConfig(SourceConfig):
    annotation_files: list[str] = ["validation.json"]  # TAO's COCO-style JSON (videos, tracks, categories)
    frames_dir: str = "frames"  # the JPEG frames, at the paths the JSON names
    fps: float = 30.0  # TAO stores no fps; frames were dumped at the source's native rate (~30)
    person_synset: str = "person.n.01"  # the category whose distinct tracks HC counts


_FRAME_NAME = re.compile(r"^(?P<prefix>.*?)(?P<number>\d+)(?P<ext>\.[A-Za-z0-9]+)$")


class TaoAdapter(SourceAdapter):
    name = "tao"
    tasks = ("HC",)
    published_files = ("train.json", "validation.json", "annotations/train.json", "annotations/validation.json")
    config: TaoConfig

    def annotation_files(self) -> list[Path]:
        return [self.root / f for f in self.config.annotation_files]

    def records(self) -> Iterable[Record]:
        for path in self.annotation_files():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                videos, images, tracks = data["videos"], data["images"], data["tracks"]
                annotations, categories = data.get("annotations", []), data["categories"]
            except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as e:
                self.quarantine("malformed annotation file", f"{path.name}: not a TAO annotation file ({e!r})",
                                file=path)
                continue
            person_ids = set()
            for c in categories:
                if c.get("synset") == self.config.person_synset:
                    person_ids.add(c["id"])
                    person_ids.update(m["id"] for m in c.get("merged", []) if isinstance(m, dict))
            person_tracks: dict[int, set[int]] = defaultdict(set)
            for t in tracks:
                if t.get("category_id") in person_ids:
                    person_tracks[t["video_id"]].add(t["id"])
            track_video = {t["id"]: t["video_id"] for t in tracks}
            for a in annotations:  # tracks referenced only by annotations still count
                if a.get("category_id") in person_ids and a.get("track_id") in track_video:
                    person_tracks[track_video[a["track_id"]]].add(a["track_id"])
            frames: dict[int, list[str]] = defaultdict(list)
            for im in images:
                frames[im["video_id"]].append(im["file_name"])
            for n, v in enumerate(videos, start=1):
                yield Record(file=path, row=n, record_id=str(v.get("name")), data={
                    "video": v, "person_ids": person_ids, "tracks": sorted(person_tracks.get(v.get("id"), ())),
                    "frames": sorted(frames.get(v.get("id"), []))})

    def drafts_for(self, record: Record) -> list[ItemDraft]:
        video, name = record.data["video"], record.record_id
        if record.data["person_ids"] & set(video.get("not_exhaustive_category_ids", [])):
            raise RecordError("person tracks not exhaustive", f"video {name}: people are not exhaustively "
                                                              f"annotated, so the count is unknown")
        count = len(record.data["tracks"])
        if count == 0:  # the paper's HC counts the people a video shows: its questions presuppose someone
            raise RecordError("no person to count", f"video {name}: no person track (HC asks how many people "
                                                    f"appear, so it takes videos with at least one)")
        if count > 9:
            raise RecordError("count outside 0-9", f"video {name}: {count} people; answers are one digit")
        if not record.data["frames"]:
            raise RecordError("no annotated frames", f"video {name}: no images belong to it")
        first, last, pattern = self._frame_range(name, record.data["frames"])
        folder = safe_join(self.root / self.config.frames_dir, name, "video name")
        # Every other count may be a candidate, drawn by how often it is an answer (augment): neighbours preferred
        # would make "the middle value" the answer.
        pool = [str(c) for c in range(1, 10) if c != count]  # 0 is never an answer, so never a candidate
        start_s, end_s = first / self.config.fps, (last + 1) / self.config.fps
        return [self.draft(
            task="HC", record_id=name,
            provenance=Provenance(source=self.name, record_id=name, group=name, original_file=self.rel(folder),
                                  start_s=start_s,
                                  end_s=end_s, annotation_file=record.file.name, annotation_row=record.row),
            answers=[str(count)], distractors=pool,
            clip=ClipSpec(kind="frames", source_path=str(folder), frame_pattern=pattern, first_frame=first,
                          frame_count=last - first + 1, fps=self.config.fps),
            annotations={"person_track_ids": record.data["tracks"], "annotated_frames": len(record.data["frames"])})]

    def _frame_range(self, name: str, file_names: list[str]) -> tuple[int, int, str]:
        numbers, patterns = [], set()
        for f in file_names:
            folder, _, base = f.rpartition("/")
            m = _FRAME_NAME.match(base)
            if folder != name or not m:
                raise RecordError("unsupported frame naming", f"video {name}: image {f!r} is not "
                                                              f"'<video name>/<prefix><number>.<ext>'")
            numbers.append(int(m["number"]))
            patterns.add(f"{m['prefix']}%0{len(m['number'])}d{m['ext']}")
        if len(patterns) != 1:
            raise RecordError("unsupported frame naming", f"video {name}: mixed frame names {sorted(patterns)}")
        return min(numbers), max(numbers), patterns.pop()
