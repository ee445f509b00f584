"""Choose the items people review: a deterministic, stratified sample of eval, heavier on L3/L4 as in the paper.

An eval item is in the sample when a hash of (build seed, item id) falls under its task's rate (`qc.rate` times its
level's factor, capped at 1), so a rebuild picks the same items, and adding items never reshuffles the others.
Each task then gets at least `min_per_task` eval items (the lowest hashes not yet taken), when it has that many.
Train is sampled the same way at `qc.train_rate` (reviewed when there is time; the gate looks at eval only).
"""

from __future__ import annotations

from collections import defaultdict

from humansense.sections import QcConfig
from humansense.ids import unit_interval
from humansense.schema import Item


def is_eval(item: Item) -> bool:
    return item.split != "train"  # "unassigned" (a build without a selection) counts as eval


def select_sample(items: list[Item], qc: QcConfig, seed: int) -> set[str]:
    by_stratum: dict[tuple[str, bool], list[tuple[float, str]]] = defaultdict(list)
    level_of = {}
    for item in items:
        by_stratum[(item.task, is_eval(item))].append((unit_interval(seed, "qc", item.id), item.id))
        level_of[item.task] = str(item.level)
    chosen: set[str] = set()
    for (task_abbr, in_eval), members in by_stratum.items():
        base = qc.rate if in_eval else qc.train_rate
        rate = min(1.0, base * qc.level_factor.get(level_of[task_abbr], 1.0))
        ranked = sorted(members)
        picked = [iid for u, iid in ranked if u < rate]
        if in_eval and len(picked) < qc.min_per_task:
            picked = [iid for _, iid in ranked[: qc.min_per_task]]
        chosen.update(picked)
    return chosen


def mark_sample(items: list[Item], qc: QcConfig, seed: int) -> list[Item]:
    sample = select_sample(items, qc, seed)
    return [i.model_copy(update={"qc_status": "pending" if i.id in sample else "not_sampled"}) for i in items]
