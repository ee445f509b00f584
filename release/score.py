"""Score model answers: per task, question-weighted "all", per level, Avg. (13 video tasks) and Avg.* (all 15).

Two inputs:
* the authors' result file as their evaluation writes it: their JSON array, each `questions` object holding the
  model's raw output under the model's own name (`--model NAME`; found without it when each record has one key
  outside the format). It carries its answers, so it is scored on its own, no release needed;
* JSONL `{"id": ..., "output": ...}` (or the model's name as key) against a release's eval shards.

Two rule sets side by side:
* strict = the authors' rules (their `score.py`, reproduced as facts, not code): single choice compares the first
  character of the raw output with the answer's, case-insensitively; "select one or more" drops dots and commas,
  lower-cases, scores 0 if any remaining character is not an answer letter (so "A C" scores 0), 1 when every answer
  letter is there, 0.5 when only some are; numerals compare `int(answer)` with `int(first character)`, anything
  unparsable scoring 0; an empty output leaves the question out of its task's total; `Abnormal_Recognition` is
  skipped. "all" is question-weighted, as theirs; Avg./Avg.* are the paper's unweighted means of task accuracies.
* lenient = ours: the answer extracted from phrasing such as "(B)", "The answer is B", "Answer: A, C", or the text
  of exactly one option; for counts, the first number (digits or a word); a missing or empty output is wrong.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from humansense.schema import Item, Option, normalise_text, row_to_item
from humansense.tasks import QUESTION_PATTERN, TASKS, Kind, Modality

OUTPUT_KEYS = ("output", "prediction", "pred", "response", "model_output", "model_answer", "raw_output")
# Keys of a `questions` object in the authors' format; any other key is a model's output.
AUTHORS_FIELDS = frozenset({"question", "question_pattern", "options", "answer", "task_type", "full_frame_number",
                            "fps", "asr_en", "time", "video_or_clip"})
JUDGMENT_PATTERN = "Judgment question (Yes or No)"  # in the authors' scorer, unused by the benchmark's tasks
SKIPPED_TASK_TYPES = frozenset({"Abnormal_Recognition"})  # their scorer skips it
AUDIO_TASK_TYPES = frozenset(t.task_type for t in TASKS.values() if t.modality is Modality.AUDIO)
ABBR_OF_TASK_TYPE = {t.task_type: t.abbr for t in TASKS.values()}
KIND_OF_PATTERN = {p: k for k, p in QUESTION_PATTERN.items()}
NUMBER_WORDS = {w: str(i) for i, w in enumerate(["zero", "one", "two", "three", "four", "five", "six", "seven",
                                                 "eight", "nine"])}
# Letters are upper case only, so that "the answer is because..." does not read as B.
_ANSWER_IS = re.compile(r"(?i:answer|option|choice)s?\s*(?i:is|are)?\s*[:\-]?\s*\(?\s*"
                        r"([A-J](?:\s*(?:,|and|&)?\s*[A-J])*)\b")
_LEADING = re.compile(r"^\W*\(?([A-J](?:\s*,?\s*[A-J])*)\)?(?:[.):\s]|$)")
_PAREN = re.compile(r"\(([A-J])\)")
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
            items += [row_to_item(r) for r in pq.read_table(shard).to_pylist()]
    if not items:
        raise FileNotFoundError(f"no {'/'.join(splits)} shards under {release}/data/*/")
    return items


def load_eval_items(release: Path) -> list[Item]:
    return load_items(release, ("eval",))


# The rules ------------------------------------------------------------------------------------------------------

def authors_credit(pattern: str, answer: str, output: str | None) -> float | None:
    """The authors' score of one output: 1, 0.5 (some of a multi answer) or 0; None = left out of the total."""
    if not output:
        return None
    if pattern == QUESTION_PATTERN[Kind.SINGLE]:
        return float(answer[:1].lower() == output[0].lower())
    if pattern == QUESTION_PATTERN[Kind.NUMERAL]:
        try:
            return float(int(answer) == int(output[0]))
        except ValueError:
            return 0.0
    if pattern == JUDGMENT_PATTERN:
        said = output.replace(".", "").replace(" ", "")
        return float(answer.lower() == said.lower()) if said else None
    if pattern == QUESTION_PATTERN[Kind.MULTI]:
        said, letters = output.replace(".", "").replace(",", "").lower(), answer.lower()
        if not said:
            return None
        if any(ch not in letters for ch in said):
            return 0.0
        return 1.0 if all(ch in said for ch in letters) else 0.5
    return None  # a pattern their scorer has no branch for is not counted


def strict_credit(item: Item | Question, raw: str | None) -> float | None:
    pattern = item.pattern if isinstance(item, Question) else item.question_pattern
    return authors_credit(pattern, item.answer, raw)


def lenient_answer(item: Item | Question, raw: str) -> str | None:
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
        if q.output is not None and q.kind is not None:
            row["lenient"] += lenient_answer(q, q.output) == q.answer
    order = [a for a in TASKS if a in rows] + sorted(t for t in rows if t not in TASKS)
    tasks = {t: {"task_type": rows[t]["task_type"], "questions": rows[t]["questions"],
                 "counted": rows[t]["counted"], "left_out": rows[t]["questions"] - rows[t]["counted"],
                 "correct": rows[t]["correct"],
                 "strict": rows[t]["correct"] / rows[t]["counted"] if rows[t]["counted"] else None,
                 "lenient": rows[t]["lenient"] / rows[t]["questions"]} for t in order}

    def mean(names: Iterable[str], rule: str) -> float | None:
        vals = [tasks[t][rule] for t in names if t in tasks and tasks[t][rule] is not None]
        return sum(vals) / len(vals) if vals else None

    video = [t for t in tasks if not rows[t]["audio"]]
    levels = {lv: [a for a, t in TASKS.items() if t.level.value == lv] for lv in ("L1", "L2", "L3", "L4")}
    counted = sum(r["counted"] for r in tasks.values())
    summary = {rule: {"Avg.": mean(video, rule), "Avg.*": mean(tasks, rule),
                      **{lv: mean(abbrs, rule) for lv, abbrs in levels.items()}} for rule in ("strict", "lenient")}
    # The authors' "all": every counted question weighs the same.
    summary["strict"]["all"] = sum(r["correct"] for r in tasks.values()) / counted if counted else None
    summary["lenient"]["all"] = (sum(rows[t]["lenient"] for t in tasks) / sum(r["questions"] for r in tasks.values())
                                 if tasks else None)
    return {"rules": {"strict": "authors", "lenient": "humansense"}, "tasks": tasks, "summary": summary,
            "skipped": dict(skipped), "video_tasks": len(video), "tasks_missing": [a for a in TASKS if a not in tasks]}


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
