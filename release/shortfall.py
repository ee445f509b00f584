"""A build that makes too little fails, before anything is published: an enabled source that gave no item, or a
task whose eval falls short of its target by more than `release.max_shortfall` (the target is already capped at what
the source has, so a shortfall means items were lost after selection: clips that failed, options that could not
be balanced, rejections in review). `release.allow_shortfall = true` publishes anyway, with the reasons reported.
"""

from __future__ import annotations

from collections import Counter

from humansense.schema import Item
from humansense.tasks import TASKS


class ShortfallError(Exception):
    def __init__(self, problems: list[str]):
        super().__init__("the build made too little (set release.allow_shortfall = true to publish anyway):\n  "
                         + "\n  ".join(problems))
        self.problems = problems


def shortfall(items: list[Item], enabled_sources: list[str], targets: dict[str, int], max_shortfall: float,
              quarantined_by_source: dict[str, Counter] | None = None) -> list[str]:
    """One line per problem: sources without items (with their commonest quarantine reasons), short tasks."""
    problems = []
    per_source = Counter(i.provenance.source for i in items)
    for name in enabled_sources:
        if not per_source[name]:
            reasons = (quarantined_by_source or {}).get(name) or Counter()
            why = "; ".join(f"{r} ({n})" for r, n in reasons.most_common(3)) or "no records read"
            problems.append(f"source {name}: no items ({why})")
    in_eval = Counter(i.task for i in items if i.split != "train")
    for abbr in TASKS:
        target = targets.get(abbr, 0)
        if target and in_eval[abbr] < (1 - max_shortfall) * target:
            problems.append(f"task {abbr}: {in_eval[abbr]} eval questions of a target of {target} "
                            f"(more than {max_shortfall:.0%} short)")
    return problems
