from __future__ import annotations

from collections import Counter

from humansense.config import QcConfig
from humansense.qc.sampling import mark_sample, select_sample
from humansense.schema import Item, Media, Option, Provenance
from humansense.tasks import QUESTION_PATTERN, TASKS


def items(task: str, n: int) -> list[Item]:
    spec = TASKS[task]
    return [Item(id=f"{task.lower()}-{i}", task=task, level=spec.level, modality=spec.modality, kind=spec.kind,
                 question_pattern=QUESTION_PATTERN[spec.kind], question="q?",
                 options=[Option(letter="AB"[k], text=f"o{k}") for k in range(2)], answer="A",
                 media=Media(path="videos/x.mp4", duration_s=1, modality=spec.modality),
                 provenance=Provenance(source="s", record_id=str(i), original_file="f"), template_id="t")
            for i in range(n)]


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
