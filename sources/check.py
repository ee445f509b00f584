"""`humansense sources check`: everything a build will touch, short of decoding.

Per source: the annotation files parsed (records read, drafts per task, quarantined records with their reasons),
published annotation files present under the root but not read by the config (warnings), missing optional files
(warnings), and the media of every draft: it exists, ffprobe can read it (once per file) and it is long enough for
the draft's span; a frame folder holds the frames the clip needs. Errors: a required annotation file missing, no
record read, no draft made, no media found at all. Everything else is a warning (real downloads always miss a few
videos); `--strict` makes warnings fail too.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from humansense.media import SPAN_TOLERANCE_S, MediaError, probe_source
from humansense.schema import ClipSpec, ItemDraft
from humansense.sources.base import SourceAdapter



@dataclass
class MediaCheck:
    files: int = 0
    problems: Counter = field(default_factory=Counter)  # reason -> drafts
    examples: dict[str, list[str]] = field(default_factory=dict)  # reason -> a few "file: detail" lines

    def add(self, reason: str, detail: str) -> None:
        self.problems[reason] += 1
        shown = self.examples.setdefault(reason, [])
        if len(shown) < 5:
            shown.append(detail)


def unread_published_files(adapter: SourceAdapter) -> list[str]:
    """Published annotation files under the root that the config does not read."""
    read = {f.resolve() for f in adapter.annotation_files()}
    found = {p.resolve() for pattern in adapter.published_files for p in adapter.root.glob(pattern) if p.is_file()}
    return sorted(adapter.rel(p) for p in found - read)


def _frames_problem(clip: ClipSpec) -> str | None:
    folder = Path(clip.source_path)
    if not folder.is_dir():
        return "missing media"
    last = clip.first_frame + (clip.frame_count or 1) - 1
    for index in (clip.first_frame, last):
        if not (folder / (clip.frame_pattern % index)).is_file():
            return "missing frames"
    return None


def check_media(drafts: list[ItemDraft], timeout_s: float, media: MediaCheck) -> None:
    probed: dict[str, float | MediaError] = {}
    for draft in drafts:
        clip, where = draft.clip, draft.provenance.original_file
        if clip.kind == "frames":
            if clip.source_path not in probed:
                probed[clip.source_path] = 0.0
                media.files += 1
            problem = _frames_problem(clip)
            if problem:
                media.add(problem, f"{where}: frames {clip.first_frame}.. of {clip.frame_pattern}")
            continue
        if clip.source_path not in probed:
            media.files += 1
            try:
                probed[clip.source_path] = probe_source(Path(clip.source_path), timeout_s).duration_s
            except MediaError as e:
                probed[clip.source_path] = e
        found = probed[clip.source_path]
        if isinstance(found, MediaError):
            media.add(found.reason, f"{where}: {found.detail}")
        elif (needed := clip.end_s if clip.required_end_s is None else clip.required_end_s) is not None \
                and needed > found + SPAN_TOLERANCE_S:
            media.add("media shorter than its span",
                      f"{where}: {found:.1f} s long, {draft.id} needs {clip.start_s:g}-{needed:g} s")


def check_source(adapter: SourceAdapter, *, media: bool = True, timeout_s: float = 60.0) -> dict:
    """The source's parse summary with `errors`, `warnings` and (with `media`) a `media` account."""
    result = adapter.parse()
    summary = result.summary()
    errors: list[str] = []
    warnings = list(result.warnings)
    missing = [q.detail for q in result.quarantined if q.reason in ("missing annotation file", "empty annotation file")]
    errors += missing
    if not missing and result.records_read == 0:
        errors.append("no record read from the annotation files")
    elif result.records_read and not result.drafts and not adapter.evidence_kinds:
        errors.append(f"{result.records_read} records read, none usable (see the quarantine reasons)")
    for name in unread_published_files(adapter):
        warnings.append(f"{name} is present but not read by the config")
    if result.quarantined and not missing:
        top = ", ".join(f"{r} ({n})" for r, n in Counter(q.reason for q in result.quarantined).most_common(3))
        warnings.append(f"{len(result.quarantined)} records quarantined: {top}")
    if media and result.drafts:
        account = MediaCheck()
        check_media(result.drafts, timeout_s, account)
        summary["media"] = {"files": account.files, "drafts": len(result.drafts),
                            "problems": dict(account.problems), "examples": account.examples}
        bad = sum(account.problems.values())
        if bad == len(result.drafts):
            errors.append(f"no draft has usable media ({dict(account.problems)}); is the media folder configured?")
        elif bad:
            warnings.append(f"{bad} of {len(result.drafts)} drafts lack usable media: "
                            + ", ".join(f"{r} ({n})" for r, n in account.problems.most_common()))
    summary["errors"], summary["warnings"] = errors, warnings
    return summary

