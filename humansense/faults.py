"""Fault injection for the reliability suite (tests/test_faults.py): seeded kill points inside the stages.

`HUMANSENSE_FAULT_KILL=<stage>:<n>` makes the process SIGKILL itself at the n-th checkpoint of that stage (parse:
per record; annotate: per unit; cut: per clip; augment: per draft; publish: with the release written to its
temporary folder, before the rename). Nothing else reads it; unset, a checkpoint is one environment lookup.
The process dies as a machine losing power would: no handler, no cleanup, no flush.
"""

from __future__ import annotations

import os
import signal
import threading

ENV = "HUMANSENSE_FAULT_KILL"
STAGES = ("parse", "annotate", "cut", "augment", "publish")
_counts: dict[str, int] = {}
_lock = threading.Lock()


def checkpoint(stage: str) -> None:
    target = os.environ.get(ENV)
    if not target:
        return
    name, _, nth = target.partition(":")
    if name != stage:
        return
    with _lock:
        _counts[stage] = _counts.get(stage, 0) + 1
        reached = _counts[stage] >= int(nth or 1)
    if reached:
        os.kill(os.getpid(), signal.SIGKILL)
