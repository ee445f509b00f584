"""Splits: `eval` (the benchmark), `train` (for RL, from source groups never seen in eval) and `tiny` (a seeded
subset of eval, 30 per task by default, as the paper's human baseline used).

A group is the unit that must not straddle splits: a source video, a conversation or a person (each adapter sets
`provenance.group`). The select stage (`selection/select.py`) decides the splits before any clip is cut;
`check_leakage` runs in every build, after augmentation, as the last guard and fails it on any overlap.
"""

from __future__ import annotations

from collections import defaultdict

from humansense.config import SplitConfig
from humansense.ids import unit_interval
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
    """Raise LeakageError if any source group, clip or item id is in both eval and train (one line naming the
    records and sources on each side); return split counts. The last guard: selection and the media plan keep
    groups and duplicate media apart before this."""
    seen: dict[str, dict[str, dict[str, list[str]]]] = {
        "eval": defaultdict(lambda: defaultdict(list)), "train": defaultdict(lambda: defaultdict(list))}
    for i in items:
        if i.split not in seen:
            raise LeakageError(f"{i.id}: split {i.split!r} is neither eval nor train")
        who = f"{i.provenance.source} {i.provenance.record_id}"
        for kind, value in (("group", i.provenance.group_key), ("clip", i.media.path), ("id", i.id)):
            seen[i.split][kind][value].append(who)
    problems = []
    for kind in ("group", "clip", "id"):
        overlap = sorted(seen["eval"][kind].keys() & seen["train"][kind].keys())
        if overlap:
            examples = "; ".join(f"{v} (eval: {', '.join(seen['eval'][kind][v][:2])}; train: "
                                 f"{', '.join(seen['train'][kind][v][:2])})" for v in overlap[:3])
            problems.append(f"{len(overlap)} {kind}(s) in both eval and train, e.g. {examples}")
    if problems:
        raise LeakageError("split leakage: " + " | ".join(problems))
    return {s: len(v["id"]) for s, v in seen.items()}
