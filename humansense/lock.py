"""One build at a time per build folder: an advisory lock (flock) on `<out>/.build.lock`, held for the whole build.

The kernel drops the lock when its holder exits or is killed, so a crashed build never blocks the next one; a
second build on the same folder meanwhile is refused at once, naming the holder, instead of corrupting the first.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_FILE = ".build.lock"


class BuildLocked(RuntimeError):
    pass


@contextmanager
def build_lock(folder: Path) -> Iterator[None]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    handle = open(folder / LOCK_FILE, "a+", encoding="utf-8")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise BuildLocked(f"another build is running on {folder} ({holder}); wait for it to finish or use "
                              "another --out") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        handle.flush()
        yield
    finally:
        handle.close()  # closing releases the lock
