"""Stable ids, seeded randomness and safe path handling.

Python's `hash()` is salted per process, so every digest here is hashlib's; a rebuild in another process,
machine or year gives the same ids and the same random choices.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from pathlib import Path
from json.encoder import encode_basestring_ascii as _json_string  # json.dumps's own
from typing import Any

# Characters a source id may carry into a file name: YouTube ids (with leading '-' or '_'), integers, AVA/TAO ids.
_SAFE_COMPONENT = re.compile(r"^[A-Za-z0-9_\-][A-Za-z0-9_.\-]{0,199}$")


class UnsafeIdError(ValueError):
    """An id from a source that would escape or misname a file if used as a path."""


def digest(*parts: Any, length: int = 16) -> str:
    """Hex digest of JSON-canonical parts (dict order and float formatting cannot change it)."""
    payload = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:length]


def item_id(source: str, record_id: str, task: str, params: dict[str, Any] | None = None) -> str:
    """The id of a question: a function of where it came from, never of seeds or option order."""
    return f"{task.lower()}-{digest(source, record_id, task, params or {})}"


def _seeded_material(seed: int, key: tuple) -> bytes:
    """SHA-256 of `json.dumps([seed, *key])`. Seeds with text keys (the common case: an item id and a purpose, asked
    for every one of a full-size tree's ~430,000 drafts) are encoded directly, giving the same bytes without
    json.dumps's per-call set-up."""
    if type(seed) is int and all(type(k) is str for k in key):
        text = "[" + ", ".join([str(seed), *map(_json_string, key)]) + "]"
    else:
        text = json.dumps([seed, *key], default=str)
    return hashlib.sha256(text.encode("utf-8")).digest()


def seeded_rng(seed: int, *key: Any) -> random.Random:
    """A generator private to one (build seed, item, purpose), so adding items never reshuffles others."""
    return random.Random(int.from_bytes(_seeded_material(seed, key)[:8], "big"))


def unit_interval(seed: int, *key: Any) -> float:
    """A deterministic number in [0, 1) for hash-based sampling."""
    return int.from_bytes(_seeded_material(seed, key)[:8], "big") / 2**64


def check_component(value: str, what: str = "id") -> str:
    """Return `value` if it is safe as a single path component, else raise UnsafeIdError."""
    if not isinstance(value, str) or not _SAFE_COMPONENT.match(value) or value in {".", ".."} or ".." in value:
        raise UnsafeIdError(f"unsafe {what} {value!r}: only letters, digits, '-', '_' and '.' are allowed")
    return value


def is_safe_component(value: str | None) -> bool:
    """Whether `value` may name a file or be reported as it is (hostile ids are reported by file and row only)."""
    try:
        return value is not None and check_component(value) is not None
    except UnsafeIdError:
        return False


def safe_join(root: Path, relative: str, what: str = "path") -> Path:
    """Join a source-given relative path under `root`, refusing absolute paths and any escape from root."""
    parts = relative.replace("\\", "/").split("/")
    if relative.startswith("/") or not parts or any(p in {"", ".", ".."} for p in parts):
        raise UnsafeIdError(f"unsafe {what} {relative!r}: must be a relative path without '..'")
    for p in parts:
        check_component(p, what)
    root = root.resolve()
    joined = (root / Path(*parts)).resolve()
    if not joined.is_relative_to(root):
        raise UnsafeIdError(f"unsafe {what} {relative!r}: resolves outside {root}")
    return joined
