"""`humansense score` on result files in the authors' format: their rules, worked out by hand, to the last digit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from humansense.cli import app
from humansense.release.score import authors_credit, load_questions, score_questions
from humansense.tasks import QUESTION_PATTERN, Kind

SINGLE, MULTI, NUMERAL = (QUESTION_PATTERN[k] for k in (Kind.SINGLE, Kind.MULTI, Kind.NUMERAL))
MODEL = "Qwen25-Omni-7B"


def record(task_type: str, pattern: str, answer: str, output: str | None, *, audio: bool = False,
           options: int = 4, **outputs: str) -> dict:
    q = {"question": f"Q{answer}{output}?", "question_pattern": pattern, "answer": answer, "task_type": task_type,
         "options": [] if pattern == NUMERAL else [f"{'ABCDE'[i]}. option {i}" for i in range(options)]}
    if not audio:
        q |= {"full_frame_number": 120, "fps": 24.0}
    if output is not None:
        q[MODEL] = output
    q |= outputs
    return {"video_path": f"data/{'audios' if audio else 'videos'}/x.{'wav' if audio else 'mp4'}", "questions": q}


# Each row: (task_type, pattern, answer, output, credit by the authors' rules; None = left out of the total).
CASES = [
    ("Gesture_Recognition", SINGLE, "B", "B. Swiping Left", 1.0),
    ("Gesture_Recognition", SINGLE, "C", "c", 1.0),  # case-insensitive
    ("Gesture_Recognition", SINGLE, "A", " A", 0.0),  # the raw output's first character is a space
    ("Gesture_Recognition", SINGLE, "D", "", None),  # empty: left out
    ("Gesture_Recognition", SINGLE, "A", None, None),  # never answered: left out
    ("Appearance_Recognition", MULTI, "AC", "AC", 1.0),
    ("Appearance_Recognition", MULTI, "AC", "A", 0.5),  # partial credit
    ("Appearance_Recognition", MULTI, "AC", "A C", 0.0),  # a space is not an answer letter
    ("Appearance_Recognition", MULTI, "AC", "a,c.", 1.0),  # dots and commas removed, lower case
    ("Appearance_Recognition", MULTI, "BD", "b", 0.5),
    ("Appearance_Recognition", MULTI, "BD", "BDA", 0.0),  # a wrong letter spoils it
    ("Appearance_Recognition", MULTI, "AB", ".,", None),  # nothing left after cleaning: left out
    ("Human_Counting", NUMERAL, "3", "3 people", 1.0),
    ("Human_Counting", NUMERAL, "1", "10", 1.0),  # only the first character is read
    ("Human_Counting", NUMERAL, "2", "two", 0.0),  # unparsable
    ("Human_Counting", NUMERAL, "4", "", None),
    ("Fraud_Recognition", SINGLE, "A", "A", 1.0),
    ("Fraud_Recognition", SINGLE, "B", "(B)", 0.0),
    ("Abnormal_Recognition", SINGLE, "A", "A", None),  # skipped by their scorer whatever the output
]


@pytest.fixture
def result_file(tmp_path: Path) -> Path:
    records = [record(t, p, a, o, audio=t == "Fraud_Recognition") for t, p, a, o, _ in CASES]
    path = tmp_path / "Qwen25-Omni-7B_results.json"
    path.write_text(json.dumps(records, indent=4))
    return path


def test_each_rule_of_the_authors_scorer():
    for task_type, pattern, answer, output, credit in CASES:
        if task_type != "Abnormal_Recognition":
            assert authors_credit(pattern, answer, output) == credit, (pattern, answer, output)
    assert authors_credit("Judgment question (Yes or No)", "Yes", "y e s.") == 1.0
    assert authors_credit("Some other pattern", "A", "A") is None  # no branch in their scorer: not counted


def test_scores_match_the_hand_worked_numbers(result_file: Path):
    questions, read = load_questions(result_file, release=None)  # the result file carries its answers
    assert read == {"input": "authors", "model": MODEL, "unknown_ids": []}
    result = score_questions(questions)
    tasks = result["tasks"]
    # GR: 2 of 3 counted (2 left out); PA: 1 + .5 + 0 + 1 + .5 + 0 = 3 of 6; HC: 2 of 3; FG: 1 of 2.
    assert {t: (r["counted"], r["left_out"], r["correct"]) for t, r in tasks.items()} == {
        "PA": (6, 1, 3.0), "GR": (3, 2, 2.0), "HC": (3, 1, 2.0), "FG": (2, 0, 1.0)}
    assert tasks["GR"]["strict"] == 2 / 3 and tasks["PA"]["strict"] == 0.5 and tasks["HC"]["strict"] == 2 / 3
    assert tasks["FG"]["strict"] == 0.5
    strict = result["summary"]["strict"]
    assert strict["all"] == 8 / 14  # question-weighted, as theirs
    assert strict["Avg."] == pytest.approx((2 / 3 + 0.5 + 2 / 3) / 3)  # video tasks, unweighted
    assert strict["Avg.*"] == pytest.approx((2 / 3 + 0.5 + 2 / 3 + 0.5) / 4)
    assert strict["L1"] == pytest.approx((0.5 + 2 / 3) / 2) and strict["L2"] == 2 / 3 and strict["L3"] == 0.5
    assert result["skipped"] == {"Abnormal_Recognition": 1}
    assert tasks["FG"]["lenient"] == 1.0  # ours reads "(B)"
    assert tasks["GR"]["lenient"] == pytest.approx(2 / 5)  # empty and missing outputs are wrong


def test_cli_reads_the_result_file_as_it_is_and_saves_the_authors_layout(result_file: Path, tmp_path: Path):
    saved = tmp_path / "stats.json"
    run = CliRunner().invoke(app, ["score", str(result_file), "--model", MODEL, "--json", "--save", str(saved)])
    assert run.exit_code == 0, run.output
    assert json.loads(run.stdout)["summary"]["strict"]["all"] == 8 / 14
    assert json.loads(saved.read_text()) == {
        "Appearance_Recognition": {"total": 6, "correct": 3, "accuracy": 0.5},
        "Gesture_Recognition": {"total": 3, "correct": 2, "accuracy": 2 / 3},
        "Human_Counting": {"total": 3, "correct": 2, "accuracy": 2 / 3},
        "Fraud_Recognition": {"total": 2, "correct": 1, "accuracy": 0.5},
        "all": {"total": 14, "correct": 8, "accuracy": 8 / 14}}
    table = CliRunner().invoke(app, ["score", str(result_file)])  # the model's key is found without --model
    assert table.exit_code == 0 and repr(2 / 3) in table.stdout and "Qwen25-Omni-7B" in table.stdout


def test_several_models_in_one_file_need_model(tmp_path: Path):
    path = tmp_path / "two.json"
    path.write_text(json.dumps([record("Gesture_Recognition", SINGLE, "A", "A", **{"gpt4o": "B"}),
                                record("Gesture_Recognition", SINGLE, "B", "B", **{"gpt4o": "B"})]))
    run = CliRunner().invoke(app, ["score", str(path)])
    assert run.exit_code == 2 and "--model" in run.output
    for model, expected in ((MODEL, 1.0), ("gpt4o", 0.5)):
        run = CliRunner().invoke(app, ["score", str(path), "--model", model, "--json"])
        assert json.loads(run.stdout)["tasks"]["GR"]["strict"] == expected
    run = CliRunner().invoke(app, ["score", str(path), "--model", "LongVA"])
    assert run.exit_code == 2 and "no record has an output under 'LongVA'" in run.output


def test_unknown_task_types_are_scored_under_their_own_name(tmp_path: Path):
    path = tmp_path / "theirs.json"
    path.write_text(json.dumps([record("Person_Appearance", MULTI, "AB", "AB"),
                                record("Psychological_Chat", SINGLE, "C", "D", audio=True),
                                record("Some_Audio_Task", SINGLE, "A", "A", audio=True)]))
    result = score_questions(load_questions(path, release=None)[0])
    assert set(result["tasks"]) == {"Person_Appearance", "PC", "Some_Audio_Task"}
    assert result["video_tasks"] == 1  # audio told by the missing frame fields
    assert result["summary"]["strict"]["Avg."] == 1.0 and result["summary"]["strict"]["Avg.*"] == pytest.approx(2 / 3)
