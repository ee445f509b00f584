"""Score model answers against a release: per task, per level, Avg. (13 video tasks) and Avg.* (all 15).

Two rules side by side:
* strict, the authors': the answer must open the model's raw output (their scorer compares the first character;
  for "select one or more" answers such as "AC", the first len(answer) characters);
* lenient: the answer extracted from phrasing such as "(B)", "The answer is B", "Answer: A, C", or the text of
  exactly one option; for counts, the first number (digits or a word).
Questions without a prediction count as wrong and are reported.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import pyarrow.parquet as pq

from humansense.schema import Item, normalise_text, row_to_item
from humansense.tasks import TASKS, Kind, Modality

OUTPUT_KEYS = ("output", "prediction", "pred", "response", "model_output", "model_answer", "raw_output")
NUMBER_WORDS = {w: str(i) for i, w in enumerate(["zero", "one", "two", "three", "four", "five", "six", "seven",
                                                 "eight", "nine"])}
# Letters are upper case only, so that "the answer is because..." does not read as B.
_ANSWER_IS = re.compile(r"(?i:answer|option|choice)s?\s*(?i:is|are)?\s*[:\-]?\s*\(?\s*"
                        r"([A-J](?:\s*(?:,|and|&)?\s*[A-J])*)\b")
_LEADING = re.compile(r"^\W*\(?([A-J](?:\s*,?\s*[A-J])*)\)?(?:[.):\s]|$)")
_PAREN = re.compile(r"\(([A-J])\)")


def load_items(release: Path, splits: tuple[str, ...] = ("eval", "train")) -> list[Item]:
    """Items of a release's Parquet shards (`tiny` repeats eval rows, so it is not a default)."""
    items = []
    for split in splits:
        for shard in sorted(Path(release).glob(f"data/*/{split}-*.parquet")):
            items += [row_to_item(r) for r in pq.read_table(shard).to_pylist()]
    if not items:
        raise FileNotFoundError(f"no {'/'.join(splits)} shards under {release}/data/*/")
    return items


def load_eval_items(release: Path) -> list[Item]:
    return load_items(release, ("eval",))


def strict_correct(item: Item, raw: str) -> bool:
    return raw.strip()[: len(item.answer)] == item.answer


def lenient_answer(item: Item, raw: str) -> str | None:
    text = raw.strip()
    if item.kind is Kind.NUMERAL:
        m = re.search(r"\b(\d+)\b", text)
        if m:
            return m.group(1)
        words = re.findall(r"[a-z]+", text.lower())
        return next((NUMBER_WORDS[w] for w in words if w in NUMBER_WORDS), None)
    valid = {o.letter for o in item.options}
    for pattern in (_ANSWER_IS, _LEADING):
        m = pattern.search(text)
        if m:
            letters = "".join(sorted(set(re.findall(r"[A-J]", m.group(1).upper())) & valid))
            if letters:
                return letters if item.kind is Kind.MULTI else letters[0]
    parens = sorted(set(_PAREN.findall(text)) & valid)
    if parens:
        return "".join(parens) if item.kind is Kind.MULTI else parens[0]
    said = normalise_text(text)
    named = sorted(o.letter for o in item.options if normalise_text(o.text) and normalise_text(o.text) in said)
    if named and (item.kind is Kind.MULTI or len(named) == 1):
        return "".join(named)
    return None


def read_predictions(path: Path, items: list[Item]) -> dict[str, str]:
    """Item id -> raw output, from JSONL of {id, output} or from the authors' format with an output field."""
    text = Path(path).read_text(encoding="utf-8").strip()
    by_key = {(i.media.path, i.question): i.id for i in items}
    predictions: dict[str, str] = {}
    records = json.loads(text) if text.startswith("[") else [json.loads(line) for line in text.splitlines()
                                                                if line.strip()]
    for n, rec in enumerate(records, start=1):
        inner = rec.get("questions") if isinstance(rec.get("questions"), dict) else {}
        raw = next((src[k] for src in (rec, inner) for k in OUTPUT_KEYS if k in src), None)
        if raw is None:
            raise ValueError(f"{path}, record {n}: no model output (one of {', '.join(OUTPUT_KEYS)})")
        item_id = rec.get("id") or by_key.get((rec.get("video_path"), inner.get("question")))
        if item_id is None:
            raise ValueError(f"{path}, record {n}: no 'id' and no (video_path, question) matching the release")
        predictions[item_id] = str(raw)
    return predictions


def score(items: list[Item], predictions: dict[str, str]) -> dict:
    per_task: dict[str, dict[str, int]] = defaultdict(lambda: {"n": 0, "strict": 0, "lenient": 0, "missing": 0})
    for item in items:
        row = per_task[item.task]
        row["n"] += 1
        raw = predictions.get(item.id)
        if raw is None:
            row["missing"] += 1
            continue
        row["strict"] += strict_correct(item, raw)
        row["lenient"] += lenient_answer(item, raw) == item.answer
    tasks = {t: {"items": r["n"], "missing": r["missing"], "strict": r["strict"] / r["n"],
                 "lenient": r["lenient"] / r["n"]} for t, r in per_task.items()}

    def mean(abbrs: list[str], rule: str) -> float | None:
        vals = [tasks[a][rule] for a in abbrs if a in tasks]
        return sum(vals) / len(vals) if vals else None

    video = [a for a, t in TASKS.items() if t.modality is Modality.VIDEO]
    levels = {lv: [a for a, t in TASKS.items() if t.level.value == lv] for lv in ("L1", "L2", "L3", "L4")}
    summary = {rule: {"Avg.": mean(video, rule), "Avg.*": mean(list(TASKS), rule),
                      **{lv: mean(abbrs, rule) for lv, abbrs in levels.items()}} for rule in ("strict", "lenient")}
    return {"tasks": {a: tasks[a] for a in TASKS if a in tasks}, "summary": summary,
            "unknown_ids": sorted(set(predictions) - {i.id for i in items}),
            "tasks_missing": [a for a in TASKS if a not in tasks]}
