"""Splits: `eval` (the benchmark), `train` (for RL, from source groups never seen in eval) and `tiny` (a seeded
subset of eval, 30 per task by default, as the paper's human baseline used).

A group is the unit that must not straddle splits: a source video, a conversation or a person (each adapter sets
`provenance.group`). Groups are visited in a seeded order and go to eval while any task they feed still needs eval
questions; all other groups go to train. A task's eval share is capped by `eval_max_fraction` of what it has, so a
small build still has a train split. `check_leakage` runs in every build and fails it on any overlap.
"""

from __future__ import annotations

import math
from collections import defaultdict

from humansense.config import SplitConfig
from pathlib import Path

from humansense.ids import unit_interval
from humansense.io import read_jsonl
from humansense.schema import Item, ItemDraft


class LeakageError(Exception):
    pass


def group_of(source: str, group: str | None, record_id: str) -> str:
    return f"{source}:{group or record_id}"


def assign_splits(drafts: list[ItemDraft], cfg: SplitConfig, seed: int) -> dict[str, str]:
    """Draft id -> "eval" | "train"."""
    members: dict[str, list[ItemDraft]] = defaultdict(list)
    available: dict[str, int] = defaultdict(int)
    for d in drafts:
        members[group_of(d.provenance.source, d.provenance.group, d.provenance.record_id)].append(d)
        available[d.task] += 1
    want = {t: min(cfg.eval_targets.get(t, 0), math.ceil(n * cfg.eval_max_fraction)) for t, n in available.items()}
    have: dict[str, int] = defaultdict(int)
    split: dict[str, str] = {}
    for group in sorted(members, key=lambda g: (unit_interval(seed, "split", g), g)):
        to_eval = any(have[d.task] < want[d.task] for d in members[group])
        for d in members[group]:
            split[d.id] = "eval" if to_eval else "train"
            have[d.task] += to_eval
    return split


def assign_splits_for(draft_files: list[Path], clip_of: dict[str, str], cfg: SplitConfig, seed: int) -> dict[str, str]:
    """Splits for the drafts that have a clip (the others never become items)."""
    return assign_splits([d for f in draft_files for d in read_jsonl(f, ItemDraft) if d.id in clip_of], cfg, seed)


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
