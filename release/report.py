"""The build report: what was made, what was refused and why, what was reused from the cache."""

from __future__ import annotations

import os
import platform
from collections import Counter
from datetime import UTC, datetime

from humansense import __version__
from humansense.config import BuildConfig
from humansense.schema import Item, Quarantined
from humansense.tasks import TASKS


def built_at() -> str:
    """Now, or the reproducible-builds convention's SOURCE_DATE_EPOCH (seconds since 1970) when it is set, so that
    two builds of the same inputs can be compared byte for byte (bench/release_identity.py)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = datetime.fromtimestamp(int(epoch), UTC) if epoch and epoch.isdigit() else datetime.now(UTC)
    return when.isoformat(timespec="seconds")


def build_report(config: BuildConfig, sources: dict[str, dict], items: list[Item], quarantined: list[Quarantined],
                 media_tasks: dict[str, int], sample_sources: list[str], audit_flagged: list[str]) -> dict:
    per_task = Counter(i.task for i in items)
    return {
        "humansense_version": __version__,
        "built_at": built_at(),
        "python": platform.python_version(),
        "seed": config.seed,
        "config_fingerprint": config.fingerprint(),
        "sources": {name: {k: v for k, v in s.items() if k not in {"drafts", "quarantine"}}
                    for name, s in sources.items()},
        "sample_sources": sample_sources,
        "items": len(items),
        "items_per_task": {t: per_task.get(t, 0) for t in TASKS},
        "items_per_split": dict(Counter(i.split for i in items)),
        "qc_sampled": sum(1 for i in items if i.qc_status != "not_sampled"),
        "quarantined": len(quarantined),
        "quarantined_by_reason": dict(Counter(f"{q.stage}: {q.reason}" for q in quarantined).most_common()),
        "media_tasks": media_tasks,
        "bias_audit": {"flagged": audit_flagged, "allow_biased": config.augment.allow_biased},
    }
