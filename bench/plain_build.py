"""A plain `humansense build` (the default runner: workers sized to this machine) against `--runner threads` (one
process, shards one at a time) on the same generated annotated tree, as interleaved pairs whose order alternates.
Each run is a fresh `humansense build` process with a fresh build folder (a cold annotator cache), so both annotate
every record; the evidence of every run is compared with the first's.

    .venv/bin/python bench/gen_sources.py --out /work/bench-data/rt --scale 0.015 --only realtalk --conversation-s 90
    .venv/bin/python bench/plain_build.py /work/bench-data/rt --pairs 3

Prints and writes `bench/out/plain_build.json`: per run, the runner line the build logged, the "annotate + parse"
stage's seconds and the wall time; the ratio default / threads of each pair and their median.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).parent / "out"
BIN = Path(sys.executable).parent
STAGE = re.compile(r"annotate \+ parse done in ([\d.]+) s")
RUNNER = re.compile(r"runner .*")


def config_text(tree: Path, sources: list[str]) -> str:
    from humansense.config import SourcesConfig

    lines = ["seed = 2026", "[annotators]", "shard_size = 1", "[release]", "allow_shortfall = true"]
    blocks = (tree / "sources.toml").read_text().split("[sources.")[1:]
    lines += ["[sources." + b.strip() for b in blocks if b.split("]", 1)[0] in sources]
    lines += [f"[sources.{n}]\nenabled = false" for n in SourcesConfig.model_fields if n not in sources]
    return "\n".join(lines) + "\n"


def evidence_digest(out: Path) -> dict[str, str]:
    """Each evidence file's sha256, the build folder's own path taken out (cache paths are written into some)."""
    root = out / "cache" / "work" / "evidence"
    found = {}
    for path in sorted(root.glob("*/*.json")):
        text = path.read_text(encoding="utf-8").replace(str(out), "<out>")
        found[path.relative_to(root).as_posix()] = hashlib.sha256(text.encode()).hexdigest()
    return found


def build(label: str, config: Path, work: Path, runner: str | None) -> dict:
    out = work / label
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(work / f"{label}-prefect"), PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1")
    command = [str(BIN / "humansense"), "build", "--out", str(out), "--config", str(config)]
    start = time.perf_counter()
    run = subprocess.run(command + (["--runner", runner] if runner else []), env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    log = run.stdout + run.stderr + (out / "logs" / "build.log").read_text(errors="replace")
    if run.returncode != 0:
        raise SystemExit(f"{label} failed:\n{log[-3000:]}")
    annotate = STAGE.search(log)
    runner_line = RUNNER.search(log)
    return {"label": label, "runner": runner or "default", "runner_line": runner_line.group(0) if runner_line else
            "runner threads", "annotate_s": float(annotate.group(1)), "wall_s": round(wall, 1),
            "evidence": evidence_digest(out)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("tree", type=Path)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--sources", nargs="+", default=["realtalk"])
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="hs-plain-build-"))
    work.mkdir(parents=True, exist_ok=True)
    config = work / "tree.toml"
    config.write_text(config_text(args.tree, args.sources))
    runs, ratios = [], []
    for k in range(args.pairs):
        order = [None, "threads"] if k % 2 == 0 else ["threads", None]
        pair = {r: build(f"{'default' if r is None else r}-{k}", config, work, r) for r in order}
        runs += pair.values()
        ratio = pair[None]["annotate_s"] / pair["threads"]["annotate_s"]
        ratios.append(ratio)
        print(f"pair {k + 1}: default {pair[None]['annotate_s']} s ({pair[None]['runner_line']}), threads "
              f"{pair['threads']['annotate_s']} s: ratio {ratio:.3f}", flush=True)
    same = all(r["evidence"] == runs[0]["evidence"] for r in runs)
    result = {"tree": str(args.tree), "sources": args.sources, "pairs": args.pairs, "ratios": [round(r, 3) for r in ratios],
              "median_ratio": round(statistics.median(ratios), 3), "evidence_files": len(runs[0]["evidence"]),
              "evidence_identical": same, "runs": [{k: v for k, v in r.items() if k != "evidence"} for r in runs]}
    OUT.mkdir(exist_ok=True)
    (OUT / "plain_build.json").write_text(json.dumps(result, indent=1))
    print(f"median default / threads: {result['median_ratio']}; evidence identical in all {len(runs)} runs: {same} "
          f"({result['evidence_files']} files)")


if __name__ == "__main__":
    main()
