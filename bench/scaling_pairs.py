"""Scaling of the full-size build, measured as interleaved pairs: cold builds of the scale-1 and scale-2 trees, one
after the other, the order alternating (1, 2, then 2, 1, ...), each a fresh `humansense build` process into a fresh
folder, same targets. Cold builds on this machine vary by ~10% between runs (the clip stage alone took 141-166 s for
the same clips), so one pair's ratio says little; the median of several interleaved pairs says more, and the stages
that read every record (parse, select, plan, augment) are reported on their own.

    .venv/bin/python bench/scaling_pairs.py /work/bench-data/s1 /work/bench-data/s2 --pairs 3 --train 0
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from fullsize import DEFAULT_SOURCES, build, config_text  # noqa: E402

GROWING = ("annotate + parse", "select", "plan media", "augment")


def cold_build(tree: Path, sources: list[str], train: int | None, runner: str) -> dict:
    work = Path(tempfile.mkdtemp(prefix="humansense-pairs-"))
    try:
        config = work / "build.toml"
        config.write_text(config_text(tree, sources, tree / "ucf_crime", train))
        return build(work / "build", config, work / "prefect", runner)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("small", type=Path)
    parser.add_argument("large", type=Path)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--sources", nargs="+", default=DEFAULT_SOURCES)
    parser.add_argument("--train", type=int, default=None)
    parser.add_argument("--runner", default="threads")
    parser.add_argument("--out", type=Path, default=Path("bench/out/scaling_pairs.json"))
    args = parser.parse_args()
    pairs = []
    for k in range(args.pairs):
        order = [("small", args.small), ("large", args.large)]
        runs = {}
        for name, tree in order if k % 2 == 0 else order[::-1]:
            runs[name] = cold_build(tree, args.sources, args.train, args.runner)
            run = runs[name]
            print(f"pair {k + 1} {name}: {run['wall_s']} s, peak {max(run['stages_peak_mb'].values(), default=0)} MB,"
                  f" eval {sum(run['eval_per_task'].values())}, clips {run['clips_cut']}", flush=True)
        growing = {n: sum(runs[n]["stages_s"].get(s, 0.0) for s in GROWING) for n in runs}
        pairs.append({"runs": runs, "ratio": round(runs["large"]["wall_s"] / runs["small"]["wall_s"], 3),
                      "peak_ratio": round(max(runs["large"]["stages_peak_mb"].values())
                                          / max(runs["small"]["stages_peak_mb"].values()), 3),
                      "growing_s": growing,
                      "growing_share": round((growing["large"] - growing["small"]) / runs["small"]["wall_s"], 3)})
        print(f"pair {k + 1}: time {pairs[-1]['ratio']}x, peak {pairs[-1]['peak_ratio']}x, growing stages "
              f"{growing['small']:.1f} -> {growing['large']:.1f} s", flush=True)
    summary = {"pairs": len(pairs), "ratios": [p["ratio"] for p in pairs],
               "median_ratio": statistics.median(p["ratio"] for p in pairs),
               "peak_ratios": [p["peak_ratio"] for p in pairs],
               "growing_share_median": statistics.median(p["growing_share"] for p in pairs)}
    print(json.dumps(summary))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"summary": summary, "pairs": pairs}, indent=1))


if __name__ == "__main__":
    main()
