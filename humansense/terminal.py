"""A quiet, informative terminal for long commands: engine output to a log file, the stages and a summary on screen.

The annotator engines (PaddlePaddle, TensorFlow, llama.cpp, ffmpeg) and Prefect's own logger write warnings and
progress straight to file descriptor 2, hundreds of lines per build. `quiet_terminal` points descriptor 2 (and
Python's warnings) at `<out>/logs/build.log` for the duration and hands back a stream to the real terminal, on
which the stage lines (`stage`) and the summary are printed. `--verbose` leaves everything on the terminal.
"""

from __future__ import annotations

import ctypes
import gc
import io
import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

STAGES = logging.getLogger("humansense.stages")


@contextmanager
def stage(name: str, detail: str = "") -> Iterator[None]:
    """Log the start and the end of one stage of a build to the stage logger: its duration and, on Linux, the
    process's peak resident memory during the stage (the peak is reset when the stage starts)."""
    start = time.perf_counter()
    STAGES.info("%s ...%s", name, f" {detail}" if detail else "")
    measured = _reset_peak_memory()
    yield
    _give_back_freed_memory()
    peak = _peak_memory_mb() if measured else None
    STAGES.info("%s done in %.1f s%s", name, time.perf_counter() - start, f", peak {peak} MB" if peak else "")


class Ticker:
    """Progress of a long loop inside a stage, as stage lines: "skindeep transcripts: 120 of 250 (8.0 s each)", at
    most one every `every_s` seconds, and one at the end. An annotate round on two cores can run for an hour; a
    line now and then says it is moving and how fast."""

    def __init__(self, label: str, total: int, every_s: float = 30.0):
        self.label, self.total, self.every_s = label, total, every_s
        self.done = 0
        self.start = self.last = time.perf_counter()

    def tick(self, n: int = 1) -> None:
        self.done += n
        now = time.perf_counter()
        if now - self.last >= self.every_s or (self.done == self.total and now - self.start >= self.every_s):
            self.last = now
            STAGES.info("%s: %d of %d (%.1f s each)", self.label, self.done, self.total,
                        (now - self.start) / max(1, self.done))


def _give_back_freed_memory() -> None:
    """Return what a stage freed to the system (glibc keeps freed heap pages otherwise), so a later stage's peak
    does not include what a stage that grows with the sources left behind."""
    gc.collect()
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def _reset_peak_memory() -> bool:
    """Reset this process's peak resident set size (Linux: 5 to /proc/self/clear_refs); False where unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _peak_memory_mb() -> int | None:
    """This process's peak resident set size since the last reset, in MB (VmHWM in /proc/self/status)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024)
    except (OSError, ValueError, IndexError):
        pass
    return None


def _real_stderr() -> TextIO | None:
    """sys.stderr when it is descriptor 2 itself (a real terminal or pipe), else None (a test runner's buffer)."""
    try:
        return sys.stderr if sys.stderr.fileno() == 2 else None
    except (AttributeError, ValueError, io.UnsupportedOperation):
        return None


@contextmanager
def quiet_terminal(log_file: Path, verbose: bool = False) -> Iterator[TextIO]:
    """Yield the stream to print to; unless `verbose`, everything else written to stderr goes to `log_file`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s  %(message)s", "%H:%M:%S"))
    STAGES.addHandler(handler)
    STAGES.setLevel(logging.INFO)
    STAGES.propagate = False
    if verbose:
        try:
            yield sys.stderr
        finally:
            STAGES.removeHandler(handler)
        return
    log_file.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    real = _real_stderr()
    saved = os.dup(2)
    terminal: TextIO = os.fdopen(os.dup(saved), "w", buffering=1) if real is not None else sys.stderr
    handler.setStream(terminal)
    warnings_log = logging.getLogger("py.warnings")
    with open(log_file, "a", encoding="utf-8") as log:
        file_handler = logging.StreamHandler(log)
        warnings_log.addHandler(file_handler)
        logging.captureWarnings(True)
        os.dup2(log.fileno(), 2)
        try:
            yield terminal
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            logging.captureWarnings(False)
            warnings_log.removeHandler(file_handler)
            STAGES.removeHandler(handler)
            # Prefect stops its temporary server at exit and says so; that line belongs in the log too.
            logging.getLogger("prefect").setLevel(logging.WARNING)
            if terminal is not sys.stderr:
                terminal.flush()
                terminal.close()
