from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from humansense.ids import UnsafeIdError, check_component, item_id, safe_join, seeded_rng
from humansense.schema import ITEM_ARROW_SCHEMA, ClipSpec, Item, ItemDraft, Provenance, items_to_table, row_to_item
from humansense.tasks import QUESTION_PATTERN, TASKS, Kind

PROV = Provenance(source="jester", record_id="1", original_file="20bn-jester-v1/1")
MEDIA = {"path": "videos/abc.mp4", "duration_s": 2.0, "modality": "video"}


def make(task="GR", kind=Kind.SINGLE, options=("Thumb Up", "Thumb Down", "Stop Sign", "Swiping Left"), answer="A",
         **kw):
    spec = TASKS[task]
    fields = dict(id="x", task=task, level=spec.level, modality=spec.modality, kind=kind,
                  question_pattern=QUESTION_PATTERN[kind], question="Which?",
                  options=[o if isinstance(o, dict) else {"letter": "ABCDE"[i], "text": o} for i, o in enumerate(options)],
                  answer=answer,
                  media=MEDIA, provenance=PROV, template_id="t")
    fields.update(kw)
    return Item(**fields)


def test_task_table_matches_the_paper():
    assert sum(t.target for t in TASKS.values()) == 3882
    assert sum(t.target for t in TASKS.values() if t.modality == "audio") == 591
    assert {t.abbr for t in TASKS.values() if t.kind is Kind.MULTI} == {"PA", "AR"}
    assert TASKS["HC"].kind is Kind.NUMERAL
    assert "Abnormal_Recognition" not in {t.task_type for t in TASKS.values()}  # the authors' scorer skips it


def test_valid_items_round_trip_through_arrow():
    items = [make(), make(task="PA", kind=Kind.MULTI, options=("Male", "Young", "Bald", "Bangs"), answer="AC"),
             make(task="HC", kind=Kind.NUMERAL, options=("1", "2", "3", "4"), answer="3")]
    table = items_to_table(items)
    assert table.schema.equals(ITEM_ARROW_SCHEMA)
    assert [row_to_item(r) for r in table.to_pylist()] == items


@pytest.mark.parametrize("change, message", [
    ({"answer": "E"}, "one of the option letters"),
    ({"answer": "AB"}, "one of the option letters"),
    ({"options": [{"letter": "A", "text": "x"}]}, "2 to 5 options"),
    ({"options": [{"letter": "A", "text": "x"}, {"letter": "C", "text": "y"}]}, "letters must run"),
    ({"options": [{"letter": "A", "text": "Same"}, {"letter": "B", "text": "same!"}]}, "duplicate option texts"),
    ({"question_pattern": "Multiple-choice question"}, "question_pattern"),
    ({"level": "L3"}, "disagree with the task table"),
    ({"media": {**MEDIA, "path": "../../etc/passwd"}}, "relative inside the release"),
    ({"media": {**MEDIA, "path": "/abs.mp4"}}, "relative inside the release"),
    ({"question": ""}, "at least 1 character"),
])
def test_invalid_single_choice_items_cannot_be_built(change, message):
    with pytest.raises(ValidationError, match=message):
        make(**change)


def test_multi_answers_are_bare_ordered_letters_over_four_options():
    with pytest.raises(ValidationError, match="bare letters in order"):
        make(task="PA", kind=Kind.MULTI, options=("Male", "Young", "Bald", "Bangs"), answer="A, C")
    with pytest.raises(ValidationError, match="bare letters in order"):
        make(task="PA", kind=Kind.MULTI, options=("Male", "Young", "Bald", "Bangs"), answer="CA")
    with pytest.raises(ValidationError, match="exactly 4 options"):
        make(task="PA", kind=Kind.MULTI, options=("Male", "Young", "Bald"), answer="A")


def test_numeral_answers_are_one_digit():
    with pytest.raises(ValidationError, match="one digit"):
        make(task="HC", kind=Kind.NUMERAL, options=(), answer="10")
    with pytest.raises(ValidationError, match="among the candidate counts"):
        make(task="HC", kind=Kind.NUMERAL, options=("1", "2"), answer="5")


def test_drafts_refuse_a_distractor_equal_to_the_answer():
    clip = ClipSpec(kind="span", source_path="/x.mp4", start_s=0, end_s=1)
    with pytest.raises(ValidationError, match="distractor equals an answer"):
        ItemDraft(id="d", task="GR", provenance=PROV, answers=["Thumb Up"], distractors=["thumb up."], clip=clip)


def test_ids_and_random_choices_are_stable_across_processes():
    code = ("from humansense.ids import item_id, seeded_rng;"
            "print(item_id('ava', 'v,0902,1', 'AR', {'a': 1}), seeded_rng(7, 'x').random())")
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
            for _ in range(2)}
    assert runs == {f"{item_id('ava', 'v,0902,1', 'AR', {'a': 1})} {seeded_rng(7, 'x').random()}\n"}
    assert item_id("ava", "r", "AR") != item_id("ava", "r", "PA")


@pytest.mark.parametrize("bad", ["../etc", "..", "a/b", "", "/abs", "x\x00y"])
def test_unsafe_components_are_refused(bad):
    with pytest.raises(UnsafeIdError):
        check_component(bad)


def test_safe_join_stays_under_root(tmp_path: Path):
    assert safe_join(tmp_path, "val/YFCC100M/v_1") == (tmp_path / "val/YFCC100M/v_1").resolve()
    for bad in ["val/../../etc", "/etc/passwd", "a//b"]:
        with pytest.raises(UnsafeIdError):
            safe_join(tmp_path, bad)
