"""Write a release folder atomically: build everything in a temporary sibling, then swap it into place.

Layout:
    README.md                         dataset card (YAML header for the Hub: configs per task + all, features)
    LICENSE.md                        the source datasets' terms and the takedown policy
    data/<TASK>/<split>-NNNNN-of-MMMMM.parquet   eval, train and tiny shards (zstd, size-bounded)
    data/videos/<clip>.mp4, data/audios/...      the media, loose files referenced by relative path
    data/HumanSense_VQA.json, data/HumanSense_AQA.json   the authors' evaluation format (eval split)
    data/train_data/merged_*.json     the authors' training files (train split), same record format
    lmms_eval/humansense.yaml, lmms_eval/utils.py         an lmms-eval task
    audit/bias_audit.csv|png          blind answerers' accuracy per task against chance
    quarantine.jsonl                  every refused record, with stage, reason, file and row
    build_report.json                 counts, quarantine by reason, cache use, audit, provenance
    release_diff.json                 items added, removed and changed against the previous release, with reasons
    media_manifest.json               reference releases: where each clip left out comes from, and its checksums
    manifest.json                     sha256 and size of every other file
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from humansense.config import ReleaseConfig
from humansense.faults import checkpoint
from humansense.io import write_json, write_jsonl, write_text_atomic
from humansense.release.authors import authors_files, authors_train_files
from humansense.release.diff import DIFF_FILE
from humansense.release.manifest import MANIFEST, read_manifest, write_manifest  # noqa: F401 (read_manifest: re-exported)
from humansense.release.reference import write_media_manifest
from humansense.release.card import card_header, card_text, licence_lines
from humansense.release.lmms_eval import lmms_eval_files
from humansense.release.shards import VIEWER_MAX_READ_BYTES, Shards, release_schema, write_shards
from humansense.schema import Item, Quarantined
from humansense.tasks import TASKS



@dataclass
class ParquetLayout:
    """What the shards came to, for the build report: files, row groups, the largest row group's media, and the
    clips too big for the Hub viewer's one read."""

    files: int = 0
    rows: int = 0
    row_groups: int = 0
    largest_row_group_bytes: int = 0
    embedded_bytes: int = 0
    oversized: list[str] = field(default_factory=list)

    def add(self, shards: Shards) -> None:
        for f in shards.files:
            self.files += 1
            self.rows += f.rows
            self.row_groups += len(f.row_groups)
            self.largest_row_group_bytes = max([self.largest_row_group_bytes, *f.row_groups])
            self.embedded_bytes += sum(f.row_groups)
        self.oversized += shards.oversized

    def summary(self) -> dict:
        return {"files": self.files, "rows": self.rows, "row_groups": self.row_groups,
                "largest_row_group_bytes": self.largest_row_group_bytes, "embedded_bytes": self.embedded_bytes,
                "viewer_max_read_bytes": VIEWER_MAX_READ_BYTES, "oversized_clips": sorted(self.oversized)}


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)  # clips are immutable once cut, so a hard link is a safe, free copy
    except OSError:
        shutil.copy2(src, dst)


def split_groups(items: list[Item], tiny: set[str]) -> dict[tuple[str, str], list[Item]]:
    """Items by (task, split), `tiny` (a subset of eval) included."""
    groups: dict[tuple[str, str], list[Item]] = defaultdict(list)
    for i in items:
        groups[(i.task, i.split)].append(i)
        if i.id in tiny:
            groups[(i.task, "tiny")].append(i)
    return groups


def split_counts(groups: dict[tuple[str, str], list[Item]]) -> dict[str, int]:
    return {f"{a}/{s}": len(v) for (a, s), v in sorted(groups.items())}


def write_release(release_dir: Path, items: list[Item], clips_dir: Path, quarantined: list[Quarantined],
                  report: dict, *, tiny: set[str] | None = None, audit: pd.DataFrame | None = None,
                  extra_files: dict[str, Path] | None = None, cfg: ReleaseConfig | None = None,
                  references: dict[str, dict] | None = None, diff: dict | None = None) -> Path:
    cfg = cfg or ReleaseConfig()
    tiny = tiny or set()
    audit = audit if audit is not None else pd.DataFrame()
    release_dir = Path(release_dir)
    for kind in ("tmp", "old"):  # left by a killed build; the build lock means no other writer is using them
        for stale in release_dir.parent.glob(f".{release_dir.name}.{kind}-*"):
            shutil.rmtree(stale, ignore_errors=True)
    tmp = release_dir.with_name(f".{release_dir.name}.tmp-{uuid.uuid4().hex[:8]}")
    tmp.mkdir(parents=True)
    try:
        references = references or {}
        for rel in sorted({i.media.path for i in items} - set(references)):  # referenced clips stay out
            _link_or_copy(clips_dir / Path(rel).name, tmp / rel)
        write_media_manifest(tmp, references)
        groups = split_groups(items, tiny)
        shards, hashed, layout = {}, {}, ParquetLayout()
        for (abbr, split), members in sorted(groups.items(), key=lambda kv: (list(TASKS).index(kv[0][0]), kv[0][1])):
            written = write_shards(members, tmp / "data" / abbr, split, cfg, tmp)
            shards[(abbr, split)] = [f.path.relative_to(tmp).as_posix() for f in written.files]
            hashed |= {f.path.relative_to(tmp).as_posix(): {"sha256": f.sha256, "bytes": f.bytes}
                       for f in written.files}
            layout.add(written)
        for name, records in {**authors_files(items), **authors_train_files(items)}.items():
            (tmp / "data" / name).parent.mkdir(parents=True, exist_ok=True)
            write_json(tmp / "data" / name, records)
        for rel, text in lmms_eval_files(sorted({i.task for i in items if i.split == "eval"})).items():
            write_text_atomic(tmp / rel, text)
        for rel, src in (extra_files or {}).items():
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, tmp / rel)
        report = {**report, "splits": split_counts(groups), "parquet_layout": layout.summary()}
        header = card_header(shards, release_schema(), cfg.pretty_name, len(items))
        write_text_atomic(tmp / "README.md", card_text(header, items, tiny, report, audit))
        used = {s: (report.get("media_modes") or {}).get(s, "files") for s in {i.provenance.source for i in items}}
        write_text_atomic(tmp / "LICENSE.md", "# Licences of the sources\n\n" + "\n".join(licence_lines(used))
                          + "\n\nSee README.md for the takedown policy.\n")
        write_jsonl(tmp / "quarantine.jsonl", quarantined)
        write_json(tmp / "build_report.json", report)
        if diff is not None:
            write_json(tmp / DIFF_FILE, diff)
        write_manifest(tmp, hashed)
        checkpoint("publish")  # the whole release written, not yet in place
        old = release_dir.with_name(f".{release_dir.name}.old-{uuid.uuid4().hex[:8]}")
        if release_dir.exists():
            os.replace(release_dir, old)
        os.replace(tmp, release_dir)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return release_dir
