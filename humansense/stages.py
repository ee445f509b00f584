"""The contract between the flow and the stages.

A keyed stage (select, plan media, augment, audit) is one `KeyedStage`: its key (a digest of what decides its
output, computed before it runs), whether a folder holds its complete output (`done`), and how a cached report is
told (`reused`: it replays its first run's account, not this run's). Its run is the stage function the flow wraps
in a Prefect task, writing into `<work>/<folder>/<key>/` (`humansense.keyed`).

What the stages account for reaches publish as one typed `StageReports`, not a dict read by string keys.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict


def _as_run(report: dict) -> dict:
    return report


@dataclass(frozen=True)
class KeyedStage:
    name: str  # as the build log and the report's `stage_runs` name it
    folder: str  # its outputs: <work>/<folder>/<key>/
    key: Callable[..., str]
    done: Callable[..., bool]  # done(folder, *context): that folder holds a complete output
    reused: Callable[[dict], dict] = _as_run


class AuditReport(BaseModel):
    files: list[str]  # the audit's CSV and plot
    flagged: list[str]  # tasks whose blind answerers beat chance
    llm_account: dict[str, Any]


class StageReports(BaseModel):
    """What the stages before publish accounted for, for the build report."""

    model_config = ConfigDict(extra="forbid")
    sources: dict[str, dict]  # per source: its parse summary
    selection: dict[str, Any]  # targets, selected, not selected
    letters: dict[str, Any]  # the answer letters' balance (augment)
    media_tasks: dict[str, int]  # batches cut or cached, clips cut, reused, failed
    audit: AuditReport
    qc: dict[str, Any]
    annotations: dict[str, dict]  # per annotated source: the annotate stage's counts
    annotation_tasks: dict[str, int]
    sample_sources: list[str]
    fetch: dict[str, dict] = {}
    stage_runs: dict[str, str] = {}  # keyed stage -> "ran" | "cached"

    def fetch_summary(self) -> dict[str, dict]:
        return {n: {k: v for k, v in f.items() if k != "quarantine"} for n, f in self.fetch.items()}


def output_done(*names: str) -> Callable[[Path], bool]:
    """A `done` for a stage whose output is complete when these files are in its folder (the last written last)."""
    return lambda folder: all((Path(folder) / n).exists() for n in names)
