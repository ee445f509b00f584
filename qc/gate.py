"""The release gate: no push while the QC sample is not fully reviewed or a task's pass rate is too low.

Every build records the QC state of its sample (from the review store, before rejected items are dropped) in
`build_report.json`; the push reads it, so a release built before the reviews were in stays blocked until it is
rebuilt with them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class GateResult:
    passed: bool
    problems: list[str] = field(default_factory=list)


def release_gate(release: Path) -> GateResult:
    report = json.loads((Path(release) / "build_report.json").read_text())
    qc = report.get("qc")
    if not qc:
        return GateResult(False, ["the release records no QC state (built by an older version?)"])
    if not qc.get("tasks"):
        return GateResult(False, ["the QC sample is empty"])
    return GateResult(bool(qc["passed"]), list(qc["problems"]))
