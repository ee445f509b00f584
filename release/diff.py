"""What a release changed against the previous one: items added, removed and changed per task and split, with reasons.

Items are matched by id (ids are stable: the same source record and task give the same id in every build). A
changed item names what differs, in the order a maintainer asks about it:

    source record changed   the labels, the answer or the span the item was made from
    source row moved        the same record at another row of its file (rows added or removed above it)
    clip changed            the same record's clip has other content (new source media or encoder settings)
    options changed         the wrong options or the answer's letter
    template changed        only the question's wording

A removed item names why, from the new release's quarantine report where the record is there ("quarantined:
<reason>", "QC rejected: <reason>"), otherwise "no longer selected or no longer in the source". An added item is
"new source record" when no item of the old release came from that record, otherwise "newly selected".

The previous release is a release folder or a Hub dataset (`hf://<owner>/<name>[@revision]`, only its Parquet
shards and quarantine report are fetched).
"""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from humansense.io import read_jsonl
from humansense.schema import Item, Quarantined

DIFF_FILE = "release_diff.json"
HUB_PREFIX = "hf://"
NO_PREVIOUS = "no previous release"


def _record(item: Item) -> tuple[str, str]:
    return item.provenance.source, item.provenance.record_id


def change_reasons(old: Item, new: Item) -> list[str]:
    """Why an item with the same id differs between two releases (empty: it did not change)."""
    def unplaced(p):  # the record itself, wherever its row is in the file
        return p.model_copy(update={"annotation_row": None})

    record_changed = (old.answer_texts() != new.answer_texts() or old.annotations != new.annotations
                      or unplaced(old.provenance) != unplaced(new.provenance))
    options_changed = [o.text for o in old.options] != [o.text for o in new.options] or old.answer != new.answer
    reasons = [reason for reason, happened in (
        ("source record changed", record_changed),
        ("source row moved", not record_changed and old.provenance.annotation_row != new.provenance.annotation_row),
        ("clip changed", old.media.path != new.media.path),
        ("options changed", options_changed and not record_changed)) if happened]
    if not reasons and (old.question != new.question or old.question_pattern != new.question_pattern):
        reasons.append("template changed")
    if not reasons and old.model_dump(exclude={"qc_status"}) != new.model_dump(exclude={"qc_status"}):
        reasons.append("other fields changed")
    return reasons


def _removal_reasons(quarantined: list[Quarantined]) -> dict[tuple[str, str], str]:
    reasons = {}
    for q in quarantined:
        if q.record_id is None:
            continue
        label = f"QC rejected: {q.reason.removeprefix('rejected in review: ')}" if q.stage == "qc" else (
            f"quarantined: {q.reason}")
        reasons.setdefault((q.source, q.record_id), label)
    return reasons


@dataclass
class ReleaseDiff:
    previous: str  # where the old release came from (folder or hf:// address), or NO_PREVIOUS
    added: list[dict] = field(default_factory=list)  # {id, task, split, reason}
    removed: list[dict] = field(default_factory=list)
    changed: list[dict] = field(default_factory=list)  # {id, task, split, reasons, moved_from}
    unchanged: int = 0
    note: str = ""  # why no comparison was made, when the previous release could not be read

    def per_task(self) -> dict[str, dict[str, int]]:
        """Counts per "TASK/split": added, removed, changed."""
        table: dict[str, Counter] = defaultdict(Counter)
        for kind in ("added", "removed", "changed"):
            for row in getattr(self, kind):
                table[f"{row['task']}/{row['split']}"][kind] += 1
        return {k: {kind: table[k][kind] for kind in ("added", "removed", "changed")} for k in sorted(table)}

    def reasons(self) -> dict[str, dict[str, int]]:
        out = {"added": Counter(r["reason"] for r in self.added),
               "removed": Counter(r["reason"] for r in self.removed),
               "changed": Counter(reason for r in self.changed for reason in r["reasons"])}
        return {k: dict(v.most_common()) for k, v in out.items()}

    def summary_line(self) -> str:
        if self.previous == NO_PREVIOUS:
            return f"not compared: {self.note}" if self.note else "first release (no previous release to compare with)"
        return (f"+{len(self.added)} added, -{len(self.removed)} removed, ~{len(self.changed)} changed, "
                f"{self.unchanged} unchanged items against {self.previous}")

    def to_json(self) -> dict:
        return {"previous": self.previous, "summary": self.summary_line(),
                "counts": {"added": len(self.added), "removed": len(self.removed), "changed": len(self.changed),
                           "unchanged": self.unchanged},
                "per_task": self.per_task(), "reasons": self.reasons(),
                "added": self.added, "removed": self.removed, "changed": self.changed}


def diff_items(old: list[Item], new: list[Item], new_quarantine: list[Quarantined], previous: str) -> ReleaseDiff:
    old_by_id = {i.id: i for i in old}
    new_by_id = {i.id: i for i in new}
    old_records = {_record(i) for i in old}
    removed_why = _removal_reasons(new_quarantine)
    diff = ReleaseDiff(previous=previous)
    for item_id in sorted(new_by_id.keys() - old_by_id.keys()):
        item = new_by_id[item_id]
        reason = "newly selected" if _record(item) in old_records else "new source record"
        diff.added.append({"id": item_id, "task": item.task, "split": item.split, "reason": reason})
    for item_id in sorted(old_by_id.keys() - new_by_id.keys()):
        item = old_by_id[item_id]
        reason = removed_why.get(_record(item), "no longer selected or no longer in the source")
        diff.removed.append({"id": item_id, "task": item.task, "split": item.split, "reason": reason})
    for item_id in sorted(old_by_id.keys() & new_by_id.keys()):
        before, after = old_by_id[item_id], new_by_id[item_id]
        reasons = change_reasons(before, after)
        if before.split != after.split:
            reasons.append(f"moved from {before.split}")
        if reasons:
            diff.changed.append({"id": item_id, "task": after.task, "split": after.split, "reasons": reasons})
        else:
            diff.unchanged += 1
    return diff


def release_items(folder: Path) -> tuple[list[Item], list[Quarantined]]:
    """The eval and train items and the quarantine report of a release folder."""
    from humansense.release.score import load_items

    folder = Path(folder)
    quarantine = folder / "quarantine.jsonl"
    return load_items(folder), list(read_jsonl(quarantine, Quarantined)) if quarantine.exists() else []


def fetch_hub_release(address: str, dest: Path, *, endpoint: str | None = None, token: str | None = None) -> Path:
    """Download the shards and quarantine report of a Hub release (`hf://owner/name[@revision]`) into `dest`."""
    import shutil

    from huggingface_hub import snapshot_download

    shutil.rmtree(dest, ignore_errors=True)  # files of an older fetch must not pass for this one's
    repo, _, revision = address.removeprefix(HUB_PREFIX).partition("@")
    return Path(snapshot_download(repo, repo_type="dataset", revision=revision or None, local_dir=dest,
                                  allow_patterns=["data/*/*.parquet", "quarantine.jsonl"],
                                  endpoint=endpoint or os.environ.get("HF_ENDPOINT"), token=token))


def previous_items(previous: str | Path | None, scratch: Path) -> list[Item] | None:
    """The previous release's items, or None when there is none (a first build, a new Hub repository)."""
    if previous is None:
        return None
    if str(previous).startswith(HUB_PREFIX):
        from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

        try:
            folder = fetch_hub_release(str(previous), scratch)
        except (RepositoryNotFoundError, RevisionNotFoundError):
            return None
    else:
        folder = Path(previous)
    if not any(folder.glob("data/*/*.parquet")):
        return None
    return release_items(folder)[0]


def release_diff(previous: str | Path | None, new_items: list[Item], new_quarantine: list[Quarantined],
                 scratch: Path, label: str | None = None) -> ReleaseDiff:
    """`label` names the previous release in the outputs (a local path is never published)."""
    label = label or str(previous)
    try:
        old = previous_items(previous, scratch)
    except OSError as e:  # an unreachable Hub never stops a build: the diff says it was not made
        return ReleaseDiff(previous=NO_PREVIOUS, note=f"{label} could not be read ({type(e).__name__})")
    if old is None:
        return ReleaseDiff(previous=NO_PREVIOUS, added=[{"id": i.id, "task": i.task, "split": i.split,
                                                         "reason": "first release"} for i in new_items])
    return diff_items(old, new_items, new_quarantine, label)


def diff_label(previous: str | Path, own_release: Path) -> str:
    if str(previous).startswith(HUB_PREFIX):
        return str(previous)
    if Path(previous).resolve() == Path(own_release).resolve():
        return "the previous release in this build folder"
    return f"release folder {Path(previous).name}"


def diff_markdown(diff: dict) -> str:
    """The card's section: the summary line, a table per task and split, and the reasons."""
    lines = [diff["summary"] + "."]
    if diff["previous"] == NO_PREVIOUS or not diff["per_task"]:
        return "\n".join(lines)
    lines += ["", "| task/split | added | removed | changed |", "|---|---|---|---|"]
    lines += [f"| {k} | {v['added']} | {v['removed']} | {v['changed']} |" for k, v in diff["per_task"].items()]
    for kind, reasons in diff["reasons"].items():
        if reasons:
            lines += ["", f"{kind.capitalize()}: " + "; ".join(f"{r} {n}" for r, n in reasons.items()) + "."]
    return "\n".join(lines)


def load_diff(release: Path) -> dict | None:
    path = Path(release) / DIFF_FILE
    return json.loads(path.read_text()) if path.exists() else None
