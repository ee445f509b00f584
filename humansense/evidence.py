"""The evidence contract between the annotate stage, which writes it, and the sources, which read it.

A source made from annotations names the annotation steps it needs (`SourceAdapter.steps`, classes of
`annotators.steps`); each step leaves files of some kinds (`Kind`, its `kinds`) in the source's evidence folder
(`BuildLayout.evidence`):

    <evidence folder>/<record id>.<kind>.json   one annotator result (or its NoAnnotation) per record and kind
    <evidence folder>/annotated.json            the records the stage processed and those it did not reach

Record ids come from source files, so they are checked before they name a file; every write is atomic, so a
killed stage leaves whole files or none.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel

from humansense.ids import check_component
from humansense.io import write_json, write_text_atomic

# The kinds of evidence file, one per record and kind (each step class names those it leaves).
Kind = Literal["ocr", "asr", "rapport", "faces", "speech"]
KINDS: tuple[str, ...] = get_args(Kind)
MANIFEST = "annotated.json"


class EvidenceError(ValueError):
    """An evidence file that cannot be read (the annotate stage writes whole files: a hand-edited or foreign one)."""


@dataclass(frozen=True)
class EvidenceFolder:
    """One source's evidence folder."""

    path: Path

    def file(self, record_id: str, kind: str) -> Path:
        return Path(self.path) / f"{check_component(record_id, 'record id')}.{_known(kind)}.json"

    def write(self, record_id: str, kind: str, result: BaseModel | dict[str, Any]) -> Path:
        text = result.model_dump_json() if isinstance(result, BaseModel) else json.dumps(result, ensure_ascii=False)
        return write_text_atomic(self.file(record_id, kind), text)

    def read(self, record_id: str, kind: str) -> dict[str, Any] | None:
        """A record's evidence of one kind; None where the stage left none."""
        path = self.file(record_id, kind)
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise EvidenceError(f"{path}: not an evidence file ({e})") from None
        if not isinstance(data, dict):
            raise EvidenceError(f"{path}: not an evidence file (a JSON object was expected)")
        return data

    def files(self, kind: str) -> list[Path]:
        """Every evidence file of one kind, sorted (their bytes key a text source's parse)."""
        return sorted(Path(self.path).glob(f"*.{_known(kind)}.json"))

    @property
    def manifest_file(self) -> Path:
        return Path(self.path) / MANIFEST

    def write_manifest(self, processed: list[str], not_reached: list[str]) -> Path:
        return write_json(self.manifest_file, {"ids": sorted(processed), "not_reached": sorted(not_reached)})

    def not_reached(self) -> set[str]:
        """Records the annotate stage did not reach because selection needed fewer; empty without a manifest."""
        if not self.manifest_file.is_file():
            return set()
        try:
            return set(json.loads(self.manifest_file.read_text(encoding="utf-8")).get("not_reached", []))
        except (UnicodeDecodeError, json.JSONDecodeError, AttributeError) as e:
            raise EvidenceError(f"{self.manifest_file}: not the annotate stage's manifest ({e})") from None


def _known(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown evidence kind {kind!r} (known: {', '.join(KINDS)})")
    return kind
