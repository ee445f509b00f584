"""What every annotator shares: typed, versioned results, a typed "no annotation", and a content-addressed cache.

An annotation is cached on disk under a key made of the input's content hash (the decoded span for media, the
text for text), the engine, its model version and its parameters, so a rebuild never annotates the same span
twice, across runs and across tasks. A failure is a `NoAnnotation` with a reason, never a made-up value.
"""

from __future__ import annotations

import json
import threading
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
