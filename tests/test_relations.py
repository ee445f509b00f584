"""FR/RG readings: a test set of real-style titles, descriptions and captions with expected readings, traps included
(`tests/data/relation_readings.tsv`), plus boilerplate lines and the adapter's use of the upload year."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from humansense.sources.relations import (FAMILIAR, UNFAMILIAR, boilerplate_lines, familiarity, read_relation)

CASES = [line.split("\t") for line in (Path(__file__).parent / "data" / "relation_readings.tsv").read_text(
    encoding="utf-8").splitlines() if line and not line.startswith("#")]


def test_the_set_is_large_and_has_traps():
    assert len(CASES) >= 100 and sum(c[3].startswith("TRAP") for c in CASES) >= 25


@pytest.mark.parametrize("text, relation, years, note", CASES, ids=[c[0][:40] for c in CASES])
def test_reading(text, relation, years, note):
    reading = read_relation([text], as_of=2020)
    assert reading.relation == (None if relation == "-" else relation), note
    if years == "-":
        assert reading.years is None, (note, reading.length_text)
    else:
        assert reading.years == pytest.approx(float(years), abs=1e-3), (note, reading.length_text)


def test_texts_are_searched_in_order_and_buckets_leave_the_middle_out():
    reading = read_relation(["{THE AND} Our Story", "Married 12 years", "Dating 2 months"])
    assert (reading.relation, reading.years, reading.relation_text) == ("Married", 12.0, "married")
    assert familiarity(12) == FAMILIAR and familiarity(0.5) == UNFAMILIAR
    assert familiarity(2) is None and familiarity(None) is None
    assert read_relation(["known each other since 2015"]).years is None  # no upload year: no length from a year


def test_channel_boilerplate_is_read_for_nothing():
    footer = "{THE AND}: real stories of couples, best friends, siblings and exes.\nSubscribe: https://example.org/sub"
    descriptions = [f"Episode {k}\n{footer}" for k in range(10)] + ["Married 6 years\n" + footer]
    lines = boilerplate_lines(descriptions)
    assert lines == {"{the and}: real stories of couples, best friends, siblings and exes.",
                     "subscribe: https://example.org/sub"}
    assert read_relation([descriptions[0]], boilerplate=lines).relation is None
    assert read_relation([descriptions[0]]).relation == "Exes"  # what the footer alone would have said
    assert read_relation([descriptions[-1]], boilerplate=lines).relation == "Married"


def test_adapter_reads_since_phrases_against_the_upload_year(tmp_path):
    from humansense.config import SkindeepConfig
    from humansense.sources.skindeep import SkindeepAdapter

    footer = "Real stories of best friends, siblings and exes. Subscribe!"
    for k, (title, date) in enumerate([("Together since 2012 with A & B", "20190214"),
                                       ("First date with C & D", "20200101"),
                                       ("Sisters with E & F", "20210101")]):
        (tmp_path / f"vid{k:08d}xx.info.json").write_text(json.dumps(
            {"id": f"vid{k:08d}xx", "title": title, "description": f"Watch now.\n{footer}", "upload_date": date,
             "duration": 60}))
    adapter = SkindeepAdapter(SkindeepConfig(), tmp_path, seed=1)
    drafts = {(d.provenance.record_id, d.task): d for d in adapter.parse().drafts}
    assert drafts[("vid00000000xx", "FR")].answers == [FAMILIAR]  # 2019 - 2012 = 7 years
    assert drafts[("vid00000001xx", "FR")].answers == [UNFAMILIAR]
    assert ("vid00000000xx", "RG") not in drafts  # the footer's "exes" is boilerplate
    assert drafts[("vid00000002xx", "RG")].answers == ["Siblings"]
