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

import heapq
import math
import re
from collections import Counter, defaultdict
from contextlib import contextmanager
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pandas as pd

from humansense.augment.learned import MIN_ITEMS, TextOnlyModel, learned_hits
from humansense.sections import AugmentConfig
from humansense.ids import digest, unit_interval
from humansense.keyed import code_key, touch_and_prune
from humansense.stages import KeyedStage, output_done
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


LEARN_MAX_TRAIN = 5000  # train items per task the learned answerer fits on (a seeded sample beyond it)
SCORE_BATCH = 2000  # eval items the learned answerer scores at a time
TASK_FIELD = re.compile(rb'"task":"([^"]+)"')  # an item line's first "task" is the item's own (its id comes first)


def audit(items: list[Item], cfg: AugmentConfig, llm_answerer=None, seed: int = 0) -> pd.DataFrame:
    """`llm_answerer(question, [(letter, text)], kind) -> letters | None`, when an LLM is configured. Tasks are
    reported in the order their first eval item comes."""
    by_task: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        by_task[item.task].append(item)
    order = list(dict.fromkeys(i.task for i in items if i.options and i.split != "train"))
    return audit_tasks([(t, lambda group=by_task[t]: iter(group)) for t in order], cfg, llm_answerer, seed)


def audit_file(items_file: Path, cfg: AugmentConfig, llm_answerer=None, seed: int = 0) -> pd.DataFrame:
    """`audit` of an items file, read one task at a time (twice per task): memory holds one task's counts and the
    learned answerer's sample, not the items."""
    ranges: dict[str, list[list[int]]] = defaultdict(list)  # task -> byte ranges of its lines
    order: dict[str, int] = {}
    with items_file.open("rb") as f:
        at = 0
        for line in f:
            abbr = TASK_FIELD.search(line).group(1).decode()
            if ranges[abbr] and ranges[abbr][-1][1] == at:
                ranges[abbr][-1][1] = at + len(line)
            else:
                ranges[abbr].append([at, at + len(line)])
            if b'"split":"train"' not in line:
                order.setdefault(abbr, len(order))
            at += len(line)

    def read(abbr: str) -> Iterator[Item]:
        with items_file.open("rb") as f:
            for start, end in ranges[abbr]:
                f.seek(start)
                while f.tell() < end:
                    yield Item.model_validate_json(f.readline())

    return audit_tasks([(t, lambda t=t: read(t)) for t in sorted(order, key=order.get)], cfg, llm_answerer, seed)


def audit_tasks(tasks: list[tuple[str, Callable[[], Iterable[Item]]]], cfg: AugmentConfig, llm_answerer=None,
                seed: int = 0) -> pd.DataFrame:
    """The audit, task by task: each task's items (both splits) are read twice, once for what the answerers learn
    from train (or, without train, from eval itself) and once to score eval."""
    rows = []
    for abbr, items in tasks:
        scores, n, chance = _audit_task(items, llm_answerer, seed)
        for name, hits in scores.items():
            acc = hits / n
            p_value = binomial_tail(hits, n, chance)
            rows.append({"task": abbr, "answerer": name, "items": n, "accuracy": round(acc, 4),
                         "chance": round(chance, 4), "excess": round(acc - chance, 4), "p_value": p_value,
                         "flagged": bool(acc - chance > cfg.audit_tolerance and p_value < cfg.audit_alpha)})
    return pd.DataFrame(rows, columns=["task", "answerer", "items", "accuracy", "chance", "excess", "p_value",
                                       "flagged"])


def _audit_task(items: Callable[[], Iterable[Item]], llm_answerer, seed: int) -> tuple[dict[str, int], int, float]:
    """(hits per answerer, eval items, chance) of one task. Eval (or unassigned) items are the benchmark; train is
    what one learns from: the answer prior and the most common count count train when there is one (else eval,
    leaving each item's own answer out), the classifier fits on a seeded sample of at most LEARN_MAX_TRAIN train
    items (else cross-validates over eval)."""
    counted = {"train": Counter(), "eval": Counter()}  # normalised answer texts
    counts = {"train": Counter(), "eval": Counter()}  # answers as given (the count, for HC)
    sample: list[tuple[float, int, Item]] = []  # a max-heap on the sampling key: the train items kept
    n_train = 0
    for k, item in enumerate(items()):
        if not item.options:
            continue
        side = "train" if item.split == "train" else "eval"
        counted[side].update(normalise_text(t) for t in item.answer_texts())
        counts[side][item.answer] += 1
        if side == "train":
            n_train += 1
            entry = (-unit_interval(seed, "learn", item.id), k, item)
            if len(sample) < LEARN_MAX_TRAIN:
                heapq.heappush(sample, entry)
            elif entry[0] > sample[0][0]:
                heapq.heapreplace(sample, entry)
    train = [item for _, _, item in sorted(sample, key=lambda e: e[1])]  # in the items' order
    del sample
    reference = "train" if n_train else "eval"
    model = TextOnlyModel(train, correct_indices, seed) if len(train) >= MIN_ITEMS else None
    held: list[Item] = []  # eval, kept only to cross-validate the classifier when there is too little train
    batch: list[Item] = []
    scores: dict[str, int] = defaultdict(int)
    letter_hits: Counter = Counter()
    n, chance, numeral, llm_asked = 0, 0.0, False, False
    mode = counts[reference].most_common(1)[0][0] if counts[reference] else None
    for item in items():
        if not item.options or item.split == "train":
            continue
        right = correct_indices(item)
        n += 1
        chance += len(right) / len(item.options)
        letter_hits.update(right)
        for name, answerer in ANSWERERS.items():
            scores[name] += answerer(item) in right
        own = Counter() if n_train else Counter(normalise_text(t) for t in item.answer_texts())
        best = max(range(len(item.options)), key=lambda k: (counted[reference][normalise_text(
            item.options[k].text)] - own[normalise_text(item.options[k].text)], -k))
        scores["prior"] += best in right
        if item.kind is Kind.NUMERAL:
            numeral = True
            scores["middle"] += _middle_value(item) in right
            scores["mode"] += item.answer == mode
        elif llm_answerer is not None:  # scored like the other answerers: one chosen letter among the correct ones
            llm_asked = True
            said = llm_answerer(item.question, [(o.letter, o.text) for o in item.options], item.kind.value)
            scores["llm"] += bool(said) and LETTERS.index(said[0]) in right
        if model is not None:
            batch.append(item)
            if len(batch) == SCORE_BATCH:
                scores["learned"] += model.hits(batch)
                batch = []
        else:
            held.append(item)
    if model is not None:
        learned = scores["learned"] + model.hits(batch)
    else:
        learned = learned_hits(held, correct_indices, seed)
    best_letter = max(range(max(letter_hits, default=0) + 1), key=lambda k: letter_hits[k])
    ordered = {f"always {LETTERS[best_letter]}": letter_hits[best_letter],
               **{name: scores[name] for name in ANSWERERS}, "most often correct in the task": scores["prior"]}
    if numeral:
        ordered |= {"middle candidate value": scores["middle"],
                    f"bare numeral: most common count ({mode})": scores["mode"]}
    if learned is not None:
        ordered["learned text-only classifier"] = learned
    if llm_asked:
        ordered["text-only LLM"] = scores["llm"]
    return ordered, n, chance / n if n else 0.0


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
    from humansense.annotators.registry import llm_client

    with llm_client(config.annotators, AnnotationCache(cache_dir)) as client:
        yield blind_answerer(client), client.account


def audit_key(items_file: Path, config) -> str:
    """What decides the audit: the items (their folder is keyed by content), the augment settings, the seed, the
    text-only LLM when one is asked, and this code."""
    llm = config.annotators.model_dump(mode="json") if config.augment.audit_with_llm else None
    return digest("audit", str(items_file), config.augment.model_dump(mode="json"), config.seed, llm,
                  code_key(__name__), length=24)


def audit_reused(result: dict) -> dict:
    """The stage's result when its output is reused: this run asked the text-only LLM nothing."""
    return result | {"llm_account": {k: v if isinstance(v, str) else 0 for k, v in result["llm_account"].items()}}


AUDIT = KeyedStage("audit", "audit", key=audit_key, done=output_done(*AUDIT_FILES), reused=audit_reused)


def audit_stage(items_file: Path, config, folder: Path, cache_dir: Path) -> dict:
    """The audit stage of a build: the blind answerers over the items, written to `folder` with what each task's
    check found (the build fails on a flagged task unless the user allowed a biased build)."""
    with text_only_llm(config, cache_dir) as (answerer, account):
        table = audit_file(items_file, config.augment, answerer, config.seed)
    files = write_audit(table, folder)
    touch_and_prune(folder)
    return {"files": [str(f) for f in files], "flagged": check(table, config.augment), "llm_account": account}
