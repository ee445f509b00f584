"""Choosing wrong options and placing the answer: paraphrase checks, length matching, balanced answer letters.

Rules, each a number in `AugmentConfig` and tested:
* a wrong option never equals the answer after normalisation, nor, when drawn from the pool, paraphrases it
  (word-set Jaccard similarity at or above `paraphrase_jaccard`);
* every wrong option's length is within `max(length_abs_chars, length_rel * answer length)` characters of the
  answer's (for several answers, of their median length); wrong options that fit are preferred, and an item
  whose pool cannot fill its options within the rule is refused rather than published unbalanced;
* within a task and split, the letters of correct answers are spread so that their counts differ by at most one.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from itertools import chain
from statistics import median

from humansense.config import AugmentConfig
from humansense.ids import seeded_rng, unit_interval
from humansense.schema import LETTERS, ItemDraft, normalise_text
from humansense.sources.pools import Pools
from humansense.tasks import Kind, task


class OptionError(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9']+", text.lower()))


def paraphrases(a: str, b: str, threshold: float) -> bool:
    """Same words in (nearly) the same amount: 'The man waves.' ~ 'the man waves'."""
    if normalise_text(a) == normalise_text(b):
        return True
    wa, wb = _words(a), _words(b)
    return bool(wa and wb) and len(wa & wb) / len(wa | wb) >= threshold


def length_ok(text: str, target: float, cfg: AugmentConfig) -> bool:
    return abs(len(text) - target) <= max(cfg.length_abs_chars, cfg.length_rel * target)


def pick_wrong_options(draft: ItemDraft, wanted: int, seed: int, cfg: AugmentConfig,
                       pools: Pools | None = None) -> list[str]:
    """Hard distractors first, then the pool; drop paraphrases of any answer; prefer lengths near the answer's.

    The pool (the draft's own `distractors`, then its shared pool) is walked in a seeded random order only until
    enough fitting options are found, so a pool of thousands costs a handful of draws per item.
    """
    rng = seeded_rng(seed, draft.id, "distractors")
    target = median(len(a) for a in draft.answers)
    seen: set[str] = set()
    answers = {normalise_text(a) for a in draft.answers}

    def usable(candidates: Iterable[str], word_check: bool) -> Iterator[str]:
        for c in candidates:
            key = normalise_text(c)
            if key in seen or key in answers or (
                    word_check and any(paraphrases(c, a, cfg.paraphrase_jaccard) for a in draft.answers)):
                continue
            seen.add(key)
            yield c

    # Hard distractors are built to share the answer's words (CM: the same events in another order), so only
    # exact equality disqualifies them; the word-set paraphrase test applies to the pool.
    hard = list(usable(rng.sample(draft.hard_distractors, len(draft.hard_distractors)), word_check=False))
    fitting = [c for c in hard if length_ok(c, target, cfg)]
    pool: Iterable[str] = rng.sample(draft.distractors, len(draft.distractors))
    if draft.distractor_pool:
        pool = chain(pool, (pools or Pools()).draw(draft.distractor_pool, draft.provenance.record_id, rng))
    usable_count = len(hard)
    for c in usable(pool, word_check=True):
        if len(fitting) >= wanted:
            break
        usable_count += 1
        if length_ok(c, target, cfg):
            fitting.append(c)
    if len(fitting) >= wanted:
        return fitting[:wanted]
    if usable_count < wanted:
        raise OptionError("not enough distractors", f"{draft.id}: {usable_count} usable wrong options, need {wanted}")
    raise OptionError("option lengths unbalanced",
                      f"{draft.id}: only {len(fitting)} of {wanted} wrong options are within the length rule of an "
                      f"answer of {target:g} characters")


def answer_slots(draft: ItemDraft) -> int:
    """How many option places a draft's answers take (one for numeral tasks: the truth's place among the counts)."""
    return 1 if task(draft.task).kind is Kind.NUMERAL else len(draft.answers)


def assign_answer_positions(drafts: list[ItemDraft], seed: int,
                            pinned: dict[str, tuple[int, ...]] | None = None) -> dict[str, tuple[int, ...]]:
    """Answer positions for one task's drafts of one split, so that each letter is correct equally often.

    A draft pinned by the ledger (`pinned`: its positions in the previous build) keeps them, so adding or removing
    other records never moves its letters; the others are visited in a seeded order and each takes the positions
    used least so far (ties broken by its own seeded generator). On a fresh build this keeps every letter's count
    within one of every other's, for one answer per item and for several (adding one to the k smallest of counts
    that differ by at most one keeps them so); after changes, new items fill the least-used letters first.
    """
    if not drafts:
        return {}
    slots = task(drafts[0].task).options
    counts = [0] * slots
    positions: dict[str, tuple[int, ...]] = {}
    pinned = pinned or {}
    fresh = []
    for d in drafts:
        kept = pinned.get(d.id)
        if kept is not None and len(kept) == answer_slots(d) and all(0 <= p < slots for p in kept):
            positions[d.id] = tuple(kept)
            for i in kept:
                counts[i] += 1
        else:
            fresh.append(d)
    for d in sorted(fresh, key=lambda d: (unit_interval(seed, "balance", d.id), d.id)):
        rng = seeded_rng(seed, d.id, "positions")
        order = sorted(range(slots), key=lambda i: (counts[i], rng.random()))
        chosen = tuple(sorted(order[:answer_slots(d)]))
        for i in chosen:
            counts[i] += 1
        positions[d.id] = chosen
    return positions


def balanced_positions(drafts: list[ItemDraft], splits: dict[str, str], seed: int,
                       pinned: dict[str, tuple[int, ...]] | None = None) -> dict[str, tuple[int, ...]]:
    groups: dict[tuple[str, str], list[ItemDraft]] = defaultdict(list)
    for d in drafts:
        groups[(d.task, splits.get(d.id, "unassigned"))].append(d)
    positions: dict[str, tuple[int, ...]] = {}
    for members in groups.values():
        positions |= assign_answer_positions(members, seed, pinned)
    return positions


def arrange(draft: ItemDraft, wrong: list[str], positions: tuple[int, ...], seed: int) -> tuple[list[str], str]:
    """The option texts in order and the answer (letters, or the digit for numeral tasks)."""
    spec = task(draft.task)
    if spec.kind is Kind.NUMERAL:
        return _numeral_window(draft, positions[0]), draft.answers[0]
    options: list[str | None] = [None] * spec.options
    answers = seeded_rng(seed, draft.id, "answer-order").sample(draft.answers, len(draft.answers))
    for pos, text in zip(positions, answers):
        options[pos] = text
    free = iter(wrong)
    return [o if o is not None else next(free) for o in options], "".join(LETTERS[p] for p in positions)


def wrong_options_for(draft: ItemDraft, seed: int, cfg: AugmentConfig, pools: Pools | None = None) -> list[str]:
    spec = task(draft.task)
    if spec.kind is Kind.NUMERAL:  # the candidates are a window of counts, placed by `arrange`
        return []
    return pick_wrong_options(draft, spec.options - len(draft.answers), seed, cfg, pools)


def _numeral_window(draft: ItemDraft, position: int) -> list[str]:
    """Consecutive counts around the truth, the truth at `position` where 0-9 allows (balancing its place)."""
    n, size = int(draft.answers[0]), task(draft.task).options
    start = min(max(n - position, 0), 10 - size)
    return [str(c) for c in range(start, start + size)]
