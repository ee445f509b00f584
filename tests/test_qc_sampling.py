from __future__ import annotations

from collections import Counter

from humansense.config import QcConfig
from humansense.qc.sampling import mark_sample, select_sample
from humansense.schema import Item, Media, Option, Provenance
from humansense.tasks import QUESTION_PATTERN, TASKS


def items(task: str, n: int, split: str = "unassigned", start: int = 0) -> list[Item]:
    spec = TASKS[task]
    return [Item(id=f"{task.lower()}-{i}", split=split, task=task, level=spec.level, modality=spec.modality, kind=spec.kind,
                 question_pattern=QUESTION_PATTERN[spec.kind], question="q?",
                 options=[Option(letter="ABCD"[k], text=str(k)) for k in range(spec.options)],
                 answer="1" if spec.kind == "numeral" else "A",
                 media=Media(path="videos/x.mp4", duration_s=1, modality=spec.modality),
                 provenance=Provenance(source="s", record_id=str(i), original_file="f"), template_id="t")
            for i in range(start, start + n)]


def test_sample_is_deterministic_stratified_and_heavier_on_l3():
    pool = items("TR", 2000) + items("FR", 2000)  # TR is L2, FR is L3 (both two-option tasks)
    qc = QcConfig(rate=0.2, level_factor={"L2": 1.0, "L3": 2.0})
    chosen = select_sample(pool, qc, seed=1)
    assert chosen == select_sample(list(reversed(pool)), qc, seed=1)
    per_task = Counter(i.split("-")[0] for i in chosen)
    assert 340 < per_task["tr"] < 460 and 720 < per_task["fr"] < 880
    assert chosen != select_sample(pool, qc, seed=2)


def test_small_tasks_get_the_minimum_and_adding_items_keeps_earlier_choices():
    qc = QcConfig(rate=0.2, min_per_task=3)
    assert len(select_sample(items("LD", 4), qc, seed=1)) == 3
    big = select_sample(items("TR", 1000), qc, seed=3)
    bigger = select_sample(items("TR", 1500), qc, seed=3)
    assert big <= bigger
    marked = mark_sample(items("TR", 50), qc, seed=3)
    assert {i.qc_status for i in marked} == {"pending", "not_sampled"}


def test_eval_is_sampled_at_the_rate_train_at_its_own_lower_rate():
    pool = items("TR", 300, "eval") + items("TR", 2000, "train", start=300)
    chosen = select_sample(pool, QcConfig(), seed=4)
    in_eval = sum(int(c.split("-")[1]) < 300 for c in chosen)
    assert 45 <= in_eval <= 75 and 20 <= len(chosen) - in_eval <= 60  # 20% of 300; 2% of 2,000
    assert not select_sample(items("TR", 2000, "train"), QcConfig(train_rate=0), seed=4)


def test_wilson_lower_bound():
    from humansense.qc.review import wilson_lower

    assert wilson_lower(0, 0, 0.95) is None
    assert abs(wilson_lower(60, 60, 0.95) - 60 / (60 + 1.6449 ** 2)) < 1e-3
    assert abs(wilson_lower(3, 3, 0.95) - 0.526) < 1e-3 and abs(wilson_lower(2, 3, 0.95) - 0.253) < 1e-3
    assert wilson_lower(95, 100, 0.95) < 0.95 < wilson_lower(990, 1000, 0.95)


def test_gate_at_full_size_passes_with_twenty_percent_of_eval_reviewed(tmp_path):
    """The paper's eval sizes, with train ten times larger: reviewing the 20% eval sample (40% for L3/L4) with one
    rejection per task passes; train's sample is reported, not required; a task with a poor pass rate fails, named."""
    from humansense.qc.review import qc_report
    from humansense.qc.store import ReviewStore, VerdictIn, content_hash

    pool = []
    for abbr, spec in TASKS.items():
        pool += items(abbr, spec.target, "eval") + items(abbr, 10 * spec.target, "train", start=spec.target)
    marked = mark_sample(pool, QcConfig(), seed=9)
    sampled = [i for i in marked if i.qc_status == "pending"]
    eval_sampled = [i for i in sampled if i.split == "eval"]
    assert 0.2 * 3882 < len(eval_sampled) < 0.32 * 3882
    store = ReviewStore(tmp_path / "reviews.sqlite")
    rejected_once: set[str] = set()
    bad_task = "PC"
    for item in eval_sampled:
        reject = item.task not in rejected_once or (item.task == bad_task and len(rejected_once) and
                                                    int(item.id.split("-")[1]) % 6 == 0)
        rejected_once.add(item.task)
        verdict = {"verdict": "reject", "reason": "wrong answer"} if reject else {"verdict": "accept"}
        store.add(VerdictIn(item_id=item.id, content_hash=content_hash(item), annotator="a", **verdict))
    report = qc_report(marked, store, QcConfig())
    assert report["problems"] == [p for p in report["problems"] if p.startswith(f"{bad_task}:")]
    assert len(report["problems"]) == 1 and "lower bound" in report["problems"][0] and not report["passed"]
    good = {t: r for t, r in report["tasks"].items() if t != bad_task}
    assert all(r["reviewed_share"] == 1.0 and r["pass_rate_lower"] >= 0.8 and r["train"]["reviewed"] == 0
               and r["train"]["sampled"] > 0 for r in good.values())
    assert report["tasks"][bad_task]["pass_rate_lower"] < 0.8
