"""Splits: `eval` (the benchmark), `train` (for RL, from source groups never seen in eval) and `tiny` (a seeded
subset of eval, 30 per task by default, as the paper's human baseline used).

A group is the unit that must not straddle splits: a source video, a conversation or a person (each adapter sets
`provenance.group`). The select stage (`release/select.py`) decides the splits before any clip is cut;
`check_leakage` runs in every build, after augmentation, as the last guard and fails it on any overlap.
"""

from __future__ import annotations

from collections import defaultdict

from humansense.config import SplitConfig
from humansense.ids import unit_interval
from humansense.release.select import group_of
from humansense.schema import Item


class LeakageError(Exception):
    pass


def tiny_ids(items: list[Item], cfg: SplitConfig, seed: int) -> set[str]:
    by_task: dict[str, list[Item]] = defaultdict(list)
    for i in items:
        if i.split == "eval":
            by_task[i.task].append(i)
    chosen: set[str] = set()
    for group in by_task.values():
        ranked = sorted(group, key=lambda i: (unit_interval(seed, "tiny", i.id), i.id))
        chosen.update(i.id for i in ranked[: cfg.tiny_per_task])
    return chosen


def check_leakage(items: list[Item]) -> dict[str, int]:
    """Raise LeakageError if any source group, clip or item id is in both eval and train; return split counts."""
    seen: dict[str, dict[str, set[str]]] = {"eval": defaultdict(set), "train": defaultdict(set)}
    for i in items:
        if i.split not in seen:
            raise LeakageError(f"{i.id}: split {i.split!r} is neither eval nor train")
        seen[i.split]["group"].add(group_of(i.provenance.source, i.provenance.group, i.provenance.record_id))
        seen[i.split]["clip"].add(i.media.path)
        seen[i.split]["id"].add(i.id)
    problems = []
    for kind in ("group", "clip", "id"):
        overlap = seen["eval"][kind] & seen["train"][kind]
        if overlap:
            problems.append(f"{len(overlap)} {kind}(s) in both eval and train, e.g. {sorted(overlap)[:3]}")
    if problems:
        raise LeakageError("split leakage: " + "; ".join(problems))
    return {s: len(v["id"]) for s, v in seen.items()}
