"""Review verdicts in SQLite (WAL): the single source of truth for QC, at `<build>/qc/reviews.sqlite`.

Verdicts are appended, never updated, so two annotators (or two tabs) writing at once cannot overwrite each
other; an item's status is the latest verdict given for its current content. A verdict is tied to the item's
content hash (question, options, answer, clip), so a rebuild keeps verdicts for unchanged items and asks again
for changed ones.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from contextlib import closing
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from humansense.ids import digest
from humansense.schema import Item

REVIEWS_FILE = "reviews.sqlite"  # under <build>/qc/
SAMPLE_FILE = "sample.jsonl"  # the sampled items as built, before verdicts (what the review app shows)
REJECT_REASONS = ("wrong answer", "ambiguous question", "more than one correct option", "media problem",
                  "not enough context", "private or offensive content", "other")
Verdict = Literal["accept", "reject", "correct"]
STATUS_OF = {"accept": "accepted", "reject": "rejected", "correct": "corrected"}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS verdicts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    annotator TEXT NOT NULL,
    verdict TEXT NOT NULL CHECK (verdict IN ('accept', 'reject', 'correct')),
    reason TEXT,
    note TEXT NOT NULL DEFAULT '',
    corrected_answer TEXT,
    source TEXT NOT NULL DEFAULT 'app',
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS verdicts_item ON verdicts (item_id, content_hash);
"""


def content_hash(item: Item) -> str:
    return digest(item.task, item.question, [o.model_dump() for o in item.options], item.answer, item.media.sha256)


class VerdictIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item_id: str
    content_hash: str
    annotator: str = Field(min_length=1, max_length=80)
    verdict: Verdict
    reason: str | None = None
    note: str = Field(default="", max_length=4000)
    corrected_answer: str | None = None
    source: str = "app"

    @model_validator(mode="after")
    def _complete(self) -> VerdictIn:
        if self.verdict == "reject" and self.reason not in REJECT_REASONS:
            raise ValueError(f"a rejection needs a reason from {list(REJECT_REASONS)}")
        if self.verdict == "correct" and not self.corrected_answer:
            raise ValueError("a correction needs the corrected answer")
        return self


class VerdictRow(VerdictIn):
    seq: int
    created_at: float


class ReviewStore:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.execute("PRAGMA busy_timeout=30000")
        db.row_factory = sqlite3.Row
        return db

    def add(self, verdict: VerdictIn) -> int:
        with closing(self._connect()) as db:
            cur = db.execute(
                "INSERT INTO verdicts (item_id, content_hash, annotator, verdict, reason, note, corrected_answer, "
                "source, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (verdict.item_id, verdict.content_hash, verdict.annotator, verdict.verdict, verdict.reason,
                 verdict.note, verdict.corrected_answer, verdict.source, time.time()))
            return cur.lastrowid

    def rows(self, item_ids: Iterable[str] | None = None) -> list[VerdictRow]:
        with closing(self._connect()) as db:
            rows = db.execute("SELECT * FROM verdicts ORDER BY seq").fetchall()
        wanted = set(item_ids) if item_ids is not None else None
        return [VerdictRow(**dict(r)) for r in rows if wanted is None or r["item_id"] in wanted]

    def current(self, items: list[Item]) -> dict[str, list[VerdictRow]]:
        """Per item, the latest verdict of each annotator on the item's current content (oldest first)."""
        hashes = {i.id: content_hash(i) for i in items}
        latest: dict[tuple[str, str], VerdictRow] = {}
        for row in self.rows(hashes):
            if row.content_hash == hashes[row.item_id]:
                latest[(row.item_id, row.annotator)] = row
        out: dict[str, list[VerdictRow]] = {}
        for (item_id, _), row in sorted(latest.items(), key=lambda kv: kv[1].seq):
            out.setdefault(item_id, []).append(row)
        return out

    def status(self, items: list[Item]) -> dict[str, VerdictRow]:
        """The verdict that decides each reviewed item: the most recent one on its current content."""
        return {item_id: rows[-1] for item_id, rows in self.current(items).items()}
