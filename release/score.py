"""Score model answers: per task, question-weighted "all", per level, Avg. (13 video tasks) and Avg.* (all 15).

Two inputs:
* the authors' result file as their evaluation writes it: their JSON array, each `questions` object holding the
  model's raw output under the model's own name (`--model NAME`; found without it when each record has one key
  outside the format). It carries its answers, so it is scored on its own, no release needed;
* JSONL `{"id": ..., "output": ...}` (or the model's name as key) against a release's eval shards.

Two rule sets side by side, from `humansense/answer_rules.py` (the same code scores the release's lmms-eval task):
strict = the authors' rules, lenient = ours. "all" is question-weighted, as the authors'; Avg./Avg.* are the paper's
unweighted means of task accuracies (13 video tasks / all 15); `Abnormal_Recognition` is skipped, as by their
scorer (our AC uses another task_type).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from humansense.answer_rules import SKIPPED_TASK_TYPES, authors_credit, lenient_credit, mean_of, paper_averages
from humansense.answer_rules import lenient_answer as rules_lenient_answer
from humansense.release.shards import read_item_rows
from humansense.schema import Item, Option, row_to_item
from humansense.tasks import QUESTION_PATTERN, TASKS, Kind, Modality

OUTPUT_KEYS = ("output", "prediction", "pred", "response", "model_output", "model_answer", "raw_output")
# Keys of a `questions` object in the authors' format; any other key is a model's output.
AUTHORS_FIELDS = frozenset({"question", "question_pattern", "options", "answer", "task_type", "full_frame_number",
                            "fps", "asr_en", "time", "video_or_clip"})
AUDIO_TASK_TYPES = frozenset(t.task_type for t in TASKS.values() if t.modality is Modality.AUDIO)
ABBR_OF_TASK_TYPE = {t.task_type: t.abbr for t in TASKS.values()}
KIND_OF_PATTERN = {p: k for k, p in QUESTION_PATTERN.items()}
_OPTION_TEXT = re.compile(r"^\s*([A-J])\s*[.):]\s*(.*)$", re.S)


@dataclass(frozen=True)
class Question:
    """One scored question, from a release item or a record of the authors' format."""

    task: str  # our abbreviation when the task_type is known, else the task_type itself
    task_type: str
    pattern: str
    answer: str
    options: tuple[Option, ...]
    audio: bool
    output: str | None  # the model's raw output; None when the question has none

    @property
    def kind(self) -> Kind | None:
        return KIND_OF_PATTERN.get(self.pattern)


def load_items(release: Path, splits: tuple[str, ...] = ("eval", "train")) -> list[Item]:
    """Items of a release's Parquet shards (`tiny` repeats eval rows, so it is not a default)."""
    items = []
    for split in splits:
        for shard in sorted(Path(release).glob(f"data/*/{split}-*.parquet")):
            items += [row_to_item(r) for r in read_item_rows(shard)]
    if not items:
        raise FileNotFoundError(f"no {'/'.join(splits)} shards under {release}/data/*/")
    return items


def load_eval_items(release: Path) -> list[Item]:
    return load_items(release, ("eval",))


# The rules (humansense/answer_rules.py, shared with the release's lmms-eval task) ------------------------------

def strict_credit(item: Item | Question, raw: str | None) -> float | None:
    pattern = item.pattern if isinstance(item, Question) else item.question_pattern
    return authors_credit(pattern, item.answer, raw)


def lenient_answer(item: Item | Question, raw: str) -> str | None:
    return rules_lenient_answer(item.kind, [(o.letter, o.text) for o in item.options], raw)


# Reading outputs --------------------------------------------------------------------------------------------------

def _records(path: Path) -> list[dict]:
    text = Path(path).read_text(encoding="utf-8").strip()
    if text.startswith("["):
        records = json.loads(text)
    else:
        records = []
        for n, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path}, line {n}: not JSON ({e.msg})") from None
    for n, rec in enumerate(records, start=1):
        if not isinstance(rec, dict):
            raise ValueError(f"{path}, record {n}: expected an object, got {type(rec).__name__}")
    return records


def is_authors_format(records: list[dict]) -> bool:
    return bool(records) and all(isinstance(r.get("questions"), dict) and "answer" in r["questions"]
                                 for r in records)


def output_key(path: Path, fields: Iterable[dict], model: str | None, schema: frozenset[str]) -> str:
    """The key holding the model's output: `model` if given, else a conventional name, else the one non-schema key."""
    fields = list(fields)
    if model is not None:
        if not any(model in f for f in fields):
            found = sorted({k for f in fields for k in f} - schema)
            raise ValueError(f"{path}: no record has an output under {model!r}"
                             + (f"; keys outside the format: {', '.join(found)}" if found else ""))
        return model
    extra = sorted({k for f in fields for k in f} - schema)
    conventional = [k for k in OUTPUT_KEYS if k in extra]
    if len(extra) == 1:
        return extra[0]
    if len(conventional) == 1:
        return conventional[0]
    if not extra:
        raise ValueError(f"{path}: no model output in any record (the model's name as key, or one of "
                         f"{', '.join(OUTPUT_KEYS)})")
    raise ValueError(f"{path}: several keys could hold the model's output ({', '.join(extra)}); "
                     f"choose one with --model NAME")


def _raw(value) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def questions_from_authors_file(path: Path, records: list[dict], model: str | None = None) -> tuple[list[Question],
                                                                                                  str]:
    """Every record of an authors'-format result file as a Question carrying its own answer and options."""
    key = output_key(path, (r["questions"] for r in records), model, AUTHORS_FIELDS)
    questions = []
    for n, rec in enumerate(records, start=1):
        q = rec["questions"]
        missing = [f for f in ("question_pattern", "answer", "task_type") if f not in q]
        if missing:
            raise ValueError(f"{path}, record {n}: missing {', '.join(missing)}")
        options = []
        for text in q.get("options") or []:
            m = _OPTION_TEXT.match(str(text))
            if m:
                options.append(Option(letter=m.group(1), text=m.group(2).strip() or m.group(1)))
        task_type = str(q["task_type"])
        audio = task_type in AUDIO_TASK_TYPES if task_type in ABBR_OF_TASK_TYPE else "full_frame_number" not in q
        questions.append(Question(task=ABBR_OF_TASK_TYPE.get(task_type, task_type), task_type=task_type,
                                  pattern=str(q["question_pattern"]), answer=str(q["answer"]), options=tuple(options),
                                  audio=audio, output=_raw(q.get(key))))
    return questions, key


def question_of_item(item: Item, output: str | None) -> Question:
    spec = TASKS[item.task]
    return Question(task=item.task, task_type=spec.task_type, pattern=item.question_pattern, answer=item.answer,
                    options=tuple(item.options), audio=item.modality is Modality.AUDIO, output=output)


def read_predictions(path: Path, items: list[Item], model: str | None = None) -> dict[str, str]:
    """Item id -> raw output, from JSONL `{id, <output>}` (or an array of such objects)."""
    records = _records(path)
    for n, rec in enumerate(records, start=1):
        if "id" not in rec:
            raise ValueError(f"{path}, record {n}: no 'id' (use the authors' result file as it is, or "
                             f"{{\"id\": ..., \"output\": ...}} per line)")
    key = output_key(path, records, model, frozenset({"id"}))
    return {str(rec["id"]): _raw(rec[key]) for rec in records if key in rec and rec[key] is not None}


def load_questions(path: Path, release: Path | None, model: str | None = None) -> tuple[list[Question], dict]:
    """The questions to score and what was read: an authors' result file alone, or JSONL against a release."""
    records = _records(path)
    if is_authors_format(records):
        questions, key = questions_from_authors_file(path, records, model)
        return questions, {"input": "authors", "model": key, "unknown_ids": []}
    if release is None:
        raise ValueError(f"{path}: predictions by id need --release (the folder whose eval split they answer)")
    items = load_eval_items(release)
    predictions = read_predictions(path, items, model)
    known = {i.id for i in items}
    return ([question_of_item(i, predictions.get(i.id)) for i in items],
            {"input": "jsonl", "model": model, "unknown_ids": sorted(set(predictions) - known)})


# Scoring ------------------------------------------------------------------------------------------------------

def score_questions(questions: list[Question]) -> dict:
    rows: dict[str, dict] = defaultdict(lambda: {"questions": 0, "counted": 0, "correct": 0.0, "lenient": 0,
                                                 "task_type": "", "audio": False})
    skipped: dict[str, int] = defaultdict(int)
    for q in questions:
        if q.task_type in SKIPPED_TASK_TYPES:
            skipped[q.task_type] += 1
            continue
        row = rows[q.task]
        row["task_type"], row["audio"] = q.task_type, q.audio
        row["questions"] += 1
        credit = authors_credit(q.pattern, q.answer, q.output)
        if credit is not None:
            row["counted"] += 1
            row["correct"] += credit
        row["lenient"] += lenient_credit(q.pattern, q.answer, [(o.letter, o.text) for o in q.options], q.output)
    order = [a for a in TASKS if a in rows] + sorted(t for t in rows if t not in TASKS)
    tasks = {t: {"task_type": rows[t]["task_type"], "questions": rows[t]["questions"],
                 "counted": rows[t]["counted"], "left_out": rows[t]["questions"] - rows[t]["counted"],
                 "correct": rows[t]["correct"],
                 "strict": rows[t]["correct"] / rows[t]["counted"] if rows[t]["counted"] else None,
                 "lenient": rows[t]["lenient"] / rows[t]["questions"]} for t in order}

    audio = [t for t in tasks if rows[t]["audio"]]
    levels = {lv: [a for a, t in TASKS.items() if t.level.value == lv] for lv in ("L1", "L2", "L3", "L4")}
    counted = sum(r["counted"] for r in tasks.values())
    summary = {rule: {**paper_averages({t: r[rule] for t, r in tasks.items()}, audio),
                      **{lv: mean_of(tasks[t][rule] for t in abbrs if t in tasks) for lv, abbrs in levels.items()}}
               for rule in ("strict", "lenient")}
    # The authors' "all": every counted question weighs the same.
    summary["strict"]["all"] = sum(r["correct"] for r in tasks.values()) / counted if counted else None
    summary["lenient"]["all"] = (sum(rows[t]["lenient"] for t in tasks) / sum(r["questions"] for r in tasks.values())
                                 if tasks else None)
    return {"rules": {"strict": "authors", "lenient": "humansense"}, "tasks": tasks, "summary": summary,
            "skipped": dict(skipped), "video_tasks": len(tasks) - len(audio), "tasks_missing": [a for a in TASKS if a not in tasks]}


def score(items: list[Item], predictions: dict[str, str]) -> dict:
    """Scores of a release's items against predictions by item id."""
    result = score_questions([question_of_item(i, predictions.get(i.id)) for i in items])
    result["unknown_ids"] = sorted(set(predictions) - {i.id for i in items})
    return result


def authors_stats(result: dict) -> dict:
    """The scores laid out as the authors' scorer saves them: task_type -> {total, correct, accuracy}, and "all"."""
    def number(x: float) -> float | int:  # their counters are ints until a half credit is added
        return int(x) if float(x).is_integer() else x

    stats = {r["task_type"]: {"total": r["counted"], "correct": number(r["correct"]), "accuracy": r["strict"] or 0}
             for r in result["tasks"].values() if r["counted"]}
    total = sum(s["total"] for s in stats.values())
    correct = sum(s["correct"] for s in stats.values())
    stats["all"] = {"total": total, "correct": number(correct), "accuracy": correct / total if total else 0}
    return stats
