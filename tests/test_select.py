"""The select stage at real sizes: exact eval counts, group shares, no overlapping spans, even answer classes, train
caps, a reserve that replaces refused items; and option pools stored once, not copied into every draft."""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from humansense.config import AugmentConfig, SplitConfig
from humansense.selection.select import Candidate, class_quotas, keep_best_ranked, select
from humansense.sources.pools import Pools, lazy_permutation


def generated(n_groups: int = 1500, seed: int = 0) -> list[Candidate]:
    """FG-like and GR-like tasks with skewed classes (two thirds "not a fraud"), several spans per group, some
    overlapping; UCF-like AC where half the groups are normal."""
    rng = random.Random(seed)
    out = []
    for g in range(n_groups):
        for k in range(rng.randint(1, 6)):
            start = rng.choice([0.0, 5.0, 10.0, 12.0, 30.0])  # 10 and 12 overlap (spans last 5 s)
            fg = "not a fraud" if rng.random() < 0.67 else rng.choice(["police", "loan", "service", "boss"])
            gr = rng.choices(["thumb up", "stop sign", "swiping left", "no gesture"], [10, 3, 2, 1])[0]
            for task, answer in (("FG", fg), ("GR", gr)):
                out.append(Candidate(id=f"{task}-{g}-{k}", task=task, group=f"src:g{g}", answer=answer,
                                     file=f"g{g}.mp4", start_s=start, end_s=start + 5.0))
    return out


@pytest.fixture(scope="module")
def chosen():
    cands = generated()
    cfg = SplitConfig(eval_targets={"FG": 300, "GR": 300}, eval_max_group_share=0.01, eval_reserve=0.05,
                      eval_reserve_min=2, train_max_per_task=1000)
    return cands, cfg, select(cands, cfg, seed=7)


def test_eval_has_exactly_the_target_plus_its_ranked_reserve(chosen):
    cands, cfg, sel = chosen
    eval_by_task = Counter(c.task for c in cands if sel.split.get(c.id) == "eval")
    assert sel.targets == {"FG": 300, "GR": 300}
    assert eval_by_task == {"FG": 300 + 15 + 2, "GR": 300 + 15 + 2}
    for task in ("FG", "GR"):
        ranks = sorted(sel.rank[c.id] for c in cands if c.task == task and sel.split.get(c.id) == "eval")
        assert ranks == list(range(317))
    # After refusals, the best-ranked survivors make exactly the target.
    ids = defaultdict(list)
    for c in cands:
        if sel.split.get(c.id) == "eval" and sel.rank[c.id] % 20 != 0:  # 16 of 317 refused later
            ids[c.task].append(c.id)
    kept = keep_best_ranked(ids, sel)
    assert Counter(i.split("-")[0] for i in kept) == {"FG": 300, "GR": 300}


def test_no_group_dominates_and_groups_never_straddle(chosen):
    cands, cfg, sel = chosen
    per_group = Counter((c.group, c.task) for c in cands if sel.split.get(c.id) == "eval")
    assert max(per_group.values()) <= 3  # 1% of 300
    splits_of = defaultdict(set)
    for c in cands:
        if c.id in sel.split:
            splits_of[c.group].add(sel.split[c.id])
    assert all(len(s) == 1 for s in splits_of.values())
    assert Counter(c.task for c in cands if sel.split.get(c.id) == "train") == {"FG": 1000, "GR": 1000}


def test_spans_of_one_group_never_overlap(chosen):
    cands, _, sel = chosen
    taken = defaultdict(list)
    for c in cands:
        if c.id in sel.split:
            taken[(c.task, sel.split[c.id], c.group, c.file)].append((c.start_s, c.end_s))
    for spans in taken.values():
        spans.sort()
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))


def test_answer_classes_are_even_in_eval(chosen):
    cands, _, sel = chosen
    core = [c for c in cands if sel.split.get(c.id) == "eval" and sel.rank[c.id] < 300]
    fg = Counter(c.answer for c in core if c.task == "FG")
    gr = Counter(c.answer for c in core if c.task == "GR")
    assert max(fg.values()) - min(fg.values()) <= 1 and len(fg) == 5  # 60 each although 67% are "not a fraud"
    assert max(gr.values()) - min(gr.values()) <= 1 and len(gr) == 4


def test_class_quotas_give_small_classes_all_they_have():
    assert class_quotas(Counter({"a": 1000, "b": 30, "c": 5}), 300, 1, "FG") == {"a": 265, "b": 30, "c": 5}
    assert sum(class_quotas(Counter({"a": 3, "b": 3, "c": 3}), 7, 1, "FG").values()) == 7
    assert class_quotas(Counter({"a": 2}), 10, 1, "FG") == {"a": 2}


def test_selection_is_reproducible_and_order_free(chosen):
    cands, cfg, sel = chosen
    again = select(list(reversed(cands)), cfg, seed=7)
    assert again.split == sel.split and again.rank == sel.rank


def test_small_builds_keep_a_train_split():
    cands = [Candidate(id=f"GR-{g}", task="GR", group=f"g{g}", answer="x", file="f", start_s=None, end_s=None)
             for g in range(5)]
    sel = select(cands, SplitConfig(), seed=1)
    assert Counter(sel.split.values()) == {"eval": 3, "train": 2}


def test_an_eval_only_build_may_take_all_of_a_task_and_several_items_per_group():
    """With train capped at 0 there is no train split to keep: eval takes up to all of a task (an annotated source
    annotated for 1.25x eval's target reaches the target), and few groups may give several items each."""
    cands = [Candidate(id=f"TR-{g}-{k}", task="TR", group=f"conversation{g}", answer=["left", "right"][k % 2],
                       file=f"c{g}.avi", start_s=100.0 * k, end_s=100.0 * k + 60) for g in range(13) for k in range(3)]
    sel = select(cands, SplitConfig(eval_targets={"TR": 30}, train_max_per_task=0), seed=1)
    assert sel.targets == {"TR": 30} and Counter(sel.split.values()) == {"eval": 30 + 2 + 2}  # reserve 5% + 2
    assert select(cands, SplitConfig(eval_targets={"TR": 30}), seed=1).targets == {"TR": 20}  # half of 39 kept


def test_lazy_permutation_is_a_permutation():
    rng = random.Random(3)
    assert sorted(lazy_permutation(1000, rng)) == list(range(1000))


def test_cm_drafts_reference_their_pool_instead_of_copying_it(tmp_path: Path):
    from humansense.augment.options import pick_wrong_options
    from humansense.config import ActivityNetConfig
    from humansense.sources.stage import parse_source

    def tree(n: int) -> Path:
        root = tmp_path / f"anet{n}"
        (root / "videos").mkdir(parents=True)
        rng = random.Random(n)
        words = ["man", "woman", "dog", "ball", "kitchen", "lake", "bike", "guitar", "street", "cake"]
        data = {f"v_{k:06d}": {"duration": 60.0, "timestamps": [[0, 10], [12, 30], [33, 55]],
                               "sentences": [f"A {rng.choice(words)} {rng.choice(words)} scene {k} part {e}."
                                             for e in range(3)]} for k in range(n)}
        (root / "val_1.json").write_text(json.dumps(data))
        return root

    sizes = {}
    for n in (100, 1000):
        summary = parse_source("activitynet", ActivityNetConfig(), tree(n), 1, tmp_path / f"work{n}")
        drafts = Path(summary["drafts"]).read_text().splitlines()
        sizes[n] = max(len(line) for line in drafts)
        pools = Pools.beside([Path(summary["drafts"])])
        assert len(pools.pools["activitynet/events-3"]) == n  # stored once per source
    assert sizes[1000] <= sizes[100] * 1.1  # a draft's size does not grow with the source
    from humansense.schema import ItemDraft

    draft = ItemDraft.model_validate_json(drafts[0])
    assert draft.distractor_pool == "activitynet/events-3" and draft.distractors == []
    wrong = pick_wrong_options(draft, 3, seed=1, cfg=AugmentConfig(), pools=pools)
    own = [text for who, text in pools.pools["activitynet/events-3"] if who == draft.provenance.record_id]
    assert len(wrong) == 3 and own and own[0] not in wrong  # never the draft's own video's events


def test_vocabulary_pools_are_stored_once_whatever_the_answer_sets(tmp_path: Path):
    """CelebV-HQ's PA: each clip has its own set of present attributes, so its own list of wrong options. The
    vocabulary is stored once per source and each draft names what it may not offer (its answers and what is
    confusable with them), so the pools and a draft's size do not grow with the clips, and no present attribute is
    ever a wrong option."""
    from humansense.augment.options import pick_wrong_options
    from humansense.config import CelebvhqConfig
    from humansense.sample import annotation_root
    from humansense.schema import ItemDraft, normalise_text
    from humansense.sources.celebvhq import APPEARANCE_CONFUSABLE, appearance_text
    from humansense.sources.stage import parse_source

    meta = json.loads((annotation_root("celebvhq") / "celebvhq_info.json").read_text())["meta_info"]
    names = meta["appearance_mapping"]
    sizes = {}
    for n in (50, 500):
        root = tmp_path / f"celebvhq{n}"
        (root / "raw").mkdir(parents=True)
        rng = random.Random(n)
        clips = {f"vid{k:05d}_0": {"ytb_id": f"vid{k:05d}", "duration": {"start_sec": 0.0, "end_sec": 4.0},
                                   "bbox": {"top": 0.1, "bottom": 0.9, "left": 0.1, "right": 0.9},
                                   "attributes": {"appearance": [int(rng.random() < 0.25) for _ in names],
                                                  "action": [0] * 35,
                                                  "emotion": {"sep_flag": False, "labels": "happy"}}}
                 for k in range(n)}
        (root / "celebvhq_info.json").write_text(json.dumps({"meta_info": meta, "clips": clips}))
        summary = parse_source("celebvhq", CelebvhqConfig(), root, 1, tmp_path / f"work{n}")
        drafts = [ItemDraft.model_validate_json(line) for line in Path(summary["drafts"]).read_text().splitlines()]
        pools = Pools.beside([Path(summary["drafts"])])
        assert len(pools.pools) == 1, len(pools.pools)  # one appearance vocabulary, not one list per clip
        sizes[n] = max(len(d.model_dump_json()) for d in drafts)
        for d in (d for d in drafts if d.task == "PA"):
            present = {appearance_text(names[i]) for i, v in
                       enumerate(clips[d.provenance.record_id]["attributes"]["appearance"]) if v}
            forbidden = {normalise_text(x) for x in present}
            for group in APPEARANCE_CONFUSABLE:
                if {normalise_text(appearance_text(g)) for g in group} & forbidden:
                    forbidden |= {normalise_text(appearance_text(g)) for g in group}
            offered = pools.entries(d.distractor_pool, d.provenance.record_id, (), set(d.pool_excludes))
            assert offered and not {normalise_text(x) for x in offered} & forbidden
            for seed in range(3):
                wrong = pick_wrong_options(d, 4 - len(d.answers), seed, AugmentConfig(), pools=pools)
                assert not {normalise_text(x) for x in wrong} & forbidden
    assert sizes[500] <= sizes[50] * 1.1


def test_several_answers_no_label_dominates_eval():
    """AVA-like AR: a pose label ("stand") is in 70% of the answer sets; eval caps every label's share at
    `eval_max_label_share`, so answering "the common pose" is no better than any other label."""
    rng = random.Random(3)
    objects = ["carry/hold", "watch (a person)", "talk to", "listen to", "touch", "ride", "drink", "eat"]
    cands = []
    for g in range(3000):
        labels = {"stand" if rng.random() < 0.7 else rng.choice(["sit", "walk", "bend/bow", "lie/sleep"])}
        labels |= set(rng.sample(objects, rng.randint(0, 2)))
        cands.append(Candidate(id=f"AR-{g}", task="AR", group=f"ava:v{g % 900}", answer="|".join(sorted(labels)),
                               file=f"v{g % 900}.mkv", start_s=float(g), end_s=g + 3.0))
    cfg = SplitConfig(eval_targets={"AR": 300}, train_max_per_task=1000)
    sel = select(cands, cfg, seed=5)
    chosen = [c for c in cands if sel.split.get(c.id) == "eval" and sel.rank[c.id] < 300]
    shares = Counter(a for c in chosen for a in c.answer.split("|"))
    assert len(chosen) == 300 and shares["stand"] <= 0.3 * 300 + 1, shares
    assert sum(len(c.answer.split("|")) for c in chosen) / 300 < 2.2  # not filled with the largest sets


def test_annotation_needs_follow_the_train_cap():
    """Sources made from annotations are annotated for eval's target plus the train they may give: an eval-only
    build (train capped at 0) annotates for eval alone, with the margin."""
    from humansense.budget import annotation_needs
    from humansense.config import AnnotationBudgetConfig

    targets, budget = {"FG": 300, "PC": 300}, AnnotationBudgetConfig()
    assert annotation_needs(["FG"], SplitConfig(eval_targets=targets), budget) == {"FG": 750}  # (300 + 300) x 1.25
    assert annotation_needs(["FG", "PC"], SplitConfig(eval_targets=targets, train_max_per_task=0), budget) == \
        {"FG": 375, "PC": 375}
    assert annotation_needs(["FG"], SplitConfig(eval_targets=targets, train_max_per_task=None), budget) == {"FG": 750}
    assert annotation_needs(["FG"], SplitConfig(eval_targets=targets),
                            AnnotationBudgetConfig(all_records=True)) is None


def test_stage_outputs_keep_the_three_newest_and_no_leftover_temporary_folder(tmp_path: Path):
    import os

    from humansense.keyed import output_folder, touch_and_prune

    for k, key in enumerate(["a", "b", "c", "d"]):
        folder = output_folder(tmp_path, "augment", key)
        folder.mkdir(parents=True)
        os.utime(folder, ns=(10**18 + k, 10**18 + k))
    (tmp_path / "augment" / ".augment-killed").mkdir()  # a spill folder a killed build left behind
    touch_and_prune(output_folder(tmp_path, "augment", "a"))  # the oldest, reused now: it becomes the newest
    assert sorted(p.name for p in (tmp_path / "augment").iterdir()) == ["a", "c", "d"]
