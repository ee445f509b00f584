"""The build folder's layout, in one place: every stage asks this module where its inputs and outputs live.

    <out>/release/                the published folder (written to a temporary name, then renamed)
    <out>/qc/                     the review sample and the verdict store
    <out>/ledger/                 the answer places of earlier builds, so letters survive rebuilds
    <out>/cache/prefect-keys/     Prefect's cache keys
    <out>/cache/annotations/      annotator results by content hash
    <out>/cache/clips/            cut clips by clip key, each with its probe or error
    <out>/cache/sample/           the embedded sample, materialised
    <out>/cache/work/parsed/<source>/   drafts, quarantine, option pools and summary of one source
    <out>/cache/work/evidence/<source>/ the annotate stage's evidence files (`humansense.evidence`)
    <out>/cache/work/fetch_quarantine.<source>.jsonl   the fetch stage's quarantine
    <out>/cache/work/{select,plan,augment,audit}/<key>/  those stages' outputs, one folder per key (`keyed.py`)
    <out>/cache/work/batches/     clip batches, named by content
    <out>/cache/work/items.jsonl  the QC stage's items (verdicts applied), what publish reads
    <out>/cache/work/qc_quarantine.jsonl  the items the QC stage refused (rejected verdicts)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class BuildLayout:
    out: Path

    @classmethod
    def at(cls, out: str | Path) -> BuildLayout:
        return cls(Path(out).resolve())

    @property
    def cache(self) -> Path:
        return self.out / "cache"

    @property
    def work(self) -> Path:
        return self.cache / "work"

    @property
    def clips(self) -> Path:
        return self.cache / "clips"

    @property
    def keys(self) -> Path:
        return self.cache / "prefect-keys"

    @property
    def annotations(self) -> Path:
        return self.cache / "annotations"

    @property
    def sample(self) -> Path:
        return self.cache / "sample"

    @property
    def qc(self) -> Path:
        return self.out / "qc"

    @property
    def release(self) -> Path:
        return self.out / "release"

    def evidence(self, source: str) -> Path:
        return self.work / "evidence" / source

    def fetch_quarantine(self, source: str) -> Path:
        """Videos of a fetched source that could not be fetched or were withdrawn, as quarantine entries."""
        return self.work / f"fetch_quarantine.{source}.jsonl"

    @property
    def batches(self) -> Path:
        return self.work / "batches"

    @property
    def items(self) -> Path:
        return self.work / "items.jsonl"

    @property
    def qc_quarantine(self) -> Path:
        return self.work / "qc_quarantine.jsonl"

    @property
    def ledger(self) -> Path:
        """Answer places given so far (kept across rebuilds: unchanged items keep their letters)."""
        return self.out / "ledger" / "answer_positions.json"
