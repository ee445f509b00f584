from __future__ import annotations

import pytest

from humansense.sources.relations import FAMILIAR, UNFAMILIAR, familiarity, read_relation


@pytest.mark.parametrize("text, relation, years", [
    ("Married 6 years", "Married", 6.0),
    ("{THE AND} Married 6 Years - What We Never Say Out Loud", "Married", 6.0),
    ("Dating 2 months", "Dating", 2 / 12),
    ("Best Friends for 10 yrs", "Friends", 10.0),
    ("Together six years", None, 6.0),
    ("Mother & Son", "Parent and child", None),
    ("{THE AND} The Truth About a Sisters' Bond with Lauren & Shan", "Siblings", None),
    ("Exes, dated 3 years", "Exes", 3.0),
    ("Engaged 8 months", "Engaged", 8 / 12),
    ("Cousins 25 years", "Cousins", 25.0),
    ("What Fame Did To Our Friendship with Alyson & Annie", None, None),
])
def test_relations_and_lengths_from_titles_and_captions(text, relation, years):
    reading = read_relation([text])
    assert reading.relation == relation
    assert reading.years == (pytest.approx(years, abs=1e-3) if years is not None else None)


def test_texts_are_searched_in_order_and_buckets_leave_the_middle_out():
    reading = read_relation(["{THE AND} Our Story", "Married 12 years", "Dating 2 months"])
    assert (reading.relation, reading.years, reading.relation_text) == ("Married", 12.0, "married")
    assert familiarity(12) == FAMILIAR and familiarity(0.5) == UNFAMILIAR
    assert familiarity(2) is None and familiarity(None) is None
