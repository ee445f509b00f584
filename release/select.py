"""The select stage: decide, before any clip is cut, which drafts the release needs and in which split.

Rules (numbers in `[split]`, each tested at thousands of drafts):
* a group (source video, conversation, person: `provenance.group`) is wholly in eval or wholly in train;
* eval has exactly each task's target (the paper's count, capped at `eval_max_fraction` of what the task has),
  never more, plus a ranked reserve (`eval_reserve`) that replaces eval items refused later (a clip that fails, an
  option pool that cannot be balanced); the augment stage keeps the best-ranked `target` survivors;
* no group supplies more than `eval_max_group_share` of a task's eval questions (at least one), so eval spans many
  videos, conversations and people (with few groups, as in a trial build, a group may give what the target needs
  from `eval_max_fraction` of the groups);
* within a task and split, the items of one group never overlap in time on the same file;
* where a task's answers are classes (`TaskSpec.answer_classes`), eval's classes are as even as the pool allows
  (water-filling: each class gets the same quota, classes with fewer candidates give theirs to the others); where an
  item has several answers (AR), no label is an answer in more than `eval_max_label_share` of eval first;
* train takes what is left, at most `train_max_per_task` per task.

Groups are visited in a seeded order, and drafts within a group too, so the choice is reproducible from (drafts,
config, seed) and does not depend on the order drafts were read in.
"""

from __future__ import annotations

import math
import os
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

from pathlib import Path

from humansense.clips import SELECTED_MEDIA, missing_media
from humansense.config import SplitConfig
from humansense import schema
from humansense.ids import digest, unit_interval
from humansense.io import read_jsonl, write_json, write_jsonl
from humansense.keyed import code_digest, touch_and_prune
from humansense.schema import ItemDraft, normalise_text
from humansense.sources.stage import draft_media
from humansense.tasks import TASKS, Kind


@dataclass(frozen=True, slots=True)
class Candidate:
    """What selection needs of a draft (drafts themselves stay on disk)."""

    id: str
    task: str
    group: str
    answer: str  # the answer class: normalised answer texts
    file: str
    start_s: float | None
    end_s: float | None
    source: str = ""  # the media file its clip is cut from


def candidate_of(draft: ItemDraft, shared: dict[str, str] | None = None) -> Candidate:
    """The draft's candidate; with `shared`, equal texts (a movie's path, a label, a group) are one string object
    across candidates, so selection over hundreds of thousands of drafts holds each once."""
    one = (lambda text: text) if shared is None else (lambda text: shared.setdefault(text, text))
    p = draft.provenance
    return Candidate(id=draft.id, task=one(draft.task), group=one(p.group_key),
                     answer=one("|".join(sorted(normalise_text(a) for a in draft.answers))),
                     file=one(p.original_file), start_s=p.start_s, end_s=p.end_s, source=one(draft.clip.source_path))


@dataclass
class Selection:
    split: dict[str, str] = field(default_factory=dict)  # draft id -> "eval" | "train"
    rank: dict[str, int] = field(default_factory=dict)  # eval draft id -> its rank in its task (0 = first)
    targets: dict[str, int] = field(default_factory=dict)  # task -> eval questions wanted
    selected: dict[str, int] = field(default_factory=dict)  # "task/split" -> drafts selected (reserve included)
    dropped: dict[str, int] = field(default_factory=dict)  # why candidates were not selected, by reason

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Selection:
        return cls(**data)

    def summary(self) -> dict:
        return {"targets": self.targets, "selected": self.selected, "not_selected": self.dropped}


def class_quotas(available: Counter, want: int, seed: int, task_abbr: str) -> dict[str, int]:
    """Per-class eval quotas summing to min(want, available): as even as the classes' sizes allow."""
    want = min(want, sum(available.values()))
    quotas = {c: 0 for c in available}
    remaining = dict(available)
    while want > 0 and remaining:
        share = want // len(remaining)
        if share == 0:  # fewer questions left than classes: one more each to classes in a seeded order
            for c in sorted(remaining, key=lambda c: (unit_interval(seed, "class", task_abbr, c), c))[:want]:
                quotas[c] += 1
            break
        for c in sorted(remaining):
            take = min(share, remaining[c])
            quotas[c] += take
            remaining[c] -= take
            want -= take
        remaining = {c: n for c, n in remaining.items() if n > 0}
    return quotas


class _Spans:
    """Time spans taken per (task, split, group, file): a new span may not overlap one taken."""

    def __init__(self) -> None:
        self.taken: dict[tuple, list[tuple[float, float]]] = defaultdict(list)

    def free(self, c: Candidate, split: str) -> bool:
        if c.start_s is None or c.end_s is None:
            return True
        return all(c.end_s <= s or c.start_s >= e for s, e in self.taken[(c.task, split, c.group, c.file)])

    def take(self, c: Candidate, split: str) -> None:
        if c.start_s is not None and c.end_s is not None:
            self.taken[(c.task, split, c.group, c.file)].append((c.start_s, c.end_s))


def eval_targets(available: Counter, cfg: SplitConfig) -> dict[str, int]:
    return {t: min(cfg.eval_targets.get(t, 0), math.ceil(n * cfg.eval_max_fraction)) for t, n in available.items()}


def select(candidates: Iterable[Candidate], cfg: SplitConfig, seed: int) -> Selection:
    members: dict[str, list[Candidate]] = defaultdict(list)
    available: Counter = Counter()
    for c in candidates:
        members[c.group].append(c)
        available[c.task] += 1

    multi = {t for t in available if TASKS.get(t) is not None and TASKS[t].kind is Kind.MULTI}
    classes: dict[str, Counter] = defaultdict(Counter)
    for group in members.values():
        for c in group:
            if c.task not in multi:
                classes[c.task][c.answer] += 1
    for group in members.values():
        group.sort(key=lambda c: (unit_interval(seed, "pick", c.id), c.id))
    order = sorted(members, key=lambda g: (unit_interval(seed, "split", g), g))

    sel = Selection(targets=eval_targets(available, cfg))
    # The reserve never takes eval past `eval_max_fraction` of a task, so small builds keep their train split.
    reserve_limit = {t: min(w + math.ceil(w * cfg.eval_reserve) + cfg.eval_reserve_min,
                            math.ceil(available[t] * cfg.eval_max_fraction)) for t, w in sel.targets.items()}
    # The share cap never makes a target unreachable: with few groups (a trial build), each may give what the
    # eval share of the groups needs.
    groups_of: dict[str, set[str]] = defaultdict(set)
    for g, group in members.items():
        for c in group:
            groups_of[c.task].add(g)
    cap = {t: max(1, math.floor(cfg.eval_max_group_share * w),
                  math.ceil(w / max(1, math.floor(len(groups_of[t]) * cfg.eval_max_fraction))))
           for t, w in sel.targets.items()}
    quotas = {t: class_quotas(classes[t], w, seed, t) for t, w in sel.targets.items()
              if TASKS.get(t) is not None and TASKS[t].answer_classes and t not in multi}
    # Several answers per item (AR's actions): no label may be an answer in more than `eval_max_label_share` of
    # eval (a pose like "stand" is in most of AVA's sets), so no label's prior gives the answer away.
    label_cap = {t: max(1, math.ceil(w * cfg.eval_max_label_share)) for t, w in sel.targets.items()
                 if t in multi and TASKS[t].answer_classes}
    per_label: dict[str, Counter] = defaultdict(Counter)
    in_eval: Counter = Counter()
    per_class: dict[str, Counter] = defaultdict(Counter)
    per_group: Counter = Counter()
    spans = _Spans()
    eval_groups: set[str] = set()

    def take_eval(c: Candidate) -> None:
        sel.split[c.id], sel.rank[c.id] = "eval", in_eval[c.task]
        in_eval[c.task] += 1
        per_class[c.task][c.answer] += 1
        per_label[c.task].update(c.answer.split("|"))
        per_group[(c.group, c.task)] += 1
        spans.take(c, "eval")
        eval_groups.add(c.group)

    # Core eval: first within the class quotas, then filling what the quotas left; then the reserve.
    for stage in ("balanced", "fill", "reserve"):
        for g in order:
            for c in members[g]:
                t = c.task
                limit = reserve_limit[t] if stage == "reserve" else sel.targets[t]
                if (c.id in sel.split or in_eval[t] >= limit or per_group[(g, t)] >= cap[t]
                        or (stage == "balanced" and t in quotas and per_class[t][c.answer] >= quotas[t][c.answer])
                        or (stage == "balanced" and t in label_cap
                            and any(per_label[t][a] >= label_cap[t] for a in c.answer.split("|")))
                        or not spans.free(c, "eval")):
                    continue
                take_eval(c)

    in_train: Counter = Counter()
    for g in order:
        if g in eval_groups:
            continue
        for c in members[g]:
            if cfg.train_max_per_task is not None and in_train[c.task] >= cfg.train_max_per_task:
                continue
            if spans.free(c, "train"):
                sel.split[c.id] = "train"
                in_train[c.task] += 1
                spans.take(c, "train")

    dropped: Counter = Counter()
    for g in members.values():
        for c in g:
            if c.id not in sel.split:
                dropped[_why(c, eval_groups, in_train, cfg)] += 1
    sel.dropped = dict(sorted(dropped.items()))
    chosen = Counter(f"{c.task}/{sel.split[c.id]}" for g in members.values() for c in g if c.id in sel.split)
    sel.selected = dict(sorted(chosen.items()))
    return sel


def _why(c: Candidate, eval_groups: set[str], in_train: Counter, cfg: SplitConfig) -> str:
    if c.group in eval_groups:
        return "eval group, not needed"
    if cfg.train_max_per_task is not None and in_train[c.task] >= cfg.train_max_per_task:
        return "train cap reached"
    return "overlaps a selected span"


def keep_best_ranked(ids_by_task: dict[str, list[str]], sel: Selection) -> set[str]:
    """Of the eval drafts that became items, the `target` best-ranked per task (the rest of the reserve unused)."""
    keep: set[str] = set()
    for t, ids in ids_by_task.items():
        ranked = sorted((i for i in ids if sel.split.get(i) == "eval"), key=lambda i: sel.rank[i])
        keep.update(ranked[: sel.targets.get(t, 0)])
    return keep


def annotation_needs(tasks: Iterable[str], cfg: SplitConfig) -> dict[str, int] | None:
    """Drafts an annotated source must yield per task: eval's target and the train items, plus the margin."""
    if cfg.annotate_all:
        return None
    train = cfg.annotate_train_per_task  # never more than train may take (an eval-only build annotates for eval)
    if cfg.train_max_per_task is not None:
        train = min(train, cfg.train_max_per_task)
    return {t: math.ceil((cfg.eval_targets.get(t, 0) + train) * (1 + cfg.annotate_margin)) for t in tasks}


SELECTION = "selection.json"


def select_key(draft_files: list[Path], cfg: SplitConfig, seed: int) -> str:
    """What decides a selection: the parse outputs (their folders are keyed by content), which of their media files
    exist (a missing one quarantines its drafts), the split settings, the seed and this code."""
    present = [[os.path.exists(m) for m in draft_media(Path(f))] for f in draft_files]
    return digest("select", [str(f) for f in draft_files], present, cfg.model_dump(mode="json"), seed,
                  code_digest(sys.modules[__name__], schema), length=24)


def select_stage(draft_files: list[Path], cfg: SplitConfig, seed: int, folder: Path) -> dict:
    """The select stage of a build: drafts whose media exist -> `folder/selection.json`, the media files the
    selected drafts are cut from -> `folder/media.json`; drafts with missing media quarantined."""
    candidates, quarantined, exists, shared = [], [], {}, {}
    for path in draft_files:
        for draft in read_jsonl(Path(path), ItemDraft):
            src = draft.clip.source_path
            if src not in exists:
                exists[src] = Path(src).exists()
            if exists[src]:
                candidates.append(candidate_of(draft, shared))
            else:
                quarantined.append(missing_media(draft))
    del shared, exists
    chosen = select(candidates, cfg, seed)
    write_jsonl(folder / "quarantine.jsonl", quarantined)
    write_json(folder / SELECTED_MEDIA, sorted({c.source for c in candidates if c.id in chosen.split}))
    write_json(folder / SELECTION, chosen.to_json())  # last: its presence marks the output complete
    touch_and_prune(folder)
    return {"selection": str(folder / SELECTION), "quarantine": str(folder / "quarantine.jsonl"),
            **chosen.summary()}
