"""Wrong-option pools stored once per source: a draft names its pool (`ItemDraft.distractor_pool`) instead of
carrying a copy, so a draft's size does not grow with the source (CM draws from every other video's events).

A pool is a list of (owner record id, text); a draft never draws an entry its own record owns, nor a text it
names in `pool_excludes` (a vocabulary pool shared by drafts with different answers).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Iterator
from pathlib import Path
from random import Random

from humansense.io import write_text_atomic

POOLS_FILE = "pools.json"


class Pools:
    def __init__(self, pools: dict[str, list[tuple[str, str]]] | None = None):
        self.pools = pools or {}
        self._excluded: dict[str, tuple[Collection[str], set[str]]] = {}  # pool -> (excluded, its owners in it)

    @classmethod
    def beside(cls, draft_files: Iterable[Path]) -> Pools:
        """The pools written next to each source's drafts file, named `<source>/<pool>`."""
        pools: dict[str, list[tuple[str, str]]] = {}
        for f in draft_files:
            path = Path(f).parent / POOLS_FILE
            if path.exists():
                data = json.loads(path.read_text(encoding="utf-8"))
                pools |= {f"{data['source']}/{name}": [tuple(e) for e in entries]
                          for name, entries in data["pools"].items()}
        return cls(pools)

    def entries(self, name: str, owner: str, excluded: Collection[str] = (),
                texts: Collection[str] = ()) -> list[str]:
        """The pool's texts less those `owner` (or an `excluded` record) owns and less `texts`, in stored order (for
        small pools drawn by weight)."""
        excluded = self._excluded_owners(name, excluded)
        return [text for who, text in self._entries(name) if who != owner and who not in excluded
                and text not in texts]

    def _excluded_owners(self, name: str, excluded: Collection[str]) -> Collection[str]:
        """The pool's owners among `excluded`, found once per pool for one `excluded` collection (drafts of a build
        share it; it may be large and slow to ask, as a hashed set of a million records is)."""
        if not excluded:
            return ()
        cached = self._excluded.get(name)
        if cached is None or cached[0] is not excluded:
            cached = (excluded, {who for who, _ in self._entries(name) if who in excluded})
            self._excluded[name] = cached
        return cached[1]

    def _entries(self, name: str) -> list[tuple[str, str]]:
        try:
            return self.pools[name]
        except KeyError:
            raise KeyError(f"unknown option pool {name!r}") from None

    def draw(self, name: str, owner: str, rng: Random, excluded: Collection[str] = (),
             texts: Collection[str] = ()) -> Iterator[str]:
        """The pool's texts in a seeded random order, drawn lazily (a draft usually needs a handful of thousands)."""
        entries = self._entries(name)
        excluded = self._excluded_owners(name, excluded)
        for index in lazy_permutation(len(entries), rng):
            who, text = entries[index]
            if who != owner and who not in excluded and text not in texts:
                yield text


def lazy_permutation(n: int, rng: Random) -> Iterator[int]:
    """0..n-1 in a uniformly random order, each step O(1) (Fisher-Yates over a sparse map of swapped places)."""
    moved: dict[int, int] = {}
    for i in range(n):
        j = rng.randrange(i, n)
        yield moved.get(j, j)
        moved[j] = moved.get(i, i)


def write_pools(folder: Path, source: str, pools: dict[str, list[tuple[str, str]]]) -> Path:
    return write_text_atomic(folder / POOLS_FILE, json.dumps({"source": source, "pools": pools}, ensure_ascii=False))
