"""The release gate: no push while the QC sample is not fully reviewed or a task's pass rate is too low.

The review app (qc serve) records verdicts; until it has, every sampled item is `pending` and the gate says so.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from humansense.schema import Item

REVIEWED = {"accepted", "rejected", "corrected"}
PASSED = {"accepted", "corrected"}


@dataclass
class GateResult:
    passed: bool
    problems: list[str] = field(default_factory=list)
    per_task: dict[str, dict] = field(default_factory=dict)


def qc_gate(items: list[Item], min_pass_rate: float = 0.9) -> GateResult:
    statuses: dict[str, Counter] = defaultdict(Counter)
    for i in items:
        if i.qc_status != "not_sampled":
            statuses[i.task][i.qc_status] += 1
    problems, per_task = [], {}
    for abbr, c in sorted(statuses.items()):
        reviewed = sum(c[s] for s in REVIEWED)
        rate = sum(c[s] for s in PASSED) / reviewed if reviewed else None
        per_task[abbr] = {"sampled": sum(c.values()), "pending": c["pending"], "pass_rate": rate}
        if c["pending"]:
            problems.append(f"{abbr}: {c['pending']} of {sum(c.values())} sampled items not reviewed yet")
        elif rate is not None and rate < min_pass_rate:
            problems.append(f"{abbr}: pass rate {rate:.0%} is below {min_pass_rate:.0%}")
    return GateResult(passed=not problems, problems=problems, per_task=per_task)
