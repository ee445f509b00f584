"""The augment and audit stages in bounded memory: the spill to disk, hashed record sets, and results that do not
depend on whether a task was held in memory, spilled in many runs, or scored in batches."""

from __future__ import annotations

import random
import tracemalloc
from pathlib import Path

import pandas as pd
import pytest

import humansense.augment.audit as audit_module
import humansense.augment.build as build
from humansense.augment.audit import audit, audit_file
from humansense.augment.build import augment_drafts, augment_stream
from humansense.augment.spill import RecordSet, TaskSpill
from humansense.io import jsonl_writer, read_jsonl, write_jsonl
from humansense.schema import ItemDraft
from humansense.sources.pools import Pools

from test_augment import CFG, draft, event_sequence, generated, media


def test_the_spill_reads_each_task_back_in_key_order_across_many_runs(tmp_path: Path):
    rng = random.Random(3)
    spill = TaskSpill(tmp_path, run_bytes=4000)
    added: dict[str, list[tuple[str, bytes]]] = {"GR": [], "PA": [], "CM": []}
    for k in range(1500):
        task = rng.choice(list(added))
        key, record = f"{task.lower()}-{rng.random():.12f}", bytes(rng.randrange(256) for _ in range(rng.randint(0, 60)))
        spill.add(task, key, record)
        added[task].append((key, record))
    assert all(len(spill.runs[t]) > 3 for t in added)  # the budget forced many sorted runs per task
    for task, records in added.items():
        wanted = [r for _, r in sorted(records, key=lambda kr: kr[0])]
        assert list(spill.read(task)) == wanted
        assert list(spill.read(task)) == wanted  # read again (the second pass) until dropped
        spill.drop(task)
    assert not list(tmp_path.iterdir())


def test_a_record_set_answers_membership_for_a_hundred_thousand_ids_in_hashes():
    members = RecordSet()
    assert "x" not in members and not members
    for k in range(100_000):
        members.add(f"record-{k}")
    members.add("record-7")  # added twice, held once
    assert len(members) == 100_000
    assert all(f"record-{k}" in members for k in range(0, 100_000, 997))
    assert not any(f"record-{k}" in members for k in range(100_000, 101_000)) and 7 not in members


def free_text_with_a_shared_pool(n: int):
    """CM drafts drawing from one pool by reference, a fifth of them train: eval may not take a train record's text."""
    rng = random.Random(5)
    texts = {str(i): f"{event_sequence(rng)[:-1]} at minute {i}." for i in range(50_000, 50_000 + n)}  # unique
    pools = Pools({"gen/events": [(record, text) for record, text in texts.items()]})
    pairs, splits = [], {}
    for i in range(50_000, 50_000 + n):
        d = draft("CM", i, [texts[str(i)]], []).model_copy(update={"distractor_pool": "gen/events"})
        pairs.append((d, media("CM"), f"m{i}"))
        splits[d.id] = "train" if i % 5 == 0 else "eval"
    return pairs, splits, pools, texts


def test_a_task_spilled_in_many_runs_gives_the_items_it_gives_held_in_memory(monkeypatch):
    pairs = generated(n_single=800, n_multi=600, n_numeral=300, n_free=300, seed=4)
    free, splits, pools, texts = free_text_with_a_shared_pool(600)
    splits |= {p[0].id: ("eval" if k % 3 else "train") for k, p in enumerate(pairs)}
    held = augment_drafts(pairs + free, seed=9, cfg=CFG, splits=splits, pools=pools)
    monkeypatch.setattr(build, "RUN_BYTES", 20_000)  # every task far beyond it: spilled in runs, read twice
    spilled = augment_drafts(pairs + free, seed=9, cfg=CFG, splits=splits, pools=pools)
    assert [i.model_dump_json() for i in spilled[0]] == [i.model_dump_json() for i in held[0]]
    assert spilled[1] == held[1] and len(held[0]) > 2000
    train_texts = {texts[d.provenance.record_id] for d, _, _ in free if splits[d.id] == "train"}
    eval_cm = [i for i in held[0] if i.split == "eval" and i.provenance.record_id in texts]
    assert eval_cm and not any(o.text in train_texts and o.text not in i.answer_texts()
                               for i in eval_cm for o in i.options)


def test_augment_streams_drafts_from_disk_without_holding_them(tmp_path: Path, monkeypatch):
    """Drafts read lazily from their file and items written as they come: the stage's traced peak stays a fraction
    of the drafts' own size (the list-based stage held every draft and item: several times it)."""
    drafts_file = tmp_path / "drafts.jsonl"
    write_jsonl(drafts_file, [d for d, _, _ in generated(n_single=3000, n_multi=2000, n_numeral=600, n_free=500)])
    monkeypatch.setattr(build, "RUN_BYTES", 256 << 10)
    pairs = ((d, media(d.task), d.id) for d in read_jsonl(drafts_file, ItemDraft))
    tracemalloc.start()
    try:
        with jsonl_writer(tmp_path / "items.jsonl") as write:
            augment_stream(pairs, seed=1, cfg=CFG, sink=write, spill_dir=tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sum(1 for _ in (tmp_path / "items.jsonl").open()) > 6000
    assert peak < 0.5 * drafts_file.stat().st_size, (peak, drafts_file.stat().st_size)


@pytest.fixture(scope="module")
def split_items():
    pairs = generated(n_single=900, n_multi=700, n_numeral=400, n_free=400, seed=8)
    splits = {p[0].id: ("train" if k % 4 == 0 else "eval") for k, p in enumerate(pairs)}
    return augment_drafts(pairs, seed=2, cfg=CFG, splits=splits)[0]


def test_the_audit_read_from_a_file_task_by_task_equals_the_audit_of_the_list(split_items, tmp_path: Path,
                                                                             monkeypatch):
    items_file = tmp_path / "items.jsonl"
    write_jsonl(items_file, split_items)
    whole = audit(split_items, CFG, seed=3)
    assert set(whole["task"]) == {"GR", "PA", "HC", "CM"} and "learned text-only classifier" in set(whole["answerer"])
    pd.testing.assert_frame_equal(audit_file(items_file, CFG, seed=3), whole)
    monkeypatch.setattr(audit_module, "SCORE_BATCH", 7)  # the classifier scores eval in batches: same answers
    pd.testing.assert_frame_equal(audit_file(items_file, CFG, seed=3), whole)


def test_the_learned_answerer_fits_on_a_seeded_sample_when_train_is_larger_than_its_cap(split_items, monkeypatch):
    fitted: list[list[str]] = []
    real = audit_module.TextOnlyModel

    def spy(train, correct, seed):
        fitted.append([i.id for i in train])
        return real(train, correct, seed)

    monkeypatch.setattr(audit_module, "TextOnlyModel", spy)
    monkeypatch.setattr(audit_module, "LEARN_MAX_TRAIN", 60)
    table = audit(split_items, CFG, seed=3)
    assert fitted and all(len(ids) == 60 for ids in fitted)
    assert "learned text-only classifier" in set(table["answerer"])
    again: list[list[str]] = []
    monkeypatch.setattr(audit_module, "TextOnlyModel", lambda train, c, s: again.append([i.id for i in train])
                        or real(train, c, s))
    audit(list(reversed(split_items)), CFG, seed=3)
    assert sorted(map(sorted, again)) == sorted(map(sorted, fitted))  # the sample depends on ids, not on order


def test_reading_only_some_ids_skips_the_others_and_handles_any_line(tmp_path: Path):
    """The media plan and augment read ~2,000 of a full-size tree's ~430,000 drafts: the id is read from the
    line's start, and a line written another way (keys in another order) is parsed and filtered, not lost."""
    drafts = [d for d, _, _ in generated(n_single=30, n_multi=10, n_numeral=5, n_free=5)]
    path = tmp_path / "drafts.jsonl"
    write_jsonl(path, drafts[:-1])
    last = drafts[-1].model_dump(mode="json")
    with path.open("a", encoding="utf-8") as f:  # `id` not first
        f.write(__import__("json").dumps({k: last[k] for k in reversed(list(last))}) + "\n\n")
    wanted = {drafts[3].id, drafts[17].id, last["id"], "not-a-draft"}
    assert [d.id for d in read_jsonl(path, ItemDraft, only=wanted)] == [drafts[3].id, drafts[17].id, last["id"]]
    assert len(list(read_jsonl(path, ItemDraft))) == len(drafts)
    assert list(read_jsonl(path, ItemDraft, only=set())) == []
