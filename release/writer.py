"""Write a release folder atomically: build everything in a temporary sibling, then swap it into place.

Layout (extended by later stages):
    data/items.parquet        one row per question (humansense.schema.ITEM_ARROW_SCHEMA), zstd
    videos/<clip>.mp4         the clips the items point at (relative paths)
    quarantine.jsonl          every refused record, with stage, reason, file and row
    build_report.json         counts per task, quarantine by reason, cache use, provenance
    audit/bias_audit.csv|png  blind answerers' accuracy per task against chance
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pyarrow.parquet as pq

from humansense.io import write_json, write_jsonl
from humansense.schema import Item, Quarantined, items_to_table


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)  # clips are immutable once cut, so a hard link is a safe, free copy
    except OSError:
        shutil.copy2(src, dst)


def write_release(release_dir: Path, items: list[Item], clips_dir: Path, quarantined: list[Quarantined],
                  report: dict, extra_files: dict[str, Path] | None = None) -> Path:
    release_dir = Path(release_dir)
    tmp = release_dir.with_name(f".{release_dir.name}.tmp-{uuid.uuid4().hex[:8]}")
    tmp.mkdir(parents=True)
    try:
        (tmp / "data").mkdir()
        pq.write_table(items_to_table(items), tmp / "data" / "items.parquet", compression="zstd")
        for rel in sorted({i.media.path for i in items}):
            _link_or_copy(clips_dir / Path(rel).name, tmp / rel)
        for rel, src in (extra_files or {}).items():
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, tmp / rel)
        write_jsonl(tmp / "quarantine.jsonl", quarantined)
        write_json(tmp / "build_report.json", report)
        old = release_dir.with_name(f".{release_dir.name}.old-{uuid.uuid4().hex[:8]}")
        if release_dir.exists():
            os.replace(release_dir, old)
        os.replace(tmp, release_dir)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return release_dir
