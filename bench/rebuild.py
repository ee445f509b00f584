"""Benchmark: a cold build of the embedded sample against a rebuild with nothing changed, side by side.

    .venv/bin/python bench/rebuild.py [--repeat 2]

Prints wall time for each and the ratio (warm / cold). Both run in this process against one temporary Prefect
server, so the server's start-up is paid once and not counted. Sample media are synthesised before timing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

scratch = Path(tempfile.mkdtemp(prefix="humansense-bench-"))
os.environ.setdefault("PREFECT_HOME", str(scratch / "prefect"))
os.environ.setdefault("PREFECT_RESULTS_LOCAL_STORAGE_PATH", str(scratch / "results"))
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    from prefect.testing.utilities import prefect_test_harness

    from humansense.flows.build import build_humansense
    from humansense.sample import materialize

    roots = materialize(scratch / "sample")
    config = scratch / "bench.toml"
    config.write_text("".join(f'[sources.{n}]\nroot = "{r}"\n' for n, r in roots.items()))
    rows = []
    with prefect_test_harness(server_startup_timeout=120):
        for i in range(args.repeat):
            out = scratch / f"build{i}"
            t0 = time.perf_counter()
            cold = build_humansense(out=str(out), config_file=str(config))
            t1 = time.perf_counter()
            warm = build_humansense(out=str(out), config_file=str(config))
            t2 = time.perf_counter()
            rows.append((t1 - t0, t2 - t1, cold["media_tasks"], warm["media_tasks"]))
    print(f"{'run':>4} {'cold s':>8} {'warm s':>8} {'warm/cold':>9}  media tasks cached (cold -> warm)")
    for i, (cold_s, warm_s, cm, wm) in enumerate(rows):
        print(f"{i:>4} {cold_s:8.2f} {warm_s:8.2f} {warm_s / cold_s:9.3f}  {cm['cached']}/{cm['total']} -> "
              f"{wm['cached']}/{wm['total']} (clips cut {cm['clips_cut']} -> {wm['clips_cut']})")
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
