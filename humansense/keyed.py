"""Stage outputs as values per key: a stage's output lives in `<work>/<stage>/<key>/`, where the key is a digest of
everything that decides it (its inputs' keys or bytes, its settings, the seed and its code).

A rebuild computes the key before the stage runs; when the folder for that key is complete the stage is skipped, and
an edit that is undone finds its earlier output in place instead of one file overwritten per stage. Later stages key
on earlier stages' folders, so one key change runs exactly the stages downstream of it.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
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


# Settings are keyed by value (each key holds its config section), so editing the config modules themselves (a new
# key, a comment) does not make every stage run again.
NOT_CODE = ("humansense.config", "humansense.sections")


def code_key(module: str, within: str = "humansense", data: tuple[str, ...] = ()) -> str:
    """A digest of a stage module's source and of every module of ours it imports, at any depth and inside
    functions too (read from the source, nothing imported), restricted to modules under `within`; `data` adds the
    text of data files it reads. Found, not listed by hand, so a new import cannot be left out of a key."""
    return digest([_source(name) for name in sorted(_closure(module, within))], list(data))


@functools.cache
def _closure(module: str, within: str) -> frozenset[str]:
    seen, todo = set(), [module]
    while todo:
        name = todo.pop()
        if name in seen or name in NOT_CODE:
            continue
        seen.add(name)
        todo += [m for m in _imports(name) if m == within or m.startswith(within + ".")]
    return frozenset(seen)


@functools.cache
def _imports(module: str) -> tuple[str, ...]:
    """The modules `module` imports (`from pkg import sub` counts `pkg.sub` when that is a module)."""
    found = []
    for node in ast.walk(ast.parse(_source(module))):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append(node.module)
            if node.module.split(".")[0] == "humansense":  # never look into (so never import) another package
                found += [f"{node.module}.{a.name}" for a in node.names if _is_module(f"{node.module}.{a.name}")]
    return tuple(found)


def _is_module(name: str) -> bool:
    """Whether `name` is a module file, found beside its package's others without importing the parent (finding
    `pkg.mod.name` through importlib would import `pkg.mod`, an engine's runtime with it)."""
    parent, _, child = name.rpartition(".")
    try:
        spec = importlib.util.find_spec(parent)
    except (ImportError, ValueError):
        return False
    folders = spec.submodule_search_locations if spec else None
    return any((Path(f) / f"{child}.py").is_file() or (Path(f) / child / "__init__.py").is_file()
               for f in folders or ())


@functools.cache
def _source(module: str) -> str:
    spec = importlib.util.find_spec(module)
    return Path(spec.origin).read_text(encoding="utf-8") if spec and spec.origin else ""


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
