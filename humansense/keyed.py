"""Stage outputs as values per key: a stage's output lives in `<work>/<stage>/<key>/`, where the key is a digest of
everything that decides it (its inputs' keys or bytes, its settings, the seed and its code).

A rebuild computes the key before the stage runs; when the folder for that key is complete the stage is skipped, and
an edit that is undone finds its earlier output in place instead of one file overwritten per stage. Later stages key
on earlier stages' folders, so one key change runs exactly the stages downstream of it.
"""

from __future__ import annotations

import inspect
import os
import shutil
from pathlib import Path
from types import ModuleType

from humansense.ids import digest

KEEP_OUTPUTS = 3  # outputs kept per stage (most recent first): older ones are recomputed when asked for again


def code_digest(*parts: ModuleType | str) -> str:
    """A digest of the source of the modules (and the text of data files) a stage runs: editing one invalidates
    its outputs."""
    return digest([inspect.getsource(p) if isinstance(p, ModuleType) else p for p in parts])


def stat_signature(path: str | Path) -> tuple[int, int] | None:
    """(size, modification time in ns) of a file or folder, or None when it is missing: what `make` trusts.

    Cheap enough to ask of every selected media file on every rebuild; a file rewritten in place changes its mtime.
    """
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def output_folder(work: Path, stage: str, key: str) -> Path:
    return work / stage / key


def touch_and_prune(folder: Path, keep: int = KEEP_OUTPUTS) -> None:
    """Mark `folder` as the stage's most recent output and drop all but the `keep` most recent of its siblings,
    and any hidden sibling: a stage's temporary folder left by a killed build (one build runs per folder)."""
    os.utime(folder)
    siblings = [p for p in folder.parent.iterdir() if p.is_dir() and p != folder]
    outputs = sorted((p for p in siblings if not p.name.startswith(".")), key=lambda p: p.stat().st_mtime_ns,
                     reverse=True)
    for old in outputs[keep - 1:] + [p for p in siblings if p.name.startswith(".")]:
        shutil.rmtree(old, ignore_errors=True)
