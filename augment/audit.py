"""The bias audit: how well answerers that never look at the media do, per task. Each must sit near chance.

Blind answerers: always the same letter (the best letter is reported), the longest option, the shortest option,
the option closest to the mean length, the median-length option, the option sharing most words with the question,
the option most often correct in the task (an answer prior, counted over the task's other items), and a learned
text-only answerer (`augment/learned.py`: a classifier on length, rank, overlap, option frequency and TF-IDF,
scored by grouped cross-validation). For counts (HC) also the middle candidate value, and the authors' bare-numeral
form: always saying the task's most common count. For "one or more" tasks an answerer picks one letter and scores
when it is among the correct ones (chance = mean number of answers / options). A text-only LLM answerer joins when
an LLM is configured (the annotator issue).

The audit scores eval (the benchmark; items of a build without a selection count as eval); answerers that learn
(the answer prior, the most common count, the classifier) learn from the released train split when there is one.
A task fails when an answerer beats chance by more than `audit_tolerance` and the excess is significant (one-sided
binomial test at `audit_alpha`), so that a five-item sample does not fail by luck while a biased set of
thousands does.
"""

from __future__ import annotations

import math
import re
import sys
from collections import Counter, defaultdict
from contextlib import contextmanager
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from humansense import schema, tasks
from humansense.augment import learned
from humansense.augment.learned import learned_hits
from humansense.config import AugmentConfig
from humansense.ids import digest
from humansense.keyed import code_digest, touch_and_prune
from humansense.schema import LETTERS, Item, normalise_text
from humansense.tasks import Kind

Answerer = Callable[[Item], int]  # returns an option index


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9']+", text.lower()))


def _longest(item: Item) -> int:
    return max(range(len(item.options)), key=lambda i: (len(item.options[i].text), -i))


def _shortest(item: Item) -> int:
    return min(range(len(item.options)), key=lambda i: (len(item.options[i].text), i))


def _question_overlap(item: Item) -> int:
    q = _words(item.question)
    return max(range(len(item.options)), key=lambda i: (len(q & _words(item.options[i].text)), -i))


def _closest_to_mean_length(item: Item) -> int:
    mean = sum(len(o.text) for o in item.options) / len(item.options)
    return min(range(len(item.options)), key=lambda i: (abs(len(item.options[i].text) - mean), i))


def _median_length(item: Item) -> int:
    """The option whose length is the lower median (of four: the second shortest)."""
    order = sorted(range(len(item.options)), key=lambda i: (len(item.options[i].text), i))
    return order[(len(order) - 1) // 2]


def _middle_value(item: Item) -> int:
    """For counts: the lower-middle candidate value (a window of neighbours would put the truth there)."""
    order = sorted(range(len(item.options)), key=lambda i: (int(item.options[i].text), i))
    return order[(len(order) - 1) // 2]


ANSWERERS: dict[str, Answerer] = {"longest option": _longest, "shortest option": _shortest,
                                  "closest to the mean length": _closest_to_mean_length,
                                  "median-length option": _median_length,
                                  "most like the question": _question_overlap}


def prior_hits(group: list[Item], reference: list[Item] | None = None) -> int:
    """'The option most often correct in the task': each item answered with its option whose text is correct most
    often in `reference` (the released train split), or, without one, among the task's other items (leave-one-out,
    so an item's own answer does not count)."""
    answered = Counter(normalise_text(t) for i in (reference or group) for t in i.answer_texts())
    hits = 0
    for item in group:
        own = Counter() if reference else Counter(normalise_text(t) for t in item.answer_texts())
        best = max(range(len(item.options)),
                   key=lambda k: (answered[normalise_text(item.options[k].text)] - own[normalise_text(
                       item.options[k].text)], -k))
        hits += best in correct_indices(item)
    return hits


def bare_numeral_hits(group: list[Item], reference: list[Item] | None = None) -> tuple[str, int]:
    """The authors ask counts as a bare numeral: always saying the most common count (in train when released,
    else in eval itself) scores that count's share of eval."""
    mode = Counter(i.answer for i in (reference or group)).most_common(1)[0][0]
    return mode, sum(i.answer == mode for i in group)


def correct_indices(item: Item) -> set[int]:
    if item.kind is Kind.NUMERAL:
        return {i for i, o in enumerate(item.options) if o.text == item.answer}
    return {LETTERS.index(letter) for letter in item.answer}


def binomial_tail(successes: int, n: int, p: float) -> float:
    """P(X >= successes) for X ~ Binomial(n, p)."""
    if successes <= 0:
        return 1.0
    if p <= 0:
        return 0.0
    if p >= 1:
        return 1.0
    logs = [math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * math.log(p)
            + (n - k) * math.log1p(-p) for k in range(successes, n + 1)]
    top = max(logs)
    return min(1.0, math.exp(top) * sum(math.exp(v - top) for v in logs))


def audit(items: list[Item], cfg: AugmentConfig, llm_answerer=None, seed: int = 0) -> pd.DataFrame:
    """`llm_answerer(question, [(letter, text)], kind) -> letters | None`, when an LLM is configured."""
    by_task: dict[str, list[Item]] = defaultdict(list)
    train_of: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        if item.options:
            (train_of if item.split == "train" else by_task)[item.task].append(item)
    rows = []
    for abbr, group in by_task.items():  # eval (or unassigned) items: the benchmark; train is what one learns from
        train = train_of.get(abbr, [])
        n = len(group)
        chance = sum(len(correct_indices(i)) / len(i.options) for i in group) / n
        scores: dict[str, int] = {}
        slots = max(len(i.options) for i in group)
        letter_hits = [sum(k in correct_indices(i) for i in group) for k in range(slots)]
        best = max(range(slots), key=lambda k: letter_hits[k])
        scores[f"always {LETTERS[best]}"] = letter_hits[best]
        for name, answerer in ANSWERERS.items():
            scores[name] = sum(answerer(i) in correct_indices(i) for i in group)
        scores["most often correct in the task"] = prior_hits(group, train)
        if group[0].kind is Kind.NUMERAL:
            scores["middle candidate value"] = sum(_middle_value(i) in correct_indices(i) for i in group)
            mode, hits = bare_numeral_hits(group, train)
            scores[f"bare numeral: most common count ({mode})"] = hits
        learned = learned_hits(group, correct_indices, seed, train)
        if learned is not None:
            scores["learned text-only classifier"] = learned
        if llm_answerer is not None and group[0].kind is not Kind.NUMERAL:
            hits = 0
            for i in group:  # scored like the other answerers: one chosen letter among the correct ones
                said = llm_answerer(i.question, [(o.letter, o.text) for o in i.options], i.kind.value)
                hits += bool(said) and LETTERS.index(said[0]) in correct_indices(i)
            scores["text-only LLM"] = hits
        for name, hits in scores.items():
            acc = hits / n
            p_value = binomial_tail(hits, n, chance)
            rows.append({"task": abbr, "answerer": name, "items": n, "accuracy": round(acc, 4),
                         "chance": round(chance, 4), "excess": round(acc - chance, 4), "p_value": p_value,
                         "flagged": bool(acc - chance > cfg.audit_tolerance and p_value < cfg.audit_alpha)})
    return pd.DataFrame(rows, columns=["task", "answerer", "items", "accuracy", "chance", "excess", "p_value",
                                       "flagged"])


class BiasAuditError(Exception):
    pass


def check(table: pd.DataFrame, cfg: AugmentConfig) -> list[str]:
    """Messages for each flagged (task, answerer); raises BiasAuditError unless the user allowed a biased build."""
    flagged = table[table["flagged"]]
    messages = [f"{r.task}: '{r.answerer}' answers {r.accuracy:.1%} of {r.items} items without the media "
                f"(chance {r.chance:.1%}, tolerance +{cfg.audit_tolerance:.0%}, p={r.p_value:.2g})"
                for r in flagged.itertuples()]
    if messages and not cfg.allow_biased:
        raise BiasAuditError("bias audit failed (set augment.allow_biased = true to publish anyway):\n  "
                             + "\n  ".join(messages))
    return messages


AUDIT_FILES = ("bias_audit.csv", "bias_audit.png")


def write_audit(table: pd.DataFrame, folder: Path) -> list[Path]:
    """The audit as CSV and as a plot (accuracy of each blind answerer against chance, per task)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / AUDIT_FILES[0]
    table.to_csv(csv, index=False)
    png = folder / AUDIT_FILES[1]
    fig, ax = plt.subplots(figsize=(10, 4.5), dpi=100)
    if not table.empty:
        tasks = list(dict.fromkeys(table["task"]))
        names = list(dict.fromkeys(table["answerer"].where(~table["answerer"].str.startswith("always"),
                                                          "same letter (best)")))
        width = 0.8 / len(names)
        for j, name in enumerate(names):
            sel = table[table["answerer"].where(~table["answerer"].str.startswith("always"),
                                                "same letter (best)") == name].set_index("task")
            ax.bar([i + j * width for i in range(len(tasks))], [sel["accuracy"].get(t, 0) for t in tasks],
                   width, label=name)
        chance = table.groupby("task", sort=False)["chance"].first()
        ax.scatter([i + 0.4 - width / 2 for i in range(len(tasks))], [chance[t] for t in tasks], marker="_",
                   s=900, color="black", label="chance", zorder=3)
        ax.set_xticks([i + 0.4 - width / 2 for i in range(len(tasks))], tasks)
    ax.set_ylabel("accuracy without the media")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8, ncols=5, loc="upper center", bbox_to_anchor=(0.5, -0.1), frameon=False)
    ax.set_title("Bias audit: blind answerers per task")
    fig.tight_layout()
    fig.savefig(png)
    plt.close(fig)
    return [csv, png]


@contextmanager
def text_only_llm(config, cache_dir: Path):
    """(answerer, account) for the audit: None unless `augment.audit_with_llm`; the account fills as it runs."""
    if not config.augment.audit_with_llm:
        yield None, {}
        return
    from humansense.annotators.base import AnnotationCache
    from humansense.annotators.llm import blind_answerer
    from humansense.annotators.stage import llm_client

    with llm_client(config.annotators, AnnotationCache(cache_dir)) as client:
        yield blind_answerer(client), client.account


def audit_key(items_file: Path, config) -> str:
    """What decides the audit: the items (their folder is keyed by content), the augment settings, the seed, the
    text-only LLM when one is asked, and this code."""
    llm = config.annotators.model_dump(mode="json") if config.augment.audit_with_llm else None
    return digest("audit", str(items_file), config.augment.model_dump(mode="json"), config.seed, llm,
                  code_digest(sys.modules[__name__], learned, schema, tasks), length=24)


def audit_reused(result: dict) -> dict:
    """The stage's result when its output is reused: this run asked the text-only LLM nothing."""
    return result | {"llm_account": {k: 0 for k in result["llm_account"]}}


def audit_stage(items_file: Path, config, folder: Path, cache_dir: Path) -> dict:
    """The audit stage of a build: the blind answerers over the items, written to `folder` with what each task's
    check found (the build fails on a flagged task unless the user allowed a biased build)."""
    from humansense.io import read_jsonl

    items = list(read_jsonl(items_file, Item))
    with text_only_llm(config, cache_dir) as (answerer, account):
        table = audit(items, config.augment, answerer, config.seed)
    files = write_audit(table, folder)
    touch_and_prune(folder)
    return {"files": [str(f) for f in files], "flagged": check(table, config.augment), "llm_account": account}
