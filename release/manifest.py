"""`manifest.json`: the sha256 and size of every other file of a release."""

from __future__ import annotations

import json
from pathlib import Path

from humansense.io import write_json
from humansense.media import sha256_file

MANIFEST = "manifest.json"


def write_manifest(root: Path, known: dict[str, dict] | None = None) -> dict[str, dict]:
    """sha256 and size of every file; `known` gives those already hashed while they were written (the shards)."""
    known = known or {}
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.name != MANIFEST)
    manifest = {}
    for path in files:
        rel = path.relative_to(root).as_posix()
        manifest[rel] = known.get(rel) or {"sha256": sha256_file(path), "bytes": path.stat().st_size}
    write_json(root / MANIFEST, manifest)
    return manifest


def read_manifest(root: Path) -> dict[str, dict]:
    return json.loads((Path(root) / MANIFEST).read_text())
