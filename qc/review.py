"""Verdicts into the build (rejected items out, corrections in) and the QC report (pass rates, reasons, agreement)."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from itertools import combinations
from statistics import NormalDist

from pathlib import Path

from pydantic import ValidationError

from humansense.sections import QcConfig
from humansense.io import read_jsonl, write_jsonl
from humansense.qc.sampling import is_eval, mark_sample
from humansense.qc.store import REVIEWS_FILE, SAMPLE_FILE, STATUS_OF, ReviewStore, VerdictRow
from humansense.schema import Item, Quarantined


def apply_verdicts(items: list[Item], store: ReviewStore) -> tuple[list[Item], list[Quarantined]]:
    """Sampled items take their reviewed status; rejected ones leave the release, corrected answers replace."""
    decided = store.status([i for i in items if i.qc_status != "not_sampled"])
    kept, removed = [], []
    for item in items:
        row = decided.get(item.id)
        if row is None:
            kept.append(item)
            continue
        if row.verdict == "reject":
            removed.append(Quarantined.of(item, "qc", f"rejected in review: {row.reason}",
                                          f"{item.id}: rejected by {row.annotator} ({row.reason}) {row.note}".strip()))
            continue
        update = {"qc_status": STATUS_OF[row.verdict]}
        if row.verdict == "correct":
            update["answer"] = row.corrected_answer
        try:  # re-validate: a correction must still be a valid answer for the item
            kept.append(type(item).model_validate({**item.model_dump(), **update}))
        except ValidationError as e:
            removed.append(Quarantined.of(item, "qc", "invalid correction",
                                          f"{item.id}: correction {row.corrected_answer!r} by {row.annotator} "
                                          f"is not a valid answer ({e.errors()[0]['msg']})"))
    return kept, removed


def _agreement(pairs: list[tuple[VerdictRow, VerdictRow]]) -> dict:
    """Observed agreement and Cohen's kappa over items reviewed by two annotators (labels: accept/reject/correct)."""
    if not pairs:
        return {"items": 0, "observed": None, "kappa": None}
    labels = [(a.verdict, b.verdict) for a, b in pairs]
    observed = sum(x == y for x, y in labels) / len(labels)
    first, second = Counter(x for x, _ in labels), Counter(y for _, y in labels)
    expected = sum(first[k] * second[k] for k in set(first) | set(second)) / len(labels) ** 2
    kappa = 1.0 if expected == 1 else (observed - expected) / (1 - expected)
    return {"items": len(pairs), "observed": round(observed, 4), "kappa": round(kappa, 4)}


def wilson_lower(passed: int, n: int, confidence: float) -> float | None:
    """The lower end of the one-sided Wilson score interval for a pass rate of passed/n."""
    if n == 0:
        return None
    z = NormalDist().inv_cdf(confidence)
    p = passed / n
    centre = p + z * z / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, (centre - margin) / (1 + z * z / n))


def _task_report(group: list[Item], current: dict[str, list[VerdictRow]], qc: QcConfig) -> dict:
    decided = [current[i.id][-1] for i in group if i.id in current]
    passed = sum(r.verdict in ("accept", "correct") for r in decided)
    lower = wilson_lower(passed, len(decided), qc.confidence)
    return {"sampled": len(group), "reviewed": len(decided), "pending": len(group) - len(decided),
            "reviewed_share": round(len(decided) / len(group), 4) if group else None,
            "accepted": sum(r.verdict == "accept" for r in decided),
            "corrected": sum(r.verdict == "correct" for r in decided),
            "rejected": sum(r.verdict == "reject" for r in decided),
            "pass_rate": round(passed / len(decided), 4) if decided else None,
            "pass_rate_lower": None if lower is None else round(lower, 4),
            "reasons": dict(Counter(r.reason for r in decided if r.verdict == "reject").most_common())}


def qc_report(items: list[Item], store: ReviewStore, qc: QcConfig) -> dict:
    """Per task: the eval sample (gated: reviewed share, pass rate and its lower Wilson bound) and the train sample
    (reported only); agreement over items two annotators reviewed."""
    sampled = [i for i in items if i.qc_status != "not_sampled"]
    current = store.current(sampled)
    by_task: dict[str, list[Item]] = defaultdict(list)
    for i in sampled:
        by_task[i.task].append(i)
    per_task: dict[str, dict] = {}
    problems = []
    all_pairs = []
    for abbr, group in sorted(by_task.items()):
        pairs = [pair for i in group if len(current.get(i.id, [])) > 1 for pair in combinations(current[i.id], 2)]
        all_pairs += pairs
        row = _task_report([i for i in group if is_eval(i)], current, qc)
        row["train"] = _task_report([i for i in group if not is_eval(i)], current, qc)
        row["agreement"] = _agreement(pairs)
        per_task[abbr] = row
        if not row["sampled"]:
            continue
        if row["reviewed_share"] < qc.min_reviewed_share:
            problems.append(f"{abbr}: {row['reviewed']} of {row['sampled']} sampled eval items reviewed "
                            f"({row['reviewed_share']:.0%}; {qc.min_reviewed_share:.0%} needed); "
                            f"{row['pending']} not reviewed yet")
        elif row["pass_rate_lower"] is not None and row["pass_rate_lower"] < qc.min_pass_rate:
            problems.append(f"{abbr}: pass rate {row['pass_rate']:.0%} of {row['reviewed']} reviewed, lower bound "
                            f"{row['pass_rate_lower']:.0%} at {qc.confidence:.0%} confidence is below "
                            f"{qc.min_pass_rate:.0%}")
    eval_sampled = sum(t["sampled"] for t in per_task.values())
    return {"passed": not problems and eval_sampled > 0, "problems": problems, "min_pass_rate": qc.min_pass_rate,
            "min_reviewed_share": qc.min_reviewed_share, "confidence": qc.confidence,
            "tasks": per_task, "agreement": _agreement(all_pairs),
            "summary": f"{sum(t['reviewed'] for t in per_task.values())} of {eval_sampled} eval items reviewed, "
                       f"{sum(t['train']['reviewed'] for t in per_task.values())} of "
                       f"{sum(t['train']['sampled'] for t in per_task.values())} train"}


def qc_stage(items_file: Path, cfg: QcConfig, seed: int, qc_dir: Path, out_file: Path,
             quarantine_file: Path) -> dict:
    """The QC stage of a build: mark the review sample (written for the app), report, apply the verdicts so far."""
    items = mark_sample(list(read_jsonl(items_file, Item)), cfg, seed)
    store = ReviewStore(qc_dir / REVIEWS_FILE)
    write_jsonl(qc_dir / SAMPLE_FILE, [i for i in items if i.qc_status != "not_sampled"])  # what the app shows
    report = qc_report(items, store, cfg)
    items, rejected = apply_verdicts(items, store)
    write_jsonl(out_file, items)
    write_jsonl(quarantine_file, rejected)
    return {"items": str(out_file), "quarantine": str(quarantine_file), "qc": report}
