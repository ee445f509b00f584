"""Choosing wrong options and placing the answer: paraphrase checks, length matching, balanced answer letters.

Rules, each a number in `AugmentConfig` and tested:
* a wrong option never equals the answer after normalisation, nor, when drawn from the pool, paraphrases it
  (word-set Jaccard similarity at or above `paraphrase_jaccard`);
* options that are labels of a closed vocabulary (`TaskSpec.label_options`: every task but CM and PC) are drawn
  as often as each label is an answer in the task and split (AR: "stand" is a wrong option about three times as
  often as it is right), so no label, however long, short or common, is right more than its share of the times it
  is shown;
* free-text options (CM, PC): every wrong option's length is within `max(length_abs_chars, length_rel * answer
  length)` characters of the answer's (for several answers, of their median length), and an item whose pool cannot
  fill its options within the rule is refused rather than published unbalanced; wrong options come from a length
  window placed at random around the answer (`length_window`), so the answer's length is exchangeable with theirs:
  neither the longest, the shortest, the closest to the mean nor any rank gives the answer away; an eval item never
  takes a wrong option from a record released in train (its text is a known answer there);
* within a task and split, the letters of correct answers are spread so that their counts differ by at most one
  (for counts, HC, the truth's place among the candidate counts).
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterable, Iterator
from itertools import chain, islice
from statistics import median

from humansense.sections import AugmentConfig
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


WEIGHTED_POOL_MAX = 5000  # pools up to this size are drawn by answer frequency; larger ones (texts) uniformly


def length_window(draft_id: str, target: float, seed: int, cfg: AugmentConfig) -> tuple[float, float]:
    """(centre, half width) of the lengths an item's wrong options are drawn from: a window as wide as the length
    rule's tolerance, its centre shifted from the answer's length by a seeded uniform offset, so that the answer is
    anywhere in it: the answer's length is then exchangeable with the wrong options' (longest, shortest, closest to
    the mean and each rank are the answer about equally often), and every option still keeps the length rule."""
    width = max(cfg.length_abs_chars, cfg.length_rel * target)
    return target + (unit_interval(seed, draft_id, "length-window") - 0.5) * width, width / 2


def _pool_order(draft: ItemDraft, rng, pools: Pools | None, weights: dict[str, float] | None,
                excluded: Collection[str] = ()) -> Iterable[str]:
    """The draft's pool in the order it is tried: seeded uniform, or, for a vocabulary pool when the task's answer
    counts are given, a seeded weighted order (exponential races) in which each label comes early as often as it is
    an answer in the task, so common classes are wrong options as often as they are answers. Entries owned by
    `excluded` records are left out."""
    pool: list[str] | Iterable[str] = list(draft.distractors)
    if draft.distractor_pool:
        skip = set(draft.pool_excludes)
        entries = (pools or Pools()).entries(draft.distractor_pool, draft.provenance.record_id, excluded, skip)
        if weights is None or len(entries) > WEIGHTED_POOL_MAX:
            return chain(rng.sample(pool, len(pool)), (pools or Pools()).draw(
                draft.distractor_pool, draft.provenance.record_id, rng, excluded, skip))
        pool = pool + entries
    if weights is None:
        return rng.sample(pool, len(pool))
    floor = 0.05  # a label never seen as an answer still comes up, rarely
    keyed = [(-math.log(1.0 - rng.random()) / (weights.get(normalise_text(t), 0.0) + floor), t) for t in pool]
    return [t for _, t in sorted(keyed)]


def pick_wrong_options(draft: ItemDraft, wanted: int, seed: int, cfg: AugmentConfig,
                       pools: Pools | None = None, weights: dict[str, float] | None = None,
                       excluded: Collection[str] = ()) -> list[str]:
    """Hard distractors first, then the pool; never an answer, nor (from the pool) a paraphrase of one.

    Labels (`TaskSpec.label_options`) are taken in the weighted pool order. Free text keeps the length rule and is
    taken from the item's `length_window`; where the window has too few, the nearest lengths within the rule fill
    the rest, and an item whose pool cannot fill its options within the rule is refused. The pool is walked only
    until enough are found, so a pool of thousands costs a handful of draws per item. `excluded`: records whose
    pool entries may not be used (for eval, the records released as train, whose answers are known).
    """
    rng = seeded_rng(seed, draft.id, "distractors")
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
    hard = usable(rng.sample(draft.hard_distractors, len(draft.hard_distractors)), word_check=False)
    candidates = chain(hard, usable(_pool_order(draft, rng, pools, weights, excluded), word_check=True))
    if task(draft.task).label_options:  # labels: exposure by answer frequency is the balance, not length
        chosen = list(islice(candidates, wanted))
        if len(chosen) < wanted:
            raise OptionError("not enough distractors", f"{draft.id}: {len(chosen)} usable wrong options, "
                                                        f"need {wanted}")
        return chosen
    target = median(len(a) for a in draft.answers)
    centre, half = length_window(draft.id, target, seed, cfg)
    in_window: list[str] = []
    in_rule: list[str] = []
    usable_count = 0
    for c in candidates:
        usable_count += 1
        if abs(len(c) - centre) <= half:
            in_window.append(c)
            if len(in_window) == wanted:
                return in_window
        elif length_ok(c, target, cfg):
            in_rule.append(c)
    if len(in_window) + len(in_rule) >= wanted:
        in_rule.sort(key=lambda c: abs(len(c) - centre))
        return in_window + in_rule[: wanted - len(in_window)]
    if usable_count < wanted:
        raise OptionError("not enough distractors", f"{draft.id}: {usable_count} usable wrong options, need {wanted}")
    raise OptionError("option lengths unbalanced",
                      f"{draft.id}: only {len(in_window) + len(in_rule)} of {wanted} wrong options are within the "
                      f"length rule of an answer of {target:g} characters")


def answer_slots(draft: ItemDraft) -> int:
    """How many option places a draft's answers take (one for numeral tasks: the truth's place among the counts)."""
    return 1 if task(draft.task).kind is Kind.NUMERAL else len(draft.answers)


def assign_answer_positions(members: list[tuple[str, int]], slots: int, seed: int,
                            pinned: dict[str, tuple[int, ...]] | None = None) -> dict[str, tuple[int, ...]]:
    """Answer positions for one task's drafts of one split, given as (id, answer places: `answer_slots`) among
    `slots` options, so that each letter is correct equally often.

    A draft pinned by the ledger (`pinned`: its positions in the previous build) keeps them, so adding or removing
    other records never moves its letters; the others are visited in a seeded order and each takes the positions
    used least so far (ties broken by its own seeded generator). On a fresh build this keeps every letter's count
    within one of every other's, for one answer per item and for several (adding one to the k smallest of counts
    that differ by at most one keeps them so); after changes, new items fill the least-used letters first.
    """
    counts = [0] * slots
    positions: dict[str, tuple[int, ...]] = {}
    pinned = pinned or {}
    fresh = []
    for draft_id, places in members:
        kept = pinned.get(draft_id)
        if kept is not None and len(kept) == places and all(0 <= p < slots for p in kept):
            positions[draft_id] = tuple(kept)
            for i in kept:
                counts[i] += 1
        else:
            fresh.append((draft_id, places))
    for draft_id, places in sorted(fresh, key=lambda m: (unit_interval(seed, "balance", m[0]), m[0])):
        rng = seeded_rng(seed, draft_id, "positions")
        order = sorted(range(slots), key=lambda i: (counts[i], rng.random()))
        chosen = tuple(sorted(order[:places]))
        for i in chosen:
            counts[i] += 1
        positions[draft_id] = chosen
    return positions


def arrange(draft: ItemDraft, wrong: list[str], positions: tuple[int, ...], seed: int) -> tuple[list[str], str]:
    """The option texts in order and the answer (letters, or the digit for numeral tasks)."""
    spec = task(draft.task)
    options: list[str | None] = [None] * spec.options
    answers = seeded_rng(seed, draft.id, "answer-order").sample(draft.answers, len(draft.answers))
    for pos, text in zip(positions, answers):
        options[pos] = text
    free = iter(wrong)
    texts = [o if o is not None else next(free) for o in options]
    if spec.kind is Kind.NUMERAL:  # the candidate counts, the truth at its balanced place; answered as a digit
        return texts, draft.answers[0]
    return texts, "".join(LETTERS[p] for p in positions)


def wrong_options_for(draft: ItemDraft, seed: int, cfg: AugmentConfig, pools: Pools | None = None,
                      weights: dict[str, float] | None = None, excluded: Collection[str] = ()) -> list[str]:
    spec = task(draft.task)
    return pick_wrong_options(draft, spec.options - answer_slots(draft), seed, cfg, pools, weights, excluded)
