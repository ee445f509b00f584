"""UCF-Crime -> AC (which abnormal event, or nothing abnormal; single choice).

Format: the published format: `Temporal_Anomaly_Annotation_for_Testing_Videos.txt`, six whitespace-separated fields
`<file> <class> <start1> <end1> <start2> <end2>` in frame numbers, -1 for absent. Videos are found by file name
anywhere under the root (the download folders `Anomaly-Videos-Part-N/<Class>/`, `Testing_Normal_Videos_Anomaly/`
do not match the list prefixes). The clip is the first anomalous interval with some context; a normal video gives
its opening seconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from humansense.ids import check_component
from humansense.schema import ClipSpec, ItemDraft, Provenance
from humansense.sections import SourceConfig
from humansense.sources.base import Record, RecordError, SourceAdapter, distractor_pool


class UcfCrimeConfig(SourceConfig):
    # the temporal annotation of the test videos (anomaly spans per video)
    annotation_file: str = "Temporal_Anomaly_Annotation_for_Testing_Videos.txt"
    pad_s: float = 2.0  # context before/after the annotated anomaly
    normal_clip_s: float = 20.0  # normal videos have no span: take this much from the start
    max_clip_s: float = 60.0  # longer anomaly spans are cut to this much around their start


CLASSES = {  # annotation class -> option text
    "Abuse": "Abuse", "Arrest": "Arrest", "Arson": "Arson", "Assault": "Assault", "Burglary": "Burglary",
    "Explosion": "Explosion", "Fighting": "Fighting", "RoadAccidents": "Road accident", "Robbery": "Robbery",
    "Shooting": "Shooting", "Shoplifting": "Shoplifting", "Stealing": "Stealing", "Vandalism": "Vandalism",
    "Normal": "Nothing abnormal",
}
# Classes (option texts) that overlap in meaning: a clip of one could fairly be called the other.
CONFUSABLE = [frozenset({"Robbery", "Stealing", "Burglary", "Shoplifting"}),
              frozenset({"Abuse", "Assault", "Fighting"}),
              frozenset({"Arson", "Explosion"})]
VIDEO_FPS = 30.0  # frame numbers in the annotation count frames of these 30 fps videos


class UcfCrimeAdapter(SourceAdapter):
    name = "ucf_crime"
    tasks = ("AC",)
    published_files = ("Temporal_Anomaly_Annotation*.txt",)
    config: UcfCrimeConfig

    def annotation_files(self) -> list[Path]:
        return [self.root / self.config.annotation_file]

    def records(self) -> Iterable[Record]:
        path = self.annotation_files()[0]
        self.videos = {p.name: p for p in sorted(self.root.rglob("*.mp4"))}
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError as e:
            self.quarantine("malformed annotation file", f"{path.name}: not UTF-8 ({e})", file=path)
            return
        for n, line in enumerate(lines, start=1):
            if line.strip():
                yield Record(file=path, row=n, record_id=line.split()[0], data=line.split())

    def drafts_for(self, record: Record) -> list[ItemDraft]:
        fields = record.data
        if len(fields) != 6:
            raise RecordError("malformed row", f"expected 6 fields '<file> <class> s1 e1 s2 e2', got {len(fields)}")
        name, label = check_component(fields[0], "video file name"), fields[1]
        if label not in CLASSES:
            raise RecordError("unknown label", f"class {label!r} is not one of {sorted(CLASSES)}")
        try:
            s1, e1, s2, e2 = (int(v) for v in fields[2:])
        except ValueError:
            raise RecordError("malformed row", f"frame numbers must be integers, got {fields[2:]}") from None
        cfg = self.config
        if label == "Normal":
            if (s1, e1) != (-1, -1):
                raise RecordError("malformed row", "a Normal video has no anomalous interval (-1 -1)")
            start, end = 0.0, cfg.normal_clip_s
            required = start  # any length of a normal video will do
        else:
            if s1 < 0 or e1 <= s1:
                raise RecordError("malformed row", f"anomalous video needs start1 < end1, got {s1} {e1}")
            start = max(0.0, s1 / VIDEO_FPS - cfg.pad_s)
            end = min(e1 / VIDEO_FPS + cfg.pad_s, start + cfg.max_clip_s)
            required = min(e1 / VIDEO_FPS, end)  # the anomaly itself; the padding after it is context
        media = self.videos.get(name, self.root / name)
        answer = CLASSES[label]
        return [self.draft(
            task="AC", record_id=name,
            provenance=Provenance(source=self.name, record_id=name, group=name, original_file=self.rel(media), start_s=start,
                                  end_s=end, annotation_file=record.file.name, annotation_row=record.row),
            answers=[answer], distractors=distractor_pool(CLASSES.values(), [answer], CONFUSABLE),
            clip=ClipSpec(kind="span", source_path=str(media), start_s=start, end_s=end, required_end_s=required),
            annotations={"class": label, "anomaly_frames": [[s1, e1], [s2, e2]] if s2 >= 0 else [[s1, e1]]})]
