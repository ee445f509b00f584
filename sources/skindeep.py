"""The Skin Deep "{THE AND}" videos (downloaded by `humansense sources fetch`) -> FR, RG and RR.

Input: a yt-dlp download folder: `<id>.<ext>` beside `<id>.info.json` (the published format; missing keys are
tolerated, as `--clean-info-json` drops them). The relationship and the length of acquaintance are read from the
on-screen captions first (OCR evidence, written by the build's annotate step into its evidence folder as
`<id>.ocr.json`), then from the title and the description (`humansense.sources.relations`). FR asks how long they
have known each other (more than 3 years / less than 1 year), RG what their relationship is. The evidence (caption
text, time and confidence, or the title words) is stored on each item. RR asks whether the talk is harmonious or
has challenges: the rapport score of the transcript's first 150 s (the packaged LLM's, or a hand-kept review).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path

from pydantic import model_validator

from humansense.ids import check_component
from humansense.schema import ClipSpec, ItemDraft, Provenance
from humansense.sections import SourceConfig
from humansense.sources.base import (Record, SourceAdapter, distractor_pool, find_video, transcript_of,
                                     transcript_segments)
from humansense.annotators.rapport import rapport_label
from humansense.annotators.steps import CaptionsStep, TranscriptsStep
from humansense.sources.fetch import STATUS_FILE, withdrawn_ids
from humansense.sources.youtube import FetchConfig
from humansense.sources.relations import (FAMILIAR, RELATIONS, UNFAMILIAR, boilerplate_lines, familiarity,
                                          read_relation)


class SkindeepConfig(SourceConfig):
    clip_s: float = 150.0  # FR/RG clips: the first 100-150 s of the conversation, as in the paper
    caption_window_s: float = 60.0  # captions naming the couple appear early; OCR reads this much of each video
    min_confidence: float = 0.8  # OCR lines below this are not used as evidence
    rr_min_words: int = 25  # a transcript shorter than this is too little to judge rapport from
    rapport_reviews: str | None = "rapport.reviewed.jsonl"  # reviewed scores in the root, used instead of the LLM's
    fetch: FetchConfig = FetchConfig()  # download the videos in the build (root = the download folder)

    @model_validator(mode="after")
    def _fetch_needs_a_folder(self):
        if self.fetch.configured() and self.root is None:
            raise ValueError("fetch needs root: the download folder the videos are fetched into")
        return self


VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm")
RELATION_CONFUSABLE = [frozenset({"Dating", "Engaged"})]  # an engaged couple is also dating


def upload_year(info: dict) -> int | None:
    """The year the video was uploaded (`upload_date` YYYYMMDD, else `timestamp`), for "together since 2015"."""
    date = str(info.get("upload_date") or "")
    if re.fullmatch(r"(19|20)\d{6}", date):
        return int(date[:4])
    if isinstance(info.get("timestamp"), (int, float)):
        return datetime.fromtimestamp(info["timestamp"], tz=timezone.utc).year
    return None


YTDLP_DEFAULT_NAME = re.compile(r".* \[(?P<id>[A-Za-z0-9_-]{11})\]")  # yt-dlp's "%(title)s [%(id)s].%(ext)s"


def video_id_of(stem: str, info_path: Path, info: dict | None = None) -> str:
    """The YouTube id of a download: the name itself (our layout, `<id>.info.json`), the id in yt-dlp's default
    `<title> [<id>]`, or the info.json's `id` field; as given otherwise (checked as an id when it is used)."""
    if re.fullmatch(r"[A-Za-z0-9_-]{11}", stem):
        return stem
    m = YTDLP_DEFAULT_NAME.fullmatch(stem)
    if m:
        return m.group("id")
    if info is None:
        try:
            info = json.loads(info_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return stem
    found = info.get("id") if isinstance(info, dict) else None
    return found if isinstance(found, str) and re.fullmatch(r"[A-Za-z0-9_-]{6,64}", found) else stem


class SkindeepAdapter(SourceAdapter):
    name = "skindeep"
    tasks = ("FR", "RG", "RR")
    published_files = ("*.info.json",)
    steps = (CaptionsStep, TranscriptsStep)
    config: SkindeepConfig

    def annotation_steps(self) -> list:
        reviews = self.root / self.config.rapport_reviews if self.config.rapport_reviews else None
        return [CaptionsStep(window_s=self.config.caption_window_s),
                TranscriptsStep(window_s=self.config.clip_s, min_words=self.config.rr_min_words, reviews=reviews)]

    def hand_kept_files(self) -> list[Path]:
        return [self.root / self.config.rapport_reviews] if self.config.rapport_reviews else []

    def info_files(self) -> list[Path]:
        """The downloads' info.json files, less the videos the fetch stage found withdrawn (sources/fetch.py)."""
        withdrawn = withdrawn_ids(self.root)
        return sorted(p for p in self.root.glob("*.info.json")
                      if not withdrawn or video_id_of(p.name.removesuffix(".info.json"), p) not in withdrawn)

    def annotation_files(self) -> list[Path]:
        evidence = sorted(self.evidence_dir.glob("*.json")) if self.evidence_dir else []
        status = [self.root / STATUS_FILE] if (self.root / STATUS_FILE).is_file() else []
        return self.info_files() + status + evidence

    @cached_property
    def _stems(self) -> dict[str, str]:
        """Video id -> the name its files share: `<id>` (our layout) or yt-dlp's default `<title> [<id>]`, whose id
        is read from the name's brackets or from the info.json."""
        stems = {}
        for path in self.info_files():
            stem = path.name.removesuffix(".info.json")
            stems[video_id_of(stem, path)] = stem
        return stems

    def videos(self) -> list[tuple[str, Path]]:
        """(video id, media file) of every downloaded video: what the annotate step reads captions from."""
        return [(video_id, self._media(video_id)) for video_id in self._stems if self._media(video_id).exists()]

    @cached_property
    def boilerplate(self) -> frozenset[str]:
        """Description lines the channel repeats under many videos: read for nothing (they name every relation)."""
        def descriptions():
            for path in self.info_files():
                try:
                    info = json.loads(path.read_text(encoding="utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError):
                    continue  # quarantined when its record is read
                if isinstance(info, dict):
                    yield str(info.get("description") or "")
        return boilerplate_lines(descriptions())

    def _media(self, video_id: str) -> Path:
        return find_video(self.root, self._stems.get(video_id, video_id), VIDEO_EXTENSIONS)

    def parse(self, sink=None, quarantine_sink=None, only=None):
        if not self.info_files():
            self.quarantine("missing annotation file", f"no <id>.info.json in {self.root}", file=self.root)
            return self.result
        return super().parse(sink, quarantine_sink, only)

    def records(self) -> Iterable[Record]:
        for path in self.info_files():
            try:
                info = json.loads(path.read_text(encoding="utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                self.quarantine("malformed annotation file", f"{path.name}: not valid UTF-8 JSON ({e})", file=path)
                continue
            stem = path.name.removesuffix(".info.json")
            # one record per info.json: its row is 1, not its place among the downloads (which moves as they come and go)
            yield Record(file=path, row=1, record_id=video_id_of(stem, path, info), data=info)

    def drafts_for(self, record: Record) -> list[ItemDraft]:
        video_id = check_component(record.record_id, "video id")
        info = record.data if isinstance(record.data, dict) else {}
        media = self._media(video_id)
        captions = self._captions(video_id)
        title, description = str(info.get("title") or ""), str(info.get("description") or "")
        reading = read_relation([c["text"] for c in captions] + [title, description], as_of=upload_year(info),
                                boilerplate=self.boilerplate)
        duration = float(info.get("duration") or self.config.clip_s)
        end = min(duration, self.config.clip_s)
        evidence = {"title": title, "captions": captions, "relation_text": reading.relation_text,
                    "length_text": reading.length_text, "years": reading.years,
                    "source_of_evidence": "captions" if any(
                        reading.relation_text and reading.relation_text in c["text"].lower() or
                        reading.length_text and reading.length_text in c["text"] for c in captions) else "title"}
        asr_en = transcript_of(self.evidence(video_id, "asr"), 0.0, end)  # the authors' --asr mode reads it
        common = dict(record_id=video_id, annotations={"evidence": evidence, "uploader": info.get("uploader"),
                                                       "upload_date": info.get("upload_date"),
                                                       "license": info.get("license"),
                                                       **({"asr_en": asr_en} if asr_en else {}),
                                                       "transcript_segments": transcript_segments(
                                                           self.evidence(video_id, "asr"), 0.0, end)},
                      provenance=Provenance(source=self.name, record_id=video_id, group=video_id,
                                            original_file=self.rel(media), start_s=0.0, end_s=end,
                                            annotation_file=record.file.name, annotation_row=record.row),
                      # the conversation's opening, as long as the video has
                      clip=ClipSpec(kind="span", source_path=str(media), start_s=0.0, end_s=end, required_end_s=0.0))
        drafts = []
        if reading.relation is not None:
            drafts.append(self.draft(task="RG", answers=[reading.relation],
                                     distractors=distractor_pool(RELATIONS, [reading.relation], RELATION_CONFUSABLE),
                                     **common))
        else:
            self.quarantine("no relation found", f"video {video_id}: no relationship type in {len(captions)} "
                                                 f"captions, the title {title!r} or the description",
                            file=record.file, row=record.row, record_id=video_id, task="RG")
        bucket = familiarity(reading.years)
        if bucket is not None:
            other = UNFAMILIAR if bucket == FAMILIAR else FAMILIAR
            drafts.append(self.draft(task="FR", answers=[bucket], distractors=[other], **common))
        else:
            why = "no length found" if reading.years is None else "familiarity between buckets"
            self.quarantine(why, f"video {video_id}: length {reading.length_text!r} fits neither "
                                 f"'{FAMILIAR}' nor '{UNFAMILIAR}'" if reading.years is not None else
                            f"video {video_id}: no length of acquaintance in the evidence",
                            file=record.file, row=record.row, record_id=video_id, task="FR")
        drafts.extend(self._rapport_draft(record, video_id, common))
        return drafts

    def _rapport_draft(self, record: Record, video_id: str, common: dict) -> list[ItemDraft]:
        """RR: the transcript scored by the LLM (both made by the build's annotate step, read here as evidence)."""
        asr, score = self.evidence(video_id, "asr"), self.evidence(video_id, "rapport")
        where = dict(file=record.file, row=record.row, record_id=video_id, task="RR")
        text = (" ".join(s["text"] for s in asr.get("segments", [])) if asr and asr.get("status") == "ok" else "")
        if len(text.split()) < self.config.rr_min_words:
            why = asr.get("reason", "no speech") if asr and asr.get("status") != "ok" else f"{len(text.split())} words"
            self.quarantine("transcript too short", f"video {video_id}: {why} (RR needs "
                            f"{self.config.rr_min_words} words)", **where)
            return []
        if not score or score.get("status") != "ok":
            self.quarantine("rapport not scored", f"video {video_id}: {(score or {}).get('reason', 'no LLM score')}: "
                            f"{(score or {}).get('detail', '')}", **where)
            return []
        label = rapport_label(score["data"])
        if label is None:
            self.quarantine("rapport ambiguous", f"video {video_id}: mixed score {score['data']}", **where)
            return []
        other = "With challenges" if label == "Harmonious" else "Harmonious"
        annotations = {**common["annotations"], "transcript": text, "rapport": score["data"],
                       "llm": {"model": score.get("model"), "raw": score.get("raw")}}
        return [self.draft(task="RR", answers=[label], distractors=[other],
                           **{**common, "annotations": annotations})]

    def _captions(self, video_id: str) -> list[dict]:
        ocr = self.evidence(video_id, "ocr")
        if ocr is None:
            return []
        return [{"t": f["t"], "text": t["text"], "confidence": t["confidence"]}
                for f in ocr.get("frames", []) for t in f["texts"] if t["confidence"] >= self.config.min_confidence]
