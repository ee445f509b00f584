"""CelebV-HQ (`celebvhq_info.json`) -> PA (appearance, select one or more) and ER (emotion, single choice).

Format: the published format (official README + download script). Videos are found as the official script leaves
them: `processed/<clip_id>.mp4` (already cut and cropped) if present, else `raw/<ytb_id>.mp4`, cut here at the
clip's span and cropped to its box expanded by the margin and squared, as the script does.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import ijson

from humansense.ids import check_component, seeded_rng
from humansense.schema import ClipSpec, Crop, ItemDraft, Provenance
from humansense.sections import SourceConfig
from humansense.sources.base import Record, RecordError, SourceAdapter, distractor_pool


class CelebvhqConfig(SourceConfig):
    annotation_file: str = "celebvhq_info.json"  # the release's JSON (clips with attributes, emotions, actions)
    min_emotion_segment_s: float = 1.0  # shorter emotion segments (sep_flag) are too brief to ask about
    bbox_margin: float = 0.02  # the official script expands the box by 0.02 and squares it


EMOTIONS = {  # stored label -> option text
    "neutral": "Neutral", "anger": "Anger", "contempt": "Contempt", "disgust": "Disgust",
    "happy": "Happy", "fear": "Fear", "sadness": "Sad", "surprise": "Surprise",
}
NOT_APPEARANCE = {"blurry"}  # a property of the footage, not of the person
# Attributes that imply or are easily mistaken for each other: never one as a wrong option when another is present.
APPEARANCE_CONFUSABLE = [
    frozenset({"bald", "receding_hairline"}),
    frozenset({"eyeglasses", "sunglasses"}),
    frozenset({"heavy_makeup", "wearing_lipstick"}),
    frozenset({"chubby", "double_chin"}),
    frozenset({"black_hair", "brown_hair"}),
    frozenset({"no_beard", "5_o_clock_shadow", "goatee", "mustache", "sideburns"}),
]
MAX_PA_ANSWERS = 3


@lru_cache(maxsize=256)  # 40 attribute names, in every one of 35,666 clips
def appearance_text(label: str) -> str:
    text = label.strip().lower().replace("_", " ")
    text = "5 o'clock shadow" if text == "5 o clock shadow" else text
    return text[0].upper() + text[1:]


class CelebvhqAdapter(SourceAdapter):
    name = "celebvhq"
    tasks = ("PA", "ER")
    published_files = ("celebvhq_info.json",)
    config: CelebvhqConfig

    def annotation_files(self) -> list[Path]:
        return [self.root / self.config.annotation_file]

    def records(self) -> Iterable[Record]:
        """The clips as they are read (`ijson`): the file is checked whole first, so a broken file gives no
        drafts at all, and memory does not grow with the file's 35,666 clips."""
        path = self.annotation_files()[0]
        self.reading = path
        try:
            meta, clips = _meta_info(path), _count_clips(path)
        except ijson.JSONError as e:
            self.quarantine("malformed annotation file", f"{path.name}: not valid UTF-8 JSON ({_json_error(e)})",
                            file=path)
            return
        if not isinstance(meta, dict) or clips is None:
            self.quarantine("malformed annotation file", f"{path.name}: needs 'meta_info' and 'clips' objects", file=path)
            return
        self.appearance_names = [str(a).lower() for a in meta.get("appearance_mapping", [])]
        self.vocabulary = [n for n in self.appearance_names if n not in NOT_APPEARANCE]
        self.vocabulary_texts = [appearance_text(n) for n in self.vocabulary]
        with open(path, "rb") as f:
            for row, (clip_id, clip) in enumerate(ijson.kvitems(f, "clips", use_float=True), start=1):
                yield Record(file=path, row=row, record_id=clip_id, data=clip)

    def drafts_for(self, record: Record) -> list[ItemDraft]:
        clip_id = check_component(record.record_id, "clip id")
        clip = record.data
        try:
            ytb_id = check_component(clip.get("ytb_id") or clip_id.rsplit("_", 1)[0], "YouTube id")
            start, end = float(clip["duration"]["start_sec"]), float(clip["duration"]["end_sec"])
            bbox = clip["bbox"]
            appearance = clip["attributes"]["appearance"]
            emotion = clip["attributes"]["emotion"]
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise RecordError("malformed record", f"clip {clip_id}: missing or invalid field {e}") from None
        if not 0 <= start < end:
            raise RecordError("bad time span", f"clip {clip_id}: start_sec {start} must be < end_sec {end}")
        if len(appearance) != len(self.appearance_names) or any(v not in (0, 1) for v in appearance):
            raise RecordError("malformed record", f"clip {clip_id}: appearance must be {len(self.appearance_names)} "
                                                  f"values of 0/1, got {len(appearance)}")
        media, span, crop = self._media(clip_id, ytb_id, start, end, bbox)
        prov = dict(source=self.name, record_id=clip_id, group=ytb_id, original_file=self.rel(media),
                    annotation_file=record.file.name, annotation_row=record.row)
        drafts = []
        present = [n for n, v in zip(self.appearance_names, appearance) if v == 1]
        positives = [n for n in present if n not in NOT_APPEARANCE]
        if positives:
            rng = seeded_rng(self.seed, self.name, clip_id, "PA")
            answers = rng.sample(positives, rng.randint(1, min(MAX_PA_ANSWERS, len(positives))))
            pool = distractor_pool(self.vocabulary, present, APPEARANCE_CONFUSABLE)
            drafts.append(self.draft(
                task="PA", record_id=clip_id,
                provenance=Provenance(**prov, start_s=span[0], end_s=span[1]),
                answers=[appearance_text(a) for a in answers], distractors=[appearance_text(d) for d in pool],
                vocabulary=self.vocabulary_texts,
                clip=ClipSpec(kind="span", source_path=str(media), start_s=span[0], end_s=span[1], crop=crop),
                annotations={"appearance_present": present}))
        else:
            self.quarantine("no usable label", f"clip {clip_id}: no appearance attribute is set", file=record.file,
                            row=record.row, record_id=clip_id, task="PA")
        drafts.extend(self._emotion_draft(record, clip_id, emotion, media, span, crop, prov))
        return drafts

    def _media(self, clip_id: str, ytb_id: str, start: float, end: float, bbox: dict):
        processed = self.root / "processed" / f"{clip_id}.mp4"
        if processed.exists():
            return processed, (0.0, end - start), None
        try:
            m = self.config.bbox_margin
            crop = Crop(left=max(0.0, bbox["left"] - m), top=max(0.0, bbox["top"] - m),
                        right=min(1.0, bbox["right"] + m), bottom=min(1.0, bbox["bottom"] + m), square=True)
        except (KeyError, TypeError, ValueError) as e:
            raise RecordError("malformed record", f"clip {clip_id}: bad bbox {bbox!r} ({e})") from None
        return self.root / "raw" / f"{ytb_id}.mp4", (start, end), crop

    def _emotion_draft(self, record, clip_id, emotion, media, span, crop, prov) -> list[ItemDraft]:
        labels = emotion.get("labels") if isinstance(emotion, dict) else None
        if not emotion.get("sep_flag"):
            if not isinstance(labels, str):
                raise RecordError("malformed record", f"clip {clip_id}: emotion.labels must be a string when "
                                                      f"sep_flag is false")
            label, seg, params = labels, span, None
        else:
            segments = []
            for s in labels if isinstance(labels, list) else []:
                try:
                    segments.append((float(s["end_sec"]) - float(s["start_sec"]), float(s["start_sec"]),
                                     float(s["end_sec"]), s["emotion"]))
                except (KeyError, TypeError, ValueError):
                    raise RecordError("malformed record", f"clip {clip_id}: bad emotion segment {s!r}") from None
            if not segments:
                raise RecordError("malformed record", f"clip {clip_id}: sep_flag is true but labels has no segments")
            length, s0, s1, label = max(segments, key=lambda x: (x[0], -x[1]))  # longest; earliest on ties
            if length < self.config.min_emotion_segment_s:
                self.quarantine("segment too short", f"clip {clip_id}: longest emotion segment lasts {length:g} s "
                                f"(< {self.config.min_emotion_segment_s:g} s)", file=record.file, row=record.row,
                                record_id=clip_id, task="ER")
                return []
            seg, params = (span[0] + s0, min(span[0] + s1, span[1])), {"segment": [s0, s1]}
        key = str(label).strip().lower()
        if key not in EMOTIONS:
            raise RecordError("unknown label", f"clip {clip_id}: emotion {label!r} is not one of {sorted(EMOTIONS)}")
        return [self.draft(
            task="ER", record_id=clip_id, params=params,
            provenance=Provenance(**prov, start_s=seg[0], end_s=seg[1]),
            answers=[EMOTIONS[key]], distractors=distractor_pool(EMOTIONS.values(), [EMOTIONS[key]]),
            clip=ClipSpec(kind="span", source_path=str(media), start_s=seg[0], end_s=seg[1], crop=crop),
            annotations={"emotion": key, "segment_in_clip": params["segment"] if params else None})]


def _meta_info(path: Path):
    """The file's `meta_info` object (`mete_info` in older README revisions); None when it has neither."""
    for key in ("meta_info", "mete_info"):
        with open(path, "rb") as f:
            meta = next(ijson.items(f, key, use_float=True), None)  # stops reading once found (it comes first)
        if meta is not None:
            return meta
    return None


def _count_clips(path: Path) -> int | None:
    """How many clips the `clips` object holds, reading the whole file (so a syntax or encoding error anywhere
    raises before any draft is made); None when `clips` is missing or not an object."""
    n = 0
    with open(path, "rb") as f:
        for n, _ in enumerate(ijson.kvitems(f, "clips"), start=1):
            pass
    if n:
        return n
    with open(path, "rb") as f:
        clips = next(ijson.items(f, "clips"), None)
    return 0 if isinstance(clips, dict) else None


def _json_error(e: Exception) -> str:
    """ijson's message (bytes from its C backend), on one line."""
    text = e.args[0].decode("utf-8", "replace") if e.args and isinstance(e.args[0], bytes) else str(e)
    return " ".join(text.split())[:200]
