"""RealTalk (Geng et al. 2023) -> TR (who says this utterance?) and ES (which expression should the listener show?).

Input (the published format): `videos/<youtube_id>.avi` at 25 fps (the untarred shards) and `emoca/<youtube_id>.pkl`,
the released per-frame EMOCA face parameters, `{frame_idx: {"p0": {..., "pose": [...]}, "p1": {...}}}`, with p0 the
person on the LEFT and p1 on the RIGHT. RealTalk's ASR and annotation files have no documented schema, so they are
not read: the build's annotate step runs our ASR (segments with times) and our facial-emotion annotator (faces, left
and right, over the replies ES comes to in its seeded order, `read_faces`) and leaves them as evidence.

Who speaks a segment: the person whose jaw moves. FLAME's pose vector is global rotation (3) then jaw rotation (3),
and the jaw opens about the x axis, so `pose[3]` is the jaw opening; over the segment's frames, the speaker's jaw
opening varies (speech) and the listener's stays still. A segment is attributed only when one person's variation is
`speaker_margin` times the other's; the figures are stored on the item.

TR: an attributed utterance of at least `min_words` words, said once in the video, asked with context around it;
options "The person on the left" / "on the right". ES: a segment by one person followed by the other's reply; the
clip is the speaker's segment and the answer is the listener's real expression over the reply (the facial-emotion
annotator's dominant expression on the listener's half), when the face is seen often and the expression is clear.

EMOCA files are pickles; pickles can run code, so they are read with an unpickler that only builds numbers, lists,
dicts and numpy arrays, and refuses anything else.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from pydantic import Field

from humansense.annotators.steps import ConversationStep
from humansense.ids import check_component, seeded_rng
from humansense.schema import ClipSpec, ItemDraft, Provenance
from humansense.sections import SourceConfig
from humansense.sources.base import (Record, RecordError, SourceAdapter, distractor_pool, transcript_of,
                                     transcript_segments)


class RealtalkConfig(SourceConfig):
    videos_dir: str = "videos"  # the untarred `videos_{00..13}.tar` shards: `<youtube_id>.avi`
    emoca_dir: str = "emoca"  # the untarred `emoca.tar.gz`: `<youtube_id>.pkl`, per-frame face parameters of p0/p1
    fps: float = 25.0  # RealTalk's videos are 25 fps; EMOCA frame numbers count those frames from 0
    window_s: float | None = 600.0  # ASR and face reading cover this much of each video (None: all of it)
    min_words: int = 4  # TR utterances shorter than this are too ambiguous to ask about
    speaker_margin: float = 1.5  # the speaker's jaw must move this many times more than the other person's
    tr_before_s: float = 40.0  # TR clip: context before the utterance ...
    tr_after_s: float = 20.0  # ... and after it (the paper's TR clips are mostly 50-100 s)
    max_per_video: int = Field(default=3, ge=1)  # TR and ES items each, so no single conversation dominates
    min_face_share: float = 0.5  # ES: the listener's face must be found in this share of the reply's frames
    min_emotion_score: float = 0.4  # ES: and the dominant expression must reach this mean score


SIDES = {"p0": "left", "p1": "right"}
PERSON = {"p0": "The person on the left", "p1": "The person on the right"}
EXPRESSIONS = {"angry": "Angry", "disgust": "Disgusted", "fear": "Fearful", "happy": "Happy", "sad": "Sad",
               "surprise": "Surprised", "neutral": "Neutral"}
EXPRESSION_CONFUSABLE = [frozenset({"Angry", "Disgusted"}), frozenset({"Fearful", "Surprised"})]
JAW_OPENING = 3  # index of the jaw's x rotation in FLAME's 6-value pose
VIDEO_EXTENSIONS = (".avi", ".mp4", ".mkv")


class _NumbersOnly(pickle.Unpickler):
    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"), ("numpy", "ndarray"),
               ("numpy", "dtype"), ("collections", "OrderedDict")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refused to load {module}.{name} (only numbers and arrays are allowed)")
        return super().find_class(module, name)


def load_emoca(path: Path) -> dict:
    try:
        data = _NumbersOnly(io.BytesIO(path.read_bytes())).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError) as e:
        raise RecordError("malformed annotation", f"{path.name}: not an EMOCA pickle of arrays ({e})") from None
    if not isinstance(data, dict):
        raise RecordError("malformed annotation", f"{path.name}: expected {{frame: {{p0, p1}}}}, got "
                                                  f"{type(data).__name__}")
    return data


def jaw_activity(emoca: dict, first: int, last: int) -> dict[str, float | None]:
    """Per person, the standard deviation of the jaw opening over frames first..last (None if seen in < half)."""
    out: dict[str, float | None] = {}
    frames = range(first, last + 1)
    for person in SIDES:
        values = []
        for f in frames:
            entry = emoca.get(f, {}).get(person) if isinstance(emoca.get(f), dict) else None
            pose = entry.get("pose") if isinstance(entry, dict) else None
            if pose is not None and np.size(pose) > JAW_OPENING:
                values.append(float(np.ravel(pose)[JAW_OPENING]))
        out[person] = round(float(np.std(values)), 5) if len(values) >= max(2, len(frames) / 2) else None
    return out


def speaker_of(activity: dict[str, float | None], margin: float) -> str | None:
    a, b = activity["p0"], activity["p1"]
    if a is None or b is None:
        return None
    if a >= margin * max(b, 1e-6):
        return "p0"
    if b >= margin * max(a, 1e-6):
        return "p1"
    return None


class RealtalkAdapter(SourceAdapter):
    name = "realtalk"
    tasks = ("TR", "ES")
    steps = (ConversationStep,)
    config: RealtalkConfig

    def annotation_steps(self) -> list:
        return [ConversationStep(window_s=self.config.window_s)]  # faces: `read_faces` says over which segments

    def most_drafts_per_record(self, task: str) -> int:
        return self.config.max_per_video

    def _video_files(self) -> list[Path]:
        folder = self.root / self.config.videos_dir
        return sorted(p for p in folder.glob("*") if p.suffix in VIDEO_EXTENSIONS) if folder.is_dir() else []

    def videos(self) -> list[tuple[str, Path]]:
        return [(p.stem, p) for p in self._video_files()]

    def emoca_file(self, video_id: str) -> Path:
        return self.root / self.config.emoca_dir / f"{video_id}.pkl"

    def annotation_files(self) -> list[Path]:
        emoca = [self.emoca_file(p.stem) for p in self._video_files() if self.emoca_file(p.stem).is_file()]
        evidence = sorted(self.evidence_dir.glob("*.json")) if self.evidence_dir else []
        return emoca + evidence

    def parse(self, sink=None, quarantine_sink=None, only=None):
        if not self._video_files():
            self.quarantine("missing annotation file", f"no videos in {self.root / self.config.videos_dir}",
                            file=self.root)
            return self.result
        return super().parse(sink, quarantine_sink, only)

    def records(self) -> Iterable[Record]:
        for n, video in enumerate(self._video_files(), start=1):
            yield Record(file=video, row=n, record_id=video.stem, data=video)

    def drafts_for(self, record: Record) -> list[ItemDraft]:
        video_id = check_component(record.record_id, "video id")
        asr = self.evidence(video_id, "asr")
        if not asr or asr.get("status") != "ok":
            raise RecordError("no transcript", f"video {video_id}: " + (asr or {}).get("reason", "ASR did not run"))
        emoca_path = self.emoca_file(video_id)
        if not emoca_path.is_file():
            raise RecordError("no speaker evidence", f"video {video_id}: {self.rel(emoca_path)} is missing (who "
                                                     "speaks is read from the per-person EMOCA jaw motion)")
        faces = (self.evidence(video_id, "faces") or {}).get("segments", [])
        by_index = {entry.get("index", k): entry for k, entry in enumerate(faces)}  # read segments only
        segments = self._segments(asr, load_emoca(emoca_path), by_index)
        common = dict(video_id=video_id, record=record, media=record.data, asr=asr)
        drafts = self._talking_person(segments, **common) + self._emo_strategy(segments, **common)
        if not drafts:
            attributed = sum(s["speaker"] is not None for s in segments)
            raise RecordError("no usable segment", f"video {video_id}: {len(segments)} ASR segments, {attributed} "
                                                   "attributed to one person; none gave a TR or ES question")
        return drafts

    def _segments(self, asr: dict, emoca: dict, faces: dict[int, dict]) -> list[dict]:
        """The ASR segments with who speaks each (EMOCA jaw motion) and the faces read over it, if any."""
        segments, fps = [], self.config.fps
        for k, seg in enumerate(asr["segments"]):
            first = int(seg["start"] * fps)
            activity = jaw_activity(emoca, first, max(first, int(seg["end"] * fps) - 1))
            segments.append({"index": k, "start": round(seg["start"], 3), "end": round(seg["end"], 3),
                             "text": seg["text"].strip(), "jaw_activity": activity,
                             "speaker": speaker_of(activity, self.config.speaker_margin), "faces": faces.get(k)})
        return segments

    def read_faces(self, video_id: str, asr: dict, read) -> dict[int, dict]:
        """The faces the ES question needs, read on demand: `read(index)` gives a segment's faces entry. ES's own
        pick is run with the listener's face read only when a reply comes up in its seeded order, so a ten-minute
        conversation has its faces read over a few replies, not over all ~170 segments (the parse then makes the
        same ES drafts as from faces read everywhere). Without usable EMOCA nobody speaks, and nothing is read (the
        parse quarantines the record with the reason)."""
        check_component(video_id, "video id")
        if not self.emoca_file(video_id).is_file() or asr.get("status") != "ok":
            return {}
        try:
            emoca = load_emoca(self.emoca_file(video_id))
        except RecordError:
            return {}
        entries: dict[int, dict] = {}

        def read_reply(reply: dict) -> dict:
            entries[reply["index"]] = read(reply["index"])
            return entries[reply["index"]]

        self._es_picks(self._segments(asr, emoca, {}), video_id, read_reply)
        return entries

    def _provenance(self, video_id: str, record: Record, start: float, end: float) -> Provenance:
        return Provenance(source=self.name, record_id=video_id, group=video_id, original_file=self.rel(record.data),
                          start_s=start, end_s=end, annotation_file=self.emoca_file(video_id).name,
                          annotation_row=None)

    def _pick(self, candidates: list[dict], video_id: str, purpose: str, span=lambda s: (s["start"], s["end"]),
              usable=lambda s: True) -> list[dict]:
        """At most `max_per_video` candidates in a seeded order whose clip spans do not overlap: selection never
        puts overlapping items of one conversation in a split, so an overlapping pick would be a draft annotated
        for nothing (TR's clips reach 40 s before and 20 s after the utterance). `usable` is asked last, and only
        of candidates that would otherwise be taken (for ES it may read faces)."""
        rng = seeded_rng(self.seed, purpose, video_id)
        chosen: list[tuple[float, float, dict]] = []
        for seg in rng.sample(candidates, len(candidates)):
            start, end = span(seg)
            if all(end <= a or b <= start for a, b, _ in chosen) and usable(seg):
                chosen.append((start, end, seg))
                if len(chosen) == self.config.max_per_video:
                    break
        return sorted((seg for _, _, seg in chosen), key=lambda s: s["index"])

    def _talking_span(self, seg: dict) -> tuple[float, float]:
        return max(0.0, seg["start"] - self.config.tr_before_s), seg["end"] + self.config.tr_after_s

    def _talking_person(self, segments: list[dict], video_id: str, record: Record, media: Path,
                        asr: dict) -> list[ItemDraft]:
        said = [s["text"].lower() for s in segments]
        candidates = [s for s in segments if s["speaker"] and len(s["text"].split()) >= self.config.min_words
                      and said.count(s["text"].lower()) == 1]
        drafts = []
        for seg in self._pick(candidates, video_id, "tr", self._talking_span):
            start, end = self._talking_span(seg)
            other = "p1" if seg["speaker"] == "p0" else "p0"
            drafts.append(self.draft(
                task="TR", record_id=f"{video_id}-s{seg['index']}", answers=[PERSON[seg["speaker"]]],
                distractors=[PERSON[other]], template_vars={"utterance": seg["text"].rstrip(".")},
                clip=ClipSpec(kind="span", source_path=str(media), start_s=start, end_s=end,
                              required_end_s=seg["end"]),  # the utterance; the 20 s after it are context
                provenance=self._provenance(video_id, record, start, end),
                annotations={"utterance": seg["text"], "segment": {"start": seg["start"], "end": seg["end"]},
                             "speaker": seg["speaker"], "speaker_side": SIDES[seg["speaker"]],
                             "jaw_activity": seg["jaw_activity"], "speaker_evidence": "EMOCA jaw opening (pose[3])",
                             "utterance_in_clip_s": [round(seg["start"] - start, 3), round(seg["end"] - start, 3)],
                             "asr_en": transcript_of(asr, start, end),
                             "transcript_segments": transcript_segments(asr, start, end)}))
        return drafts

    def _listener_expression(self, faces: dict | None, listener: str) -> dict | None:
        summary = (faces or {}).get(SIDES[listener])
        if not summary or summary["frames_sampled"] == 0:
            return None
        if summary["frames_with_face"] / summary["frames_sampled"] < self.config.min_face_share:
            return None
        if summary["distribution"][summary["dominant"]] < self.config.min_emotion_score:
            return None
        return summary

    @staticmethod
    def _replies(segments: list[dict]) -> list[dict]:
        """A segment by one person followed by the other's reply: the ES candidates, before faces are looked at."""
        return [{**said, "reply": reply} for said, reply in zip(segments, segments[1:])
                if said["speaker"] and reply["speaker"] and said["speaker"] != reply["speaker"]]

    def _es_picks(self, segments: list[dict], video_id: str, faces_of) -> list[tuple[dict, dict]]:
        """ES's seeded pick of (said, reply) pairs with the listener's clear expression over the reply; the reply's
        faces come from `faces_of(reply)`, asked only when the pick comes to it (the parse: the evidence; the
        annotate step: the facial-emotion annotator, `read_faces`)."""
        expressions: dict[int, dict | None] = {}

        def usable(pair: dict) -> bool:
            reply = pair["reply"]
            expressions[pair["index"]] = self._listener_expression(faces_of(reply), reply["speaker"])
            return expressions[pair["index"]] is not None

        return [(pair, expressions[pair["index"]])
                for pair in self._pick(self._replies(segments), video_id, "es", usable=usable)]

    def _emo_strategy(self, segments: list[dict], video_id: str, record: Record, media: Path,
                      asr: dict) -> list[ItemDraft]:
        drafts = []
        for pair, expression in self._es_picks(segments, video_id, lambda reply: reply["faces"]):
            reply = pair["reply"]
            answer = EXPRESSIONS[expression["dominant"]]
            drafts.append(self.draft(
                task="ES", record_id=f"{video_id}-s{pair['index']}", answers=[answer],
                distractors=distractor_pool(EXPRESSIONS.values(), [answer], EXPRESSION_CONFUSABLE),
                clip=ClipSpec(kind="span", source_path=str(media), start_s=pair["start"], end_s=pair["end"]),
                provenance=self._provenance(video_id, record, pair["start"], pair["end"]),
                annotations={"speaker": pair["speaker"], "utterance": pair["text"], "listener": reply["speaker"],
                             "listener_side": SIDES[reply["speaker"]],
                             "reply": {"start": reply["start"], "end": reply["end"], "text": reply["text"]},
                             "listener_expression": expression, "jaw_activity": pair["jaw_activity"],
                             "asr_en": transcript_of(asr, pair["start"], pair["end"]),
                             "transcript_segments": transcript_segments(asr, pair["start"], pair["end"])}))
        return drafts
