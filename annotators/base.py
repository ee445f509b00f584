"""What every annotator shares: typed, versioned results, a typed "no annotation", and a content-addressed cache.

An annotation is cached on disk under a key made of the input's content hash (the decoded span for media, the
text for text), the engine, its model version and its parameters, so a rebuild never annotates the same span
twice, across runs and across tasks. A failure is a `NoAnnotation` with a reason, never a made-up value.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from humansense.ids import digest
from humansense.io import write_text_atomic

ANNOTATION_VERSION = 1


class NoAnnotation(BaseModel):
    """An annotator's honest "nothing here": silent audio, no face, junk from an LLM, a time-out."""

    model_config = ConfigDict(extra="forbid")
    status: Literal["none"] = "none"
    kind: str
    engine: str
    reason: str  # a stable category, e.g. "no speech", "validation failed", "timed out"
    detail: str = ""
    raw: str | None = None  # what the engine returned, kept for QC


class MissingExtra(ImportError):
    """An engine whose optional dependency is not installed; the message names the extra to install."""

    def __init__(self, engine: str, extra: str, module: str):
        super().__init__(f"the {engine} engine needs the '{extra}' extra ({module} is not installed): "
                         f"pip install 'humansense-build[{extra}]' (or run scripts/setup.sh)")


class AnnotationCache:
    """JSON files under `root/<kind>/<key[:2]>/<key>.json`; thread-safe counters of hits and misses."""

    def __init__(self, root: Path | None):
        self.root = Path(root) if root else None
        self.hits = self.misses = 0
        self._lock = threading.Lock()

    @staticmethod
    def key(kind: str, engine: str, model_version: str, params: dict[str, Any], content_hash: str) -> str:
        return digest(ANNOTATION_VERSION, kind, engine, model_version, params, content_hash, length=40)

    def _path(self, kind: str, key: str) -> Path:
        return self.root / kind / key[:2] / f"{key}.json"

    def get(self, kind: str, key: str) -> dict | None:
        if self.root is None:
            return None
        path = self._path(kind, key)
        with self._lock:
            if path.exists():
                self.hits += 1
                return json.loads(path.read_text(encoding="utf-8"))
            self.misses += 1
        return None

    def put(self, kind: str, key: str, value: BaseModel) -> None:
        if self.root is not None:
            write_text_atomic(self._path(kind, key), value.model_dump_json())

    def stats(self) -> dict[str, int]:
        return {"hits": self.hits, "misses": self.misses}

    # Results are keyed by the decoded span's content, so finding one used to mean decoding the span again (a tenth
    # to a fifth of annotating it). What a span of a file decoded to is remembered by the file's fingerprint, the
    # same fingerprint the annotate stage's key trusts, so a rerun whose results are all cached decodes nothing.
    def cached_by_media(self, kind: str, path: Path, decode: dict[str, Any],
                        key_of: Callable[[str], str]) -> dict | None:
        """The cached result for a span (`decode`: what is decoded, and how) of `path`, found without decoding it,
        if the span was decoded before and its result is cached; else None (nothing counted)."""
        known = self._decoded_file(path, decode)
        if known is None or not known.exists():
            return None
        try:
            content = json.loads(known.read_text(encoding="utf-8"))["content"]
        except (ValueError, KeyError, TypeError):
            return None
        result = self._path(kind, key_of(content))
        if not result.exists():
            return None
        with self._lock:
            self.hits += 1
        return json.loads(result.read_text(encoding="utf-8"))

    def remember_decoded(self, path: Path, decode: dict[str, Any], content: str) -> None:
        """Remember the content hash that a span of `path` decoded to (see `cached_by_media`)."""
        known = self._decoded_file(path, decode)
        if known is not None:
            write_text_atomic(known, json.dumps({"content": content}))

    def _decoded_file(self, path: Path, decode: dict[str, Any]) -> Path | None:
        from humansense.media import fingerprint

        if self.root is None:
            return None
        try:
            return self._path("decoded", digest("decoded", fingerprint(Path(path)), decode, length=40))
        except OSError:  # missing or unreadable: the decoder says why
            return None
