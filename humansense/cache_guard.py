"""Prefect's cached task results are read back with the serializer their own file names, pickle included, so a file
planted in a shared build folder could run code when a rebuild reads it. The build's tasks store JSON
(`result_serializer="json"`), and before a build reads anything, `refuse_unsafe_results` moves every record or
metadata file that is not JSON naming the JSON serializer out of Prefect's reach (into `refused/`): that task is
then computed again instead of trusting the file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


_NOT_JSON = object()


def _json(path: Path):
    try:
        return json.loads(path.read_bytes())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return _NOT_JSON


def _safe_record(path: Path) -> bool:
    """A cache record (the metadata Prefect reads first) naming the JSON serializer."""
    data = _json(path)
    if not isinstance(data, dict):
        return False
    serializer = data.get("serializer") or (data.get("metadata") or {}).get("serializer") or {}
    return isinstance(serializer, dict) and serializer.get("type") == "json"


def _safe_value(path: Path) -> bool:
    """A stored result: JSON text (a pickle is not)."""
    return _json(path) is not _NOT_JSON


def _move_aside(path: Path) -> Path:
    refused = path.parent.parent / "refused" / path.parent.name
    refused.mkdir(parents=True, exist_ok=True)
    os.replace(path, refused / path.name)
    return refused / path.name


def refuse_unsafe_results(records: Path, values: Path) -> list[Path]:
    """Move aside every cache record in `records` that does not name the JSON serializer and every stored value in
    `values` that is not JSON (Prefect's own pickled failure states included: they are never read for caching);
    returns where they went."""
    moved = []
    for folder, safe in ((Path(records), _safe_record), (Path(values), _safe_value)):
        if folder.is_dir():
            moved += [_move_aside(p) for p in sorted(folder.iterdir()) if p.is_file() and not safe(p)]
    return moved
