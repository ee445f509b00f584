"""The media stage: plan clip batches from drafts, cut each batch, and look the results up by draft.

A clip's key is a digest of what determines its bytes (the clip spec without its machine-specific path, the
source file's fingerprint, the encoder settings and the cutter version), so identical spans requested by two
tasks are cut once, and a rebuild where nothing changed finds every clip in place.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from humansense.sections import MediaConfig
from humansense.faults import checkpoint
from humansense.ids import digest
from humansense.io import read_jsonl, write_json, write_jsonl
from humansense.keyed import code_key, stat_signature, touch_and_prune
from humansense.media import CUTTER_VERSION, TRANSIENT_REASONS, MediaError, cut_clip, fingerprint, sha256_file
from humansense.schema import ClipSpec, ItemDraft, Media, Provenance, Quarantined
from humansense.selection.select import SELECTED_MEDIA
from humansense.stages import KeyedStage
from humansense.sources.stage import missing_media
from humansense.tasks import task


def clip_key(spec: ClipSpec, source_fingerprint: str, media: MediaConfig) -> str:
    encoding = {"max_height": media.max_height, "crf": media.crf, "preset": media.preset}
    # `output` joins the key only for audio clips, so video clip keys (and cached clips) stay as they were.
    exclude = {"source_path"} | ({"output"} if spec.output == "video" else set()) | (
        {"required_end_s"} if spec.required_end_s is None else set())
    return digest(spec.model_dump(exclude=exclude), source_fingerprint, encoding, CUTTER_VERSION, length=24)


@dataclass(frozen=True)
class MediaPlan:
    batches: list[Path]  # batch files, each named by the digest of its contents
    clip_of: dict[str, str]  # draft id -> clip key
    quarantined: list[Quarantined]


def plan_batches(draft_files: list[Path], batches_dir: Path, media: MediaConfig,
                 selected: Collection[str] | None = None) -> MediaPlan:
    """Batches of the clips the `selected` drafts need (all drafts when None); each source file fingerprinted once."""
    fingerprints: dict[str, str | None] = {}
    clips: dict[str, ClipSpec] = {}
    clip_of: dict[str, str] = {}
    owner: dict[str, Provenance] = {}  # clip key -> the record that first asked for it
    quarantined: list[Quarantined] = []
    for path in draft_files:
        for draft in read_jsonl(path, ItemDraft, only=selected):
            src = draft.clip.source_path
            if src not in fingerprints:
                p = Path(src)
                fingerprints[src] = fingerprint(p) if p.exists() else None
            if fingerprints[src] is None:
                quarantined.append(missing_media(draft))
                continue
            key = clip_key(draft.clip, fingerprints[src], media)
            first = owner.setdefault(key, draft.provenance)
            if first.group_key != draft.provenance.group_key:
                # Byte-identical media under two records of different groups (a re-upload, a duplicate
                # download): one clip cannot be in two groups, so the second is refused, naming both.
                quarantined.append(Quarantined.of(
                    draft, "media", "duplicate media",
                    f"{draft.provenance.source} {draft.provenance.record_id} ({draft.provenance.original_file}) has "
                    f"the same media and span as {first.source} {first.record_id} ({first.original_file})"))
                continue
            clips[key] = draft.clip
            clip_of[draft.id] = key
    # Batches group clips of the same source file (one decoder warm-up, one disk region), in a stable order.
    ordered = sorted(clips, key=lambda k: (clips[k].source_path, clips[k].start_s or 0, k))
    batches = []
    for i in range(0, len(ordered), media.batch_size):
        members = [{"key": k, "spec": clips[k].model_dump(mode="json")} for k in ordered[i:i + media.batch_size]]
        body = {"clips": members, "media": media.model_dump(mode="json"), "cutter": CUTTER_VERSION}
        batch = batches_dir / f"{digest(body, length=24)}.json"
        if not batch.exists():
            write_json(batch, body)
        batches.append(batch)
    return MediaPlan(batches=batches, clip_of=clip_of, quarantined=quarantined)


PLANNED_BATCHES = "batches.json"


def plan_key(draft_files: list[Path], selection: Path, media: MediaConfig) -> str:
    """What decides the media plan: the parse outputs and the selection (both folders keyed by content), the media
    settings, this code, and the size and modification time of each selected media file (its fingerprint reads the
    file's ends, too slow to ask of every file on every rebuild)."""
    sources = json.loads(selection.with_name(SELECTED_MEDIA).read_text())
    return digest("plan", [str(f) for f in draft_files], str(selection), media.model_dump(mode="json"),
                  CUTTER_VERSION, code_key(__name__),
                  [(s, stat_signature(s)) for s in sources], length=24)


def plan_media(draft_files: list[Path], selection: Path, folder: Path, batches: Path, media: MediaConfig) -> dict:
    """The plan-media stage of a build: batches (in `batches`, named by content) of the selected drafts' clips, and
    the draft -> clip map in `folder`."""
    chosen = json.loads(selection.read_text())["split"]
    plan = plan_batches(draft_files, batches, media, selected=chosen)
    write_jsonl(folder / "quarantine.jsonl", plan.quarantined)
    write_json(folder / "clip_of.json", plan.clip_of)
    write_json(folder / PLANNED_BATCHES, [str(b) for b in plan.batches])  # last: marks the output complete
    touch_and_prune(folder)
    return {"batches": [str(b) for b in plan.batches], "clip_of": str(folder / "clip_of.json"),
            "quarantine": str(folder / "quarantine.jsonl")}


def plan_done(folder: Path) -> bool:
    """Whether `folder` holds a complete media plan whose batch files are all in place."""
    listed = folder / PLANNED_BATCHES
    return listed.exists() and all(Path(b).exists() for b in json.loads(listed.read_text()))


PLAN_MEDIA = KeyedStage("plan media", "plan", key=plan_key, done=plan_done)


def clip_paths(clips_dir: Path, key: str, suffix: str = ".mp4") -> tuple[Path, Path]:
    return clips_dir / f"{key}{suffix}", clips_dir / f"{key}.json"


def recorded(out: Path, meta: Path) -> str | None:
    """What a clip's files on disk say: "reused" (cut and recorded), "failed" (a failure recorded: it stays
    quarantined until its input changes) or None (still to cut: no record, or a record whose clip was lost)."""
    if not meta.exists():
        return None
    if out.exists():
        return "reused"
    return "failed" if json.loads(meta.read_text()).get("error") else None


def done_batch_counts(batch: Path, clips_dir: Path) -> dict[str, int] | None:
    """A batch whose every clip has its result on disk, told without running it: {"reused", "failed"} (None when
    a clip still has to be cut). What `cut_batch` would return, without a task run per batch on a rebuild."""
    counts = {"cut": 0, "reused": 0, "failed": 0}
    for member in json.loads(batch.read_text())["clips"]:
        state = recorded(*clip_paths(clips_dir, member["key"], ClipSpec.model_validate(member["spec"]).suffix))
        if state is None:
            return None
        counts[state] += 1
    return counts


def cut_batch(batch: Path, clips_dir: Path) -> dict[str, int]:
    """Cut every clip of a batch not already cut; record each result (probe or error) beside the clip."""
    body = json.loads(batch.read_text())
    media = MediaConfig.model_validate(body["media"])
    counts = {"cut": 0, "reused": 0, "failed": 0}
    for member in body["clips"]:
        spec = ClipSpec.model_validate(member["spec"])
        out, meta = clip_paths(clips_dir, member["key"], spec.suffix)
        state = recorded(out, meta)
        if state is not None:
            counts[state] += 1
            continue
        try:
            info = cut_clip(spec, out, max_height=media.max_height, crf=media.crf, preset=media.preset,
                            timeout_s=media.timeout_s)
            if info.duration_s < media.min_clip_s:
                out.unlink(missing_ok=True)
                raise MediaError("clip too short", f"{spec.source_path}: the clip lasts {info.duration_s:.3f} s "
                                                   f"({info.frame_count or '?'} frames); at least "
                                                   f"{media.min_clip_s:g} s are needed to ask about it")
            record = {"duration_s": info.duration_s, "width": info.width, "height": info.height, "fps": info.fps,
                      "frame_count": info.frame_count, "sha256": sha256_file(out)}
            counts["cut"] += 1
        except MediaError as e:
            counts["failed"] += 1
            if e.reason in TRANSIENT_REASONS:  # not about the input: left unrecorded, tried again next build
                counts["transient"] = counts.get("transient", 0) + 1
                continue
            record = {"error": {"reason": e.reason, "detail": e.detail}}
        write_json(meta, record)
        checkpoint("cut")
    return counts


def media_for(draft: ItemDraft, key: str, clips_dir: Path) -> Media:
    """The release's view of a cut clip, or MediaError with the reason the cut failed."""
    out, meta = clip_paths(clips_dir, key, draft.clip.suffix)
    if not meta.exists():
        raise MediaError("clip not cut", f"clip {key} for {draft.id} has no result")
    record = json.loads(meta.read_text())
    if "error" in record:
        raise MediaError(record["error"]["reason"], record["error"]["detail"])
    if not out.exists():
        raise MediaError("clip not cut", f"clip {key} for {draft.id} is recorded but missing on disk")
    folder = "videos" if task(draft.task).modality == "video" else "audios"
    return Media(path=f"data/{folder}/{key}{draft.clip.suffix}", modality=task(draft.task).modality, **record)


CLIP_SPECS = "clip_specs.json"  # in the augment stage's output: item id -> where its clip was cut from


def clip_spec_record(source: str, original_file: str, spec: ClipSpec) -> dict:
    """What the manifest keeps of a clip's spec: everything but the build machine's absolute source path."""
    return {"source": source, "original_file": original_file,
            "spec": spec.model_dump(mode="json", exclude={"source_path"}, exclude_none=True)}
