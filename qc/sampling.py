"""Choose the items people review: a deterministic, stratified sample, heavier on L3/L4 as in the paper.

An item is in the sample when a hash of (build seed, item id) falls under the task's rate (the base rate times its
level's factor, capped at 1), so a rebuild picks the same items, and adding items never reshuffles the others.
Each task then gets at least `min_per_task` items (the lowest hashes not yet taken), when it has that many.
"""

from __future__ import annotations

from collections import defaultdict

from humansense.config import QcConfig
from humansense.ids import unit_interval
from humansense.schema import Item


def select_sample(items: list[Item], qc: QcConfig, seed: int) -> set[str]:
    by_task: dict[str, list[tuple[float, str]]] = defaultdict(list)
    level_of = {}
    for item in items:
        by_task[item.task].append((unit_interval(seed, "qc", item.id), item.id))
        level_of[item.task] = str(item.level)
    chosen: set[str] = set()
    for task_abbr, task_items in by_task.items():
        rate = min(1.0, qc.rate * qc.level_factor.get(level_of[task_abbr], 1.0))
        ranked = sorted(task_items)
        picked = [iid for u, iid in ranked if u < rate]
        if len(picked) < qc.min_per_task:
            picked = [iid for _, iid in ranked[: qc.min_per_task]]
        chosen.update(picked)
    return chosen


def mark_sample(items: list[Item], qc: QcConfig, seed: int) -> list[Item]:
    sample = select_sample(items, qc, seed)
    return [i.model_copy(update={"qc_status": "pending" if i.id in sample else "not_sampled"}) for i in items]
