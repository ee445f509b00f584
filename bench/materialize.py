"""`humansense media materialize` against its workers: a reference release built from a generated tree (the
label-based sources, whose licences keep their clips out of the release), then its clips cut back from the tree
with one worker and with more, each run on an empty copy of the release, alternating, the summaries compared.

    .venv/bin/python bench/gen_sources.py --out /work/bench-data/ref --scale 0.002 --seed 5 \
        --only celebvhq ava jester activitynet ucf_crime tao
    .venv/bin/python bench/materialize.py /work/bench-data/ref --workers 1 2 --pairs 2

Prints and writes `bench/out/materialize.json`: the clips, each run's wall time, the ratio of each worker count
to one worker (median over the pairs) and whether every run cut and checked every clip alike.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).parent / "out"
SOURCES = ("celebvhq", "ava", "jester", "activitynet", "ucf_crime", "tao")
TASKS = ("PA", "AR", "GR", "ER", "CM", "AC", "HC", "LD")


def write_config(tree: Path, path: Path, per_task: int) -> Path:
    from humansense.config import SourcesConfig

    lines = ["seed = 5", "[split]", f"train_max_per_task = {per_task}", "[split.eval_targets]",
             *[f"{t} = {per_task}" for t in TASKS], "[augment]", "allow_biased = true", '[release]',
             'media_mode = "reference"']
    for name in SourcesConfig.model_fields:
        if name in SOURCES:
            lines += [f"[sources.{name}]", f'root = "{tree / name}"'] + (['layout = "cut_900_1800"']
                                                                         if name == "ava" else [])
        else:
            lines += [f"[sources.{name}]", "enabled = false"]
    path.write_text("\n".join(lines) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tree", type=Path, help="a tree written by bench/gen_sources.py")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--pairs", type=int, default=2, help="rounds of every worker count, the order alternating")
    parser.add_argument("--per-task", type=int, default=30, help="eval and train questions per task")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from prefect.testing.utilities import prefect_test_harness

    from humansense.config import load_config
    from humansense.flows.build import build_humansense
    from humansense.release.reference import MEDIA_MANIFEST, materialize

    work = Path(tempfile.mkdtemp(prefix="bench-materialize-"))
    config_file = write_config(args.tree.resolve(), work / "ref.toml", args.per_task)
    with prefect_test_harness(server_startup_timeout=120):
        build_humansense(out=str(work / "b"), config_file=str(config_file))
    release = work / "b" / "release"
    clips = len(json.loads((release / MEDIA_MANIFEST).read_text()))
    config = load_config(config_file)
    runs, summaries = [], {}
    for round_ in range(args.pairs):
        order = args.workers if round_ % 2 == 0 else list(reversed(args.workers))
        for workers in order:
            copy = work / f"release-{workers}-{round_}"
            shutil.copytree(release, copy)  # the release as published: its clips are references, not files
            start = time.perf_counter()
            summary = materialize(copy, config, workers).summary()
            wall = time.perf_counter() - start
            runs.append({"workers": workers, "round": round_, "wall_s": round(wall, 1), "cut": summary["cut"],
                         "differ": len(summary["differ"]), "failed": len(summary["failed"])})
            summaries.setdefault(workers, []).append(summary)
            shutil.rmtree(copy)
            print(f"round {round_}, {workers} worker(s): {wall:.1f} s, cut {summary['cut']} of {clips}", flush=True)
    base = statistics.median(r["wall_s"] for r in runs if r["workers"] == args.workers[0])
    ratios = {w: round(statistics.median(r["wall_s"] for r in runs if r["workers"] == w) / base, 3)
              for w in args.workers}
    first = next(iter(summaries.values()))[0]
    result = {"clips": clips, "runs": runs, "median_ratio_to_first": ratios,
              "same_summary": all(s == first for ss in summaries.values() for s in ss)}
    OUT.mkdir(exist_ok=True)
    (OUT / "materialize.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
