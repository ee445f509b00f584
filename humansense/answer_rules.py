"""How a model's raw output is scored: the authors' strict rules and our lenient reading, and the paper's averages.

This module is the one implementation behind `humansense score` and the release's lmms-eval task: the release
carries a verbatim copy (`lmms_eval/humansense_rules.py`), since lmms-eval runs where humansense-build is not
installed. So it imports nothing but the standard library, and knows tasks only by the strings the records carry.

strict = the authors' rules (their `score.py`, reproduced as facts, not code):
* single choice: the first character of the raw output equals the answer's, case-insensitively;
* "select one or more": dots and commas dropped, lower-cased; 0 if any remaining character is not an answer letter
  (so "A C" scores 0), 1 when every answer letter is there, 0.5 when only some are;
* numerals: `int(answer) == int(first character)`, anything unparsable scoring 0;
* an empty output leaves the question out of its task's total (None).
lenient = ours: the answer extracted from phrasing such as "(B)", "The answer is B", "Answer: A, C", or the text of
exactly one option; for counts, the first number (digits or a word); a missing or empty output is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

# The authors' `question_pattern` strings, matched exactly by their scorer.
SINGLE_PATTERN = "Multiple-choice question (select one answer choice)"
MULTI_PATTERN = "Multiple-choice question (select one or more answer choices)"
NUMERAL_PATTERN = "Question and answer (Arabic numerals)"
JUDGMENT_PATTERN = "Judgment question (Yes or No)"  # in the authors' scorer, unused by the benchmark's tasks
KIND_OF_PATTERN = {SINGLE_PATTERN: "single", MULTI_PATTERN: "multi", NUMERAL_PATTERN: "numeral"}
SKIPPED_TASK_TYPES = frozenset({"Abnormal_Recognition"})  # their per-task loop skips it

NUMBER_WORDS = {w: str(i) for i, w in enumerate(["zero", "one", "two", "three", "four", "five", "six", "seven",
                                                 "eight", "nine"])}
# Letters are upper case only, so that "the answer is because..." does not read as B.
_ANSWER_IS = re.compile(r"(?i:answer|option|choice)s?\s*(?i:is|are)?\s*[:\-]?\s*\(?\s*"
                        r"([A-J](?:\s*(?:,|and|&)?\s*[A-J])*)\b")
_LEADING = re.compile(r"^\W*\(?([A-J](?:\s*,?\s*[A-J])*)\)?(?:[.):\s]|$)")
_PAREN = re.compile(r"\(([A-J])\)")
_NOT_WORD = re.compile(r"[^a-z0-9]+")


def normalise_text(text: str) -> str:
    """Lower case, runs of anything but letters and digits as one space: how option texts are compared."""
    return _NOT_WORD.sub(" ", text.lower()).strip()


def authors_credit(pattern: str, answer: str, output: str | None) -> float | None:
    """The authors' score of one output: 1, 0.5 (some of a multi answer) or 0; None = left out of the total."""
    if not output:
        return None
    if pattern == SINGLE_PATTERN:
        return float(answer[:1].lower() == output[0].lower())
    if pattern == NUMERAL_PATTERN:
        try:
            return float(int(answer) == int(output[0]))
        except ValueError:
            return 0.0
    if pattern == JUDGMENT_PATTERN:
        said = output.replace(".", "").replace(" ", "")
        return float(answer.lower() == said.lower()) if said else None
    if pattern == MULTI_PATTERN:
        said, letters = output.replace(".", "").replace(",", "").lower(), answer.lower()
        if not said:
            return None
        if any(ch not in letters for ch in said):
            return 0.0
        return 1.0 if all(ch in said for ch in letters) else 0.5
    return None  # a pattern their scorer has no branch for is not counted


def lenient_answer(kind: str | None, options: Sequence[tuple[str, str]], raw: str) -> str | None:
    """The answer our lenient reading finds in `raw`: letters (in order), a digit, or None. `kind` is "single",
    "multi" or "numeral"; `options` the (letter, text) pairs."""
    text = raw.strip()
    if kind == "numeral":
        m = re.search(r"\b(\d+)\b", text)
        if m:
            return m.group(1)
        words = re.findall(r"[a-z]+", text.lower())
        return next((NUMBER_WORDS[w] for w in words if w in NUMBER_WORDS), None)
    valid = {letter for letter, _ in options}
    for pattern in (_ANSWER_IS, _LEADING):
        m = pattern.search(text)
        if m:
            letters = "".join(sorted(set(re.findall(r"[A-J]", m.group(1).upper())) & valid))
            if letters:
                return letters if kind == "multi" else letters[0]
    parens = sorted(set(_PAREN.findall(text)) & valid)
    if parens:
        return "".join(parens) if kind == "multi" else parens[0]
    said = normalise_text(text)
    named = sorted(letter for letter, option in options if normalise_text(option) and normalise_text(option) in said)
    if named and (kind == "multi" or len(named) == 1):
        return "".join(named)
    return None


def lenient_credit(pattern: str, answer: str, options: Sequence[tuple[str, str]], output: str | None) -> float:
    kind = KIND_OF_PATTERN.get(pattern)
    return float(output is not None and kind is not None and lenient_answer(kind, options, output) == answer)


def accuracy(credits: Iterable[float | None]) -> float | None:
    """A task's strict accuracy: the mean credit over the questions counted (None when none is)."""
    counted = [c for c in credits if c is not None]
    return sum(counted) / len(counted) if counted else None


def mean_of(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def paper_averages(per_task: Mapping[str, float | None], audio_tasks: Iterable[str]) -> dict[str, float | None]:
    """The paper's Avg. (unweighted mean of the video tasks' accuracies: 13 of 15) and Avg.* (all tasks)."""
    audio = set(audio_tasks)
    return {"Avg.": mean_of(v for t, v in per_task.items() if t not in audio), "Avg.*": mean_of(per_task.values())}
