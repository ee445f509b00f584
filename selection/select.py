"""The select stage: decide, before any clip is cut, which drafts the release needs and in which split.

Rules (numbers in `[split]`, each tested at thousands of drafts; the policy annotation shares in `humansense.budget`):
* a group (source video, conversation, person: `provenance.group`) is wholly in eval or wholly in train;
* eval has exactly each task's target (the paper's count, capped at `eval_max_fraction` of what the task has
  unless the build is eval only), never more, plus a ranked reserve (`eval_reserve`) that replaces eval items
  refused later (a clip that fails, an option pool that cannot be balanced); the augment stage keeps the
  best-ranked `target` survivors;
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
from array import array
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field

from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict

from humansense.budget import answer_class, eval_group_cap
from humansense.sections import SplitConfig
from humansense.ids import digest, unit_interval
from humansense.io import read_jsonl, write_json, write_jsonl
from humansense.keyed import code_key, touch_and_prune
from humansense.schema import ItemDraft, Provenance
from humansense.stages import KeyedStage, output_done
from humansense.sources.stage import draft_media, missing_media
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


class _Read(BaseModel):
    """A projection: reading only these fields of a draft (validated whole by the parse that wrote it) costs the
    select stage a third of reading it as an `ItemDraft` (~430,000 drafts in a doubled full-size tree). Without
    pydantic's cache of parsed strings: its entries, scattered over the heap, kept ~20 MB from going back to the
    system after the stage (more with a larger source), and looking strings up in it was slower than making them."""

    model_config = ConfigDict(extra="ignore", frozen=True, cache_strings=False)


class _ReadProvenance(_Read):
    source: str
    record_id: str
    group: str | None = None
    original_file: str
    start_s: float | None = None
    end_s: float | None = None

    group_key = Provenance.group_key


class _ReadClip(_Read):
    source_path: str


class DraftFacts(_Read):
    """What selection reads of a draft."""

    id: str
    task: str
    provenance: _ReadProvenance
    answers: list[str]
    clip: _ReadClip


def candidate_of(draft: ItemDraft | DraftFacts) -> Candidate:
    p = draft.provenance
    return Candidate(id=draft.id, task=draft.task, group=p.group_key, answer=answer_class(draft.answers),
                     file=p.original_file, start_s=p.start_s, end_s=p.end_s, source=draft.clip.source_path)


TEXT_COLUMNS = ("task", "group", "answer", "file", "source")


class CandidateTable:
    """Candidates as columns: each repeated text (task, group, answer class, file, media file) once with a code
    per candidate, spans as floats, ids in one byte buffer. About 70 bytes per candidate against ~275 for a
    `Candidate` and its strings, so selection over the ~600,000 drafts of a doubled full-size tree stays small."""

    def __init__(self) -> None:
        self.codes: dict[str, dict[str, int]] = {k: {} for k in TEXT_COLUMNS}
        self.texts: dict[str, list[str]] = {k: [] for k in TEXT_COLUMNS}
        self.columns: dict[str, array] = {k: array("i") for k in TEXT_COLUMNS}
        self.start, self.end = array("d"), array("d")  # NaN: no span
        self._ids, self._id_ends = bytearray(), array("Q")

    @classmethod
    def of(cls, candidates: Iterable[Candidate]) -> CandidateTable:
        table = cls()
        for c in candidates:
            table.add(c)
        return table

    def add(self, c: Candidate) -> None:
        for column in TEXT_COLUMNS:
            text = getattr(c, column)
            code = self.codes[column].get(text)
            if code is None:
                code = self.codes[column][text] = len(self.texts[column])
                self.texts[column].append(text)
            self.columns[column].append(code)
        self.start.append(math.nan if c.start_s is None or c.end_s is None else c.start_s)
        self.end.append(math.nan if c.start_s is None or c.end_s is None else c.end_s)
        self._ids += c.id.encode("utf-8")
        self._id_ends.append(len(self._ids))

    def done(self) -> CandidateTable:
        """No more candidates: the text-to-code maps go (selection reads codes and texts only)."""
        self.codes = {}
        return self

    def __len__(self) -> int:
        return len(self._id_ends)

    def id(self, i: int) -> str:
        return self._ids[self._id_ends[i - 1] if i else 0:self._id_ends[i]].decode("utf-8")

    def text(self, column: str, i: int) -> str:
        return self.texts[column][self.columns[column][i]]


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

    def __init__(self, table: CandidateTable) -> None:
        self.taken: dict[tuple, list[tuple[float, float]]] = defaultdict(list)
        self.task, self.group, self.file = (table.columns[k] for k in ("task", "group", "file"))
        self.start, self.end = table.start, table.end

    def _key(self, i: int, split: str) -> tuple:
        return self.task[i], split, self.group[i], self.file[i]

    def free(self, i: int, split: str) -> bool:
        start, end = self.start[i], self.end[i]
        if start != start:  # NaN: no span
            return True
        return all(end <= s or start >= e for s, e in self.taken.get(self._key(i, split), ()))

    def take(self, i: int, split: str) -> None:
        if self.start[i] == self.start[i]:
            self.taken[self._key(i, split)].append((self.start[i], self.end[i]))


def eval_targets(available: Counter, cfg: SplitConfig) -> dict[str, int]:
    return {t: min(cfg.eval_targets.get(t, 0), math.ceil(n * cfg.eval_fraction)) for t, n in available.items()}


EVAL, TRAIN = 1, 2  # a candidate's place in `_select`'s result


def select(candidates: Iterable[Candidate] | CandidateTable, cfg: SplitConfig, seed: int) -> Selection:
    table = candidates if isinstance(candidates, CandidateTable) else CandidateTable.of(candidates).done()
    return _select(table, cfg, seed)[0]


def _visit_order(table: CandidateTable, seed: int) -> np.ndarray:
    """Candidate indices with groups in a seeded order, and within a group the candidates in a seeded order."""
    groups = table.texts["group"]
    group_rank = np.empty(len(groups), dtype=np.int64)
    group_rank[sorted(range(len(groups)), key=lambda g: (unit_interval(seed, "split", groups[g]), groups[g]))] = \
        np.arange(len(groups))
    pick = np.fromiter((unit_interval(seed, "pick", table.id(i)) for i in range(len(table))), dtype=np.float64,
                       count=len(table))
    return np.lexsort((pick, group_rank[np.frombuffer(table.columns["group"], dtype=np.int32)]))


def _in_chunks(order: np.ndarray, size: int = 1 << 16) -> Iterator[int]:
    """The indices as Python ints, a chunk at a time (a list of them all would cost 36 bytes per candidate)."""
    for at in range(0, len(order), size):
        yield from order[at:at + size].tolist()


def _select(table: CandidateTable, cfg: SplitConfig, seed: int) -> tuple[Selection, bytearray]:
    """The selection, and per candidate its place (EVAL, TRAIN or 0)."""
    tasks, answers = table.texts["task"], table.texts["answer"]
    task_of, group_of, answer_of = (table.columns[k] for k in ("task", "group", "answer"))
    n = len(table)
    task_codes = np.frombuffer(task_of, dtype=np.int32)
    available = Counter({tasks[t]: int(k) for t, k in zip(*np.unique(task_codes, return_counts=True))})

    multi = {t for t in available if TASKS.get(t) is not None and TASKS[t].kind is Kind.MULTI}
    pairs = task_codes.astype(np.int64) << 32 | np.frombuffer(answer_of, dtype=np.int32)
    classes: dict[str, Counter] = defaultdict(Counter)
    for pair, k in zip(*np.unique(pairs, return_counts=True)):
        if tasks[int(pair) >> 32] not in multi:
            classes[tasks[int(pair) >> 32]][answers[int(pair) & 0xFFFFFFFF]] += int(k)
    task_groups = np.unique(task_codes.astype(np.int64) << 32 | np.frombuffer(group_of, dtype=np.int32)) >> 32
    groups_per_task = {tasks[t]: int(k) for t, k in zip(*np.unique(task_groups, return_counts=True))}
    order = _visit_order(table, seed)

    sel = Selection(targets=eval_targets(available, cfg))
    # The reserve never takes eval past `eval_max_fraction` of a task, so small builds keep their train split.
    reserve_limit = {t: min(w + math.ceil(w * cfg.eval_reserve) + cfg.eval_reserve_min,
                            math.ceil(available[t] * cfg.eval_fraction)) for t, w in sel.targets.items()}
    # The share cap never makes a target unreachable: with few groups (a trial build), each may give what the
    # eval share of the groups needs.
    cap = {t: max(eval_group_cap(w, cfg), math.ceil(w / max(1, math.floor(groups_per_task[t] * cfg.eval_fraction))))
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
    spans = _Spans(table)
    eval_groups: set[int] = set()
    place = bytearray(n)

    def take_eval(i: int, t: str, answer: str) -> None:
        place[i] = EVAL
        sel.split[table.id(i)], sel.rank[table.id(i)] = "eval", in_eval[t]
        in_eval[t] += 1
        per_class[t][answer] += 1
        per_label[t].update(answer.split("|"))
        per_group[(group_of[i], t)] += 1
        spans.take(i, "eval")
        eval_groups.add(group_of[i])

    # Core eval: first within the class quotas, then filling what the quotas left; then the reserve.
    for stage in ("balanced", "fill", "reserve"):
        limits = reserve_limit if stage == "reserve" else sel.targets
        open_tasks = {t for t, w in limits.items() if in_eval[t] < w}
        for i in _in_chunks(order):
            if not open_tasks:  # every task has what this pass may give it: the rest of the order is skipped
                break
            t = tasks[task_of[i]]
            if place[i] or t not in open_tasks or per_group[(group_of[i], t)] >= cap[t]:
                continue
            answer = answers[answer_of[i]]
            if ((stage == "balanced" and t in quotas and per_class[t][answer] >= quotas[t][answer])
                    or (stage == "balanced" and t in label_cap
                        and any(per_label[t][a] >= label_cap[t] for a in answer.split("|")))
                    or not spans.free(i, "eval")):
                continue
            take_eval(i, t, answer)
            if in_eval[t] >= limits[t]:
                open_tasks.discard(t)

    in_train: Counter = Counter()
    for i in _in_chunks(order):
        if group_of[i] in eval_groups:
            continue
        t = tasks[task_of[i]]
        if cfg.train_max_per_task is not None and in_train[t] >= cfg.train_max_per_task:
            continue
        if spans.free(i, "train"):
            place[i] = TRAIN
            sel.split[table.id(i)] = "train"
            in_train[t] += 1
            spans.take(i, "train")

    dropped: Counter = Counter()
    chosen: Counter = Counter()
    for i in range(n):
        t = tasks[task_of[i]]
        if place[i]:
            chosen[f"{t}/{'eval' if place[i] == EVAL else 'train'}"] += 1
        elif group_of[i] in eval_groups:
            dropped["eval group, not needed"] += 1
        elif cfg.train_max_per_task is not None and in_train[t] >= cfg.train_max_per_task:
            dropped["train cap reached"] += 1
        else:
            dropped["overlaps a selected span"] += 1
    sel.dropped = dict(sorted(dropped.items()))
    sel.selected = dict(sorted(chosen.items()))
    return sel, place


def keep_best_ranked(ids_by_task: dict[str, list[str]], sel: Selection) -> set[str]:
    """Of the eval drafts that became items, the `target` best-ranked per task (the rest of the reserve unused)."""
    keep: set[str] = set()
    for t, ids in ids_by_task.items():
        ranked = sorted((i for i in ids if sel.split.get(i) == "eval"), key=lambda i: sel.rank[i])
        keep.update(ranked[: sel.targets.get(t, 0)])
    return keep


SELECTION = "selection.json"
SELECTED_MEDIA = "media.json"  # beside selection.json: the media files the selected drafts are cut from


def select_key(draft_files: list[Path], cfg: SplitConfig, seed: int) -> str:
    """What decides a selection: the parse outputs (their folders are keyed by content), which of their media files
    exist (a missing one quarantines its drafts), the split settings, the seed and this code."""
    present = [[os.path.exists(m) for m in draft_media(Path(f))] for f in draft_files]
    return digest("select", [str(f) for f in draft_files], present, cfg.model_dump(mode="json"), seed,
                  code_key(__name__), length=24)


def select_stage(draft_files: list[Path], cfg: SplitConfig, seed: int, folder: Path) -> dict:
    """The select stage of a build: drafts whose media exist -> `folder/selection.json`, the media files the
    selected drafts are cut from -> `folder/media.json`; drafts with missing media quarantined."""
    table, quarantined, exists = CandidateTable(), [], {}
    for path in draft_files:
        for draft in read_jsonl(Path(path), DraftFacts):
            src = draft.clip.source_path
            if src not in exists:
                exists[src] = Path(src).exists()
            if exists[src]:
                table.add(candidate_of(draft))
            else:
                quarantined.append(missing_media(draft))
    del exists
    chosen, place = _select(table.done(), cfg, seed)
    write_jsonl(folder / "quarantine.jsonl", quarantined)
    write_json(folder / SELECTED_MEDIA, sorted({table.text("source", i) for i in range(len(table)) if place[i]}))
    write_json(folder / SELECTION, chosen.to_json())  # last: its presence marks the output complete
    touch_and_prune(folder)
    return {"selection": str(folder / SELECTION), "quarantine": str(folder / "quarantine.jsonl"),
            **chosen.summary()}


SELECT = KeyedStage("select", "select", key=select_key, done=output_done(SELECTION))
