"""Jester v1 -> GR (which hand gesture; single choice).

Format: the published one. `jester-v1-labels.csv` holds one label per line; train/validation CSVs are
`<video_id>;<label>` with no header; frames are `20bn-jester-v1/<video_id>/00001.jpg`... (1-based), assembled
into a clip at the dataset's 12 fps. Labels are matched by exact text, as the official parser does.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from humansense.ids import check_component
from humansense.schema import ClipSpec, ItemDraft, Provenance
from humansense.sections import SourceConfig
from humansense.sources.base import Record, RecordError, SourceAdapter, distractor_pool


class JesterConfig(SourceConfig):
    labels_file: str = "jester-v1-labels.csv"  # the 27 gesture names, one a line
    annotation_files: list[str] = ["jester-v1-validation.csv"]  # `id;label` rows
    frames_dir: str = "20bn-jester-v1"  # a folder of JPEG frames per video id
    fps: float = 12.0  # Jester's frame rate, for the assembled clip


NOT_GESTURES = {"No gesture", "Doing other things"}  # classes of the dataset that name no gesture to recognise


class JesterAdapter(SourceAdapter):
    name = "jester"
    tasks = ("GR",)
    published_files = ("jester-v1-labels.csv", "jester-v1-train.csv", "jester-v1-validation.csv")
    config: JesterConfig

    def annotation_files(self) -> list[Path]:
        return [self.root / self.config.labels_file] + [self.root / f for f in self.config.annotation_files]

    def records(self) -> Iterable[Record]:
        self.labels = [line.strip() for line in self.read_text(self.root / self.config.labels_file).splitlines()
                       if line.strip()]
        for name in self.config.annotation_files:
            path = self.root / name
            for n, line in enumerate(self.read_lines(path), start=1):
                if line.strip():
                    yield Record(file=path, row=n, record_id=line.split(";", 1)[0].strip(), data=line)

    def drafts_for(self, record: Record) -> list[ItemDraft]:
        fields = record.data.split(";")
        if len(fields) != 2:
            raise RecordError("malformed row", f"expected '<video_id>;<label>', got {record.data!r}")
        video_id, label = fields[0].strip(), fields[1].strip()
        if not video_id.isdigit():
            check_component(video_id, "video id")  # raises for '../x' and the like
            raise RecordError("malformed row", f"video id {video_id!r} is not an integer")
        if label not in self.labels:
            raise RecordError("unknown label", f"{label!r} is not in {self.config.labels_file}")
        if label in NOT_GESTURES:
            raise RecordError("label not used for GR", f"{label!r} names no gesture")
        frames = self.root / self.config.frames_dir / video_id
        return [self.draft(
            task="GR", record_id=video_id,
            provenance=Provenance(source=self.name, record_id=video_id, group=video_id, original_file=self.rel(frames),
                                  annotation_file=record.file.name, annotation_row=record.row),
            answers=[label], distractors=distractor_pool(gestures := [x for x in self.labels if x not in NOT_GESTURES],
                                                         [label]), vocabulary=gestures,
            clip=ClipSpec(kind="frames", source_path=str(frames), frame_pattern="%05d.jpg", first_frame=1,
                          fps=self.config.fps),
            annotations={"label": label})]
