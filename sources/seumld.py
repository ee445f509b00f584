"""SEUMLD (Southeast University multimodal lie detection) -> LD: is the speaker lying in this segment?

SEUMLD's own file layout is not public (no card, loader or paper text describes it), so this
adapter reads a manifest format of OURS, which a user writes once from the dataset they were granted:

    seumld_manifest.csv  (UTF-8, header row, one segment per row)
    clip_id,subject_id,video,start_s,end_s,label,transcript
    s01_q03,s01,videos/s01.mp4,12.0,31.5,lie,"optional transcript"

`video` is relative to the root; `label` is `truth` or `lie`; `subject_id` groups a person's segments so that one
person never straddles the eval and train splits. The sample's manifest is in this format, not SEUMLD's.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

from humansense.ids import check_component, safe_join
from humansense.schema import ClipSpec, ItemDraft, Provenance
from humansense.sections import SourceConfig
from humansense.sources.base import Record, RecordError, SourceAdapter


class SeumldConfig(SourceConfig):
    manifest: str = "seumld_manifest.csv"  # our own manifest format (SEUMLD's is not public): see sources/seumld.py
    min_segment_s: float = 2.0  # shorter manifest segments are too brief to ask about


COLUMNS = ("clip_id", "subject_id", "video", "start_s", "end_s", "label")
ANSWER = {"lie": "Yes", "truth": "No"}


class SeumldAdapter(SourceAdapter):
    name = "seumld"
    tasks = ("LD",)
    published_files = ("seumld_manifest.csv",)
    config: SeumldConfig

    def annotation_files(self) -> list[Path]:
        return [self.root / self.config.manifest]

    def records(self) -> Iterable[Record]:
        path = self.annotation_files()[0]
        try:
            with path.open(encoding="utf-8-sig", newline="") as f:
                reader = csv.DictReader(f)
                missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
                if missing:
                    self.quarantine("malformed annotation file", f"{path.name}: header lacks {', '.join(missing)} "
                                    f"(expected {','.join(COLUMNS)},transcript)", file=path, row=1)
                    return
                for row in reader:
                    yield Record(file=path, row=reader.line_num, record_id=row.get("clip_id"), data=row)
        except (UnicodeDecodeError, csv.Error) as e:
            self.quarantine("malformed annotation file", f"{path.name}: {e}", file=path)

    def drafts_for(self, record: Record) -> list[ItemDraft]:
        row = record.data
        clip_id = check_component((row.get("clip_id") or "").strip(), "clip id")
        subject = check_component((row.get("subject_id") or "").strip(), "subject id")
        label = (row.get("label") or "").strip().lower()
        if label not in ANSWER:
            raise RecordError("unknown label", f"label {row.get('label')!r} is neither 'truth' nor 'lie'")
        try:
            start, end = float(row["start_s"]), float(row["end_s"])
        except (TypeError, ValueError):
            raise RecordError("malformed row", f"start_s/end_s {row.get('start_s')!r}, {row.get('end_s')!r} are "
                                               "not numbers") from None
        if not 0 <= start < end:
            raise RecordError("bad span", f"segment {start:g}-{end:g} s is empty or negative")
        if end - start < self.config.min_segment_s:
            raise RecordError("segment too short", f"{end - start:g} s; LD needs {self.config.min_segment_s:g} s")
        video = safe_join(self.root, (row.get("video") or "").strip(), "video path")
        answer = ANSWER[label]
        return [self.draft(
            task="LD", record_id=clip_id, answers=[answer], distractors=[ANSWER["truth" if label == "lie" else "lie"]],
            clip=ClipSpec(kind="span", source_path=str(video), start_s=start, end_s=end),
            provenance=Provenance(source=self.name, record_id=clip_id, group=subject, original_file=self.rel(video),
                                  start_s=start, end_s=end, annotation_file=record.file.name,
                                  annotation_row=record.row),
            annotations={"label": label, "subject_id": subject,
                         **({"transcript": row["transcript"].strip()} if (row.get("transcript") or "").strip() else {})})]
