from __future__ import annotations

from collections import Counter

import pytest

from humansense.augment.build import AugmentError, choose_options, make_item
from humansense.augment.templates import load_templates, parse_templates
from humansense.schema import ClipSpec, ItemDraft, Media, Provenance
from humansense.tasks import TASKS

BUILT = ["PA", "AR", "GR", "ER", "CM", "AC", "HC"]
CLIP = ClipSpec(kind="span", source_path="/x.mp4", start_s=0, end_s=1)
MEDIA = Media(path="videos/x.mp4", duration_s=1.0, modality="video")


def draft(task="GR", answers=("Thumb Up",), distractors=("Thumb Down", "Stop Sign", "Swiping Left", "Shaking Hand"),
          hard=(), id="gr-1"):
    return ItemDraft(id=id, task=task, provenance=Provenance(source="s", record_id="r", original_file="f"),
                     answers=list(answers), distractors=list(distractors), hard_distractors=list(hard), clip=CLIP)


def test_every_built_task_has_at_least_five_valid_templates():
    templates = load_templates()
    for abbr in BUILT:
        assert len(templates[abbr].templates) >= 5
        for tid in templates[abbr].templates:
            assert templates[abbr].render(tid, {}).endswith("?") or "." in templates[abbr].render(tid, {})


def test_templates_with_unknown_placeholders_or_too_few_are_refused():
    with pytest.raises(ValueError, match="unknown placeholders"):
        parse_templates("GR:\n  vars: []\n  templates: {a: 'Which {gesture}?', b: x, c: x, d: x, e: x}\n")
    with pytest.raises(ValueError, match="at least 5"):
        parse_templates("GR:\n  templates: {a: 'Which gesture?'}\n")
    with pytest.raises(ValueError, match="unknown tasks"):
        parse_templates("XX:\n  templates: {a: b}\n")


def test_options_are_deterministic_per_seed_and_keep_the_answer():
    d = draft()
    assert choose_options(d, 1) == choose_options(d, 1)
    seen_orders = {tuple(choose_options(d, s)[0]) for s in range(20)}
    assert len(seen_orders) > 5  # different seeds give different orders
    for s in range(20):
        texts, answer = choose_options(d, s)
        assert len(texts) == TASKS["GR"].options and texts["ABCD".index(answer)] == "Thumb Up"


def test_answer_letters_spread_over_positions():
    letters = Counter(choose_options(draft(id=f"gr-{i}"), 7)[1] for i in range(400))
    assert set(letters) == set("ABCD") and min(letters.values()) > 60


def test_multi_answers_list_every_correct_letter_in_order():
    d = draft(task="PA", answers=("Male", "Young"), distractors=("Bald", "Bangs", "Chubby"), id="pa-1")
    for s in range(10):
        texts, answer = choose_options(d, s)
        assert len(texts) == 4 and answer == "".join(sorted(answer))
        assert {texts["ABCD".index(a)] for a in answer} == {"Male", "Young"}


def test_hard_distractors_come_first():
    d = draft(task="CM", answers=("a, then b.",), hard=("b, then a.",), distractors=("c, then d.", "e, then f.",
                                                                                     "g, then h."), id="cm-1")
    for s in range(10):
        assert "b, then a." in choose_options(d, s)[0]


def test_numeral_candidates_are_sorted_counts():
    d = draft(task="HC", answers=("3",), hard=("2", "4"), distractors=("1", "5", "0"), id="hc-1")
    assert choose_options(d, 5) == (["1", "2", "3", "4"], "3")
    item = make_item(d, MEDIA, 5)
    assert item.answer == "3" and item.question_pattern == "Question and answer (Arabic numerals)"


def test_too_few_distractors_is_an_augment_error():
    with pytest.raises(AugmentError, match="need 3"):
        choose_options(draft(distractors=("Thumb Down",)), 1)
