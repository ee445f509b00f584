"""Verdicts into the build (rejected items out, corrections in) and the QC report (pass rates, reasons, agreement)."""

from __future__ import annotations

from collections import Counter, defaultdict
from itertools import combinations

from pathlib import Path

from pydantic import ValidationError

from humansense.config import QcConfig
from humansense.io import read_jsonl, write_jsonl
from humansense.qc.sampling import mark_sample
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
        where = dict(source=item.provenance.source, task=item.task, record_id=item.provenance.record_id,
                     file=item.provenance.original_file)
        if row.verdict == "reject":
            removed.append(Quarantined(stage="qc", reason=f"rejected in review: {row.reason}", **where,
                                       detail=f"{item.id}: rejected by {row.annotator} ({row.reason}) {row.note}".strip()))
            continue
        update = {"qc_status": STATUS_OF[row.verdict]}
        if row.verdict == "correct":
            update["answer"] = row.corrected_answer
        try:  # re-validate: a correction must still be a valid answer for the item
            kept.append(type(item).model_validate({**item.model_dump(), **update}))
        except ValidationError as e:
            removed.append(Quarantined(stage="qc", reason="invalid correction", **where,
                                       detail=f"{item.id}: correction {row.corrected_answer!r} by {row.annotator} "
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


def qc_report(items: list[Item], store: ReviewStore, min_pass_rate: float) -> dict:
    sampled = [i for i in items if i.qc_status != "not_sampled"]
    current = store.current(sampled)
    per_task: dict[str, dict] = {}
    by_task: dict[str, list[Item]] = defaultdict(list)
    for i in sampled:
        by_task[i.task].append(i)
    problems = []
    all_pairs = []
    for abbr, group in sorted(by_task.items()):
        decided = [current[i.id][-1] for i in group if i.id in current]
        reasons = Counter(r.reason for r in decided if r.verdict == "reject")
        passed = sum(r.verdict in ("accept", "correct") for r in decided)
        pairs = [pair for i in group if len(current.get(i.id, [])) > 1 for pair in combinations(current[i.id], 2)]
        all_pairs += pairs
        rate = passed / len(decided) if decided else None
        per_task[abbr] = {"sampled": len(group), "reviewed": len(decided), "pending": len(group) - len(decided),
                          "accepted": sum(r.verdict == "accept" for r in decided),
                          "corrected": sum(r.verdict == "correct" for r in decided),
                          "rejected": sum(r.verdict == "reject" for r in decided),
                          "pass_rate": None if rate is None else round(rate, 4),
                          "reasons": dict(reasons.most_common()), "agreement": _agreement(pairs)}
        if len(decided) < len(group):
            problems.append(f"{abbr}: {len(group) - len(decided)} of {len(group)} sampled items not reviewed yet")
        elif rate is not None and rate < min_pass_rate:
            problems.append(f"{abbr}: pass rate {rate:.0%} is below {min_pass_rate:.0%}")
    return {"passed": not problems and bool(sampled), "problems": problems, "min_pass_rate": min_pass_rate,
            "tasks": per_task, "agreement": _agreement(all_pairs),
            "summary": f"{sum(t['reviewed'] for t in per_task.values())} of {len(sampled)} reviewed"}


def qc_stage(items_file: Path, cfg: QcConfig, seed: int, qc_dir: Path, out_file: Path,
             quarantine_file: Path) -> dict:
    """The QC stage of a build: mark the review sample (written for the app), report, apply the verdicts so far."""
    items = mark_sample(list(read_jsonl(items_file, Item)), cfg, seed)
    store = ReviewStore(qc_dir / REVIEWS_FILE)
    write_jsonl(qc_dir / SAMPLE_FILE, [i for i in items if i.qc_status != "not_sampled"])  # what the app shows
    report = qc_report(items, store, cfg.min_pass_rate)
    items, rejected = apply_verdicts(items, store)
    write_jsonl(out_file, items)
    write_jsonl(quarantine_file, rejected)
    return {"items": str(out_file), "quarantine": str(quarantine_file), "qc": report}
