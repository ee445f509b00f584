"""Selection's policy, read before annotation and at selection: what an annotated source must yield for selection to
draw its splits (`annotation_needs`, `even_class_needs`), by the answer classes selection evens out
(`answer_class`). The annotate stage spends its budget (`[annotation_budget]`) by these rules and the select stage
applies them, so neither reaches into the other."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import NamedTuple

from humansense.sections import AnnotationBudgetConfig, SplitConfig
from humansense.schema import normalise_text
from humansense.tasks import TASKS


def answer_class(answers: Iterable[str]) -> str:
    """The class an item's answers make (normalised, order-free): what eval's classes are evened by."""
    return "|".join(sorted(normalise_text(a) for a in answers))


def annotation_needs(tasks: Iterable[str], split: SplitConfig, budget: AnnotationBudgetConfig) -> dict[str, int] | None:
    """Drafts an annotated source must yield per task: eval's target and the train items, plus the margin."""
    if budget.all_records:
        return None
    train = budget.train_per_task  # never more than train may take (an eval-only build annotates for eval)
    if split.train_max_per_task is not None:
        train = min(train, split.train_max_per_task)
    return {t: math.ceil((split.eval_targets.get(t, 0) + train) * (1 + budget.margin)) for t in tasks}


class EvenNeed(NamedTuple):
    drafts: int  # eval drafts wanted (target plus the margin), spread evenly over the classes
    per_group: int  # at most this many of them from one group (selection's group share cap)


def eval_group_cap(target: int, split: SplitConfig) -> int:
    """The most eval questions of a task one group may supply, however many groups there are."""
    return max(1, math.floor(split.eval_max_group_share * target))


def even_class_needs(tasks: Iterable[str], split: SplitConfig, budget: AnnotationBudgetConfig) -> dict[str, EvenNeed]:
    """Eval drafts (target plus the margin) an annotated source should yield *spread evenly over the classes* of each
    task whose answers are classes: selection can only even eval's classes out of what annotation found, and takes
    at most `per_group` of a task's eval from one group (a conversation whose listener always looks sad gives ES
    one or two sad questions, not ten)."""
    if budget.all_records:
        return {}
    return {t: EvenNeed(math.ceil(w * (1 + budget.margin)), eval_group_cap(w, split)) for t in tasks
            if TASKS[t].answer_classes and (w := split.eval_targets.get(t, 0)) > 0}
