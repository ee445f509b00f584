"""What a build run shows on its page in the Prefect UI: its report as Prefect artifacts (tables and a summary).

Each artifact has a stable key, so the UI's Artifacts view keeps one history per key across scheduled runs:

    humansense-summary      markdown: items against the paper's targets, the diff, fetches, quarantine, audit, QC
    humansense-items        table: items per task and split (eval, train, tiny) with the paper's target
    humansense-quarantine   table: records refused, by stage and reason
    humansense-bias-audit   table: blind answerers' accuracy per task against chance
    humansense-qc           table: the review sample per task, the verdicts and the gate's lower bound
    humansense-diff         table: items added, removed and changed per task and split against the last release
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from humansense.release.card import markdown_table
from humansense.sources.fetch import fetch_line
from humansense.tasks import TASKS

SUMMARY, ITEMS, QUARANTINE, AUDIT, QC, DIFF = ("humansense-summary", "humansense-items", "humansense-quarantine",
                                               "humansense-bias-audit", "humansense-qc", "humansense-diff")


@dataclass(frozen=True)
class RunArtifact:
    key: str
    description: str
    markdown: str | None = None
    table: list[dict] | None = None


def items_table(report: dict) -> list[dict]:
    splits = report.get("splits") or {}
    return [{"task": abbr, "level": spec.level.value, "eval": splits.get(f"{abbr}/eval", 0),
             "train": splits.get(f"{abbr}/train", 0), "tiny": splits.get(f"{abbr}/tiny", 0), "paper": spec.target}
            for abbr, spec in TASKS.items()]


def quarantine_table(report: dict) -> list[dict]:
    rows = []
    for label, n in (report.get("quarantined_by_reason") or {}).items():
        stage, _, reason = label.partition(": ")
        rows.append({"stage": stage, "reason": reason, "records": n})
    return rows


def qc_table(report: dict) -> list[dict]:
    tasks = (report.get("qc") or {}).get("tasks") or {}
    return [{"task": t, "sampled": q.get("sampled", 0), "reviewed": q.get("reviewed", 0),
             "accepted": q.get("accepted", 0), "rejected": q.get("rejected", 0), "corrected": q.get("corrected", 0),
             "pass_rate_lower": q.get("pass_rate_lower")} for t, q in sorted(tasks.items())]


def diff_table(report: dict) -> list[dict]:
    per_task = (report.get("release_diff") or {}).get("per_task") or {}
    return [{"task/split": k, **v} for k, v in per_task.items()]


def _md(rows: list[dict]) -> str:
    return markdown_table(pd.DataFrame(rows)) if rows else "(none)"


def summary_markdown(report: dict, audit_rows: list[dict]) -> str:
    qc = report.get("qc") or {}
    flagged = (report.get("bias_audit") or {}).get("flagged") or []
    fetch = report.get("fetch") or {}
    lines = [f"# HumanSense build: {report.get('items', 0)} items", "",
             f"Seed {report.get('seed')}, config {str(report.get('config_fingerprint', ''))[:12]}, built "
             f"{report.get('built_at')}." + (f" **Embedded sample** for: {', '.join(report['sample_sources'])}."
                                             if report.get("sample_sources") else ""), "",
             "## Items per task and split", "", _md(items_table(report)), "",
             "## Changes since the previous release", "",
             (report.get("release_diff") or {}).get("summary", "not compared"), "", _md(diff_table(report)), ""]
    if fetch:
        lines += ["## Fetched", ""] + [f"- {fetch_line(name, f)}" for name, f in fetch.items()] + [""]
    lines += [f"## Quarantine: {report.get('quarantined', 0)} records", "", _md(quarantine_table(report)), "",
              "## Bias audit", "", f"Flagged: {'; '.join(flagged) if flagged else 'none'}.", "",
              f"{len(audit_rows)} answerer x task rows in the `{AUDIT}` artifact.", "",
              "## Quality control", "", f"{qc.get('summary', 'no QC state')}; gate "
              f"{'passed' if qc.get('passed') else 'not passed'}.", "", _md(qc_table(report))]
    return "\n".join(lines)


def run_artifacts(report: dict, audit_csv: str | None) -> list[RunArtifact]:
    """The artifacts of one build, from its report and the bias-audit table."""
    audit_rows = pd.read_csv(audit_csv).to_dict("records") if audit_csv else []
    return [
        RunArtifact(SUMMARY, "HumanSense build summary", markdown=summary_markdown(report, audit_rows)),
        RunArtifact(ITEMS, "Items per task and split", table=items_table(report)),
        RunArtifact(QUARANTINE, "Quarantined records by stage and reason", table=quarantine_table(report)),
        RunArtifact(AUDIT, "Bias audit: blind answerers against chance", table=audit_rows),
        RunArtifact(QC, "QC review state per task", table=qc_table(report)),
        RunArtifact(DIFF, (report.get("release_diff") or {}).get("summary", "release diff"),
                    table=diff_table(report)),
    ]
