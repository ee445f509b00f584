"""Bounded memory for the augment stage: drafts spilled to disk per task in sorted runs, and record ids held as
hashes, so the stage holds one task's ids at a time rather than every draft and item of the build."""

from __future__ import annotations

import gc
import hashlib
import heapq
import struct
from array import array
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

RUN_BYTES = 16 << 20  # bytes held before the largest task's records are sorted and written out as one run
_LENGTHS = struct.Struct("<II")


def _records(path: Path) -> Iterator[tuple[str, bytes]]:
    with path.open("rb") as f:
        while header := f.read(_LENGTHS.size):
            key_length, size = _LENGTHS.unpack(header)
            yield f.read(key_length).decode("utf-8"), f.read(size)


class TaskSpill:
    """Records (a key and bytes) grouped by task and read back in key order, whatever order they were added in.

    Records are held until RUN_BYTES are, then the largest task's are sorted by key and written as a run file; a
    task is read by merging its runs (heapq.merge), so memory is bounded by RUN_BYTES, not by the number of
    records. The files are this process's own, in a private temporary folder, removed when the task is dropped."""

    def __init__(self, folder: Path, run_bytes: int = RUN_BYTES):
        self.folder = folder
        self.run_bytes = run_bytes
        self.held: dict[str, list[tuple[str, bytes]]] = defaultdict(list)
        self.sizes: Counter = Counter()
        self.runs: dict[str, list[Path]] = defaultdict(list)

    def add(self, task: str, key: str, record: bytes) -> None:
        self.held[task].append((key, record))
        self.sizes[task] += len(record) + len(key) + 64
        if self.sizes.total() > self.run_bytes:
            self._write_run(max(self.sizes, key=self.sizes.get))

    def _write_run(self, task: str) -> None:
        path = self.folder / f"{task}.{len(self.runs[task])}.run"
        with path.open("wb") as f:
            for key, record in sorted(self.held.pop(task), key=lambda r: r[0]):
                encoded = key.encode("utf-8")
                f.write(_LENGTHS.pack(len(encoded), len(record)) + encoded + record)
        self.runs[task].append(path)
        del self.sizes[task]

    def tasks(self) -> set[str]:
        return set(self.held) | set(self.runs)

    def read(self, task: str) -> Iterator[bytes]:
        """The task's records in key order (may be read again until `drop`)."""
        if task in self.held:
            self._write_run(task)
        for _, record in heapq.merge(*(_records(p) for p in self.runs.get(task, [])), key=lambda r: r[0]):
            yield record

    def drop(self, task: str) -> None:
        for path in self.runs.pop(task, []):
            path.unlink(missing_ok=True)


def _hash64(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big")


class RecordSet:
    """A set of record ids as sorted 64-bit hashes (8 bytes each, not a string object each): the train records an
    eval item may not take wrong options from, for a million drafts in megabytes. A false member (two ids with one
    hash, about n/2^64) only leaves one more pool text unused."""

    def __init__(self) -> None:
        self._added = array("Q")
        self._sorted: np.ndarray | None = None

    def add(self, record_id: str) -> None:
        self._added.append(_hash64(record_id))
        self._sorted = None

    def _members(self) -> np.ndarray:
        if self._sorted is None:
            self._sorted = np.unique(np.frombuffer(self._added, dtype=np.uint64))
            self._added = array("Q", self._sorted.tobytes())
        return self._sorted

    def __contains__(self, record_id: object) -> bool:
        members = self._members()
        if not isinstance(record_id, str) or not len(members):
            return False
        h = np.uint64(_hash64(record_id))
        at = int(np.searchsorted(members, h))
        return at < len(members) and members[at] == h

    def __len__(self) -> int:
        return len(self._members())

    def __bool__(self) -> bool:
        return bool(len(self._added))


@contextmanager
def gc_paused() -> Iterator[None]:
    """Cyclic garbage collection off for a stage that makes millions of short-lived, acyclic objects (drafts read
    back from the spill, options, items): reference counting frees them, and each collection would otherwise walk
    every object the process holds (measured: a third of the augment stage's time at 30,000 drafts)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
