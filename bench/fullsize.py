"""The full-size tree built end to end from the command line: cold, again with nothing changed, and after one
record changed (one UCF-Crime anomaly span), each `humansense build` a fresh process as a user runs it.

    .venv/bin/python bench/gen_sources.py --out /data/hs/s1 --scale 1
    .venv/bin/python bench/fullsize.py /data/hs/s1 [--train 0] [--runner processes] [--sources celebvhq ava ...]

Reports per run: wall time, each stage's time and peak memory (the build's own stage lines; the build process's
peak is reset as each stage starts), the peak memory of the largest process (the build, its Prefect server, ffmpeg),
items per task and split, clips cut / reused and annotation tasks cached. The label-based sources and SEUMLD are
built by default (the annotated sources' annotate stage at real lengths is hours on two cores); `--train` caps
train per task (0: eval only).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
DEFAULT_SOURCES = ["celebvhq", "ava", "jester", "activitynet", "ucf_crime", "tao", "seumld"]
STAGE_LINE = re.compile(r"^\S+\s+(?P<stage>.+?) done in (?P<s>[\d.]+) s(?:, peak (?P<mb>\d+) MB)?", re.M)


def config_text(tree: Path, sources: list[str], ucf_root: Path, train: int | None) -> str:
    from humansense.config import SourcesConfig

    lines = ["seed = 2026", "[split]", f"train_max_per_task = {train}" if train is not None else ""]
    source_lines = (tree / "sources.toml").read_text().split("[sources.")[1:]
    for block in source_lines:
        name = block.split("]", 1)[0]
        if name in sources:
            body = block.replace(str(tree / "ucf_crime"), str(ucf_root)) if name == "ucf_crime" else block
            lines.append("[sources." + body.strip())
    lines += [f"[sources.{n}]\nenabled = false" for n in SourcesConfig.model_fields if n not in sources]
    return "\n".join(line for line in lines if line) + "\n"


def build(out: Path, config: Path, home: Path, runner: str = "threads") -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1")
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    run = subprocess.run([str(BIN / "humansense"), "build", "--out", str(out), "--config", str(config),
                          "--runner", runner], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if run.returncode != 0:
        raise SystemExit(run.stdout[-3000:] + run.stderr[-3000:])
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    report = json.loads((out / "release" / "build_report.json").read_text())
    log = (out / "logs" / "build.log").read_text(errors="replace") + run.stdout + run.stderr
    media = report["media_tasks"]
    stages = list(STAGE_LINE.finditer(log))
    return {"wall_s": round(wall, 1), "stages_s": {m["stage"]: float(m["s"]) for m in stages},
            "stages_peak_mb": {m["stage"]: int(m["mb"]) for m in stages if m["mb"]},
            "peak_rss_mb": round(max(peak, before) / 1024) if peak > before else None,
            "items_per_split": report["items_per_split"],
            "eval_per_task": {k.split("/")[0]: v for k, v in report["splits"].items() if k.endswith("/eval")},
            "clips_cut": media["clips_cut"], "clips_reused": media["clips_reused"],
            "clip_batches_cached": f"{media['cached']}/{media['total']}"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("tree", type=Path)
    parser.add_argument("--sources", nargs="+", default=DEFAULT_SOURCES)
    parser.add_argument("--train", type=int, default=None, help="train_max_per_task (default: the config's)")
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--runner", default="threads", help="the build's task runner: threads, processes or dask")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="humansense-fullsize-"))
    ucf = work / "ucf_crime"  # hard links to the videos, a copy of the annotation file: one span gets edited
    if not ucf.exists():
        shutil.copytree(args.tree / "ucf_crime", ucf, copy_function=os.link)
        for notes in ucf.glob("*.txt"):
            text = notes.read_bytes()
            notes.unlink()
            notes.write_bytes(text)
    config = work / "fullsize.toml"
    config.write_text(config_text(args.tree, args.sources, ucf, args.train))
    out, home = work / "build", work / "prefect"
    results = {"cold": build(out, config, home, args.runner)}
    print("cold", json.dumps(results["cold"]), flush=True)
    results["warm"] = build(out, config, home, args.runner)
    print("warm", json.dumps(results["warm"]), flush=True)
    notes = next(ucf.glob("Temporal_Anomaly_Annotation*.txt"))
    selected = {i.provenance.record_id for i in _items(out / "release") if i.task == "AC"}
    lines = notes.read_text().splitlines()
    for k, line in enumerate(lines):  # the first selected anomaly: its start moves 30 frames later
        fields = line.split()
        if fields and fields[0] in selected and int(fields[2]) > 0:
            fields[2] = str(int(fields[2]) + 30)
            lines[k] = "  ".join(fields) + "  "
            break
    notes.write_text("\n".join(lines) + "\n")
    results["one record changed"] = build(out, config, home, args.runner)
    print("one record changed", json.dumps(results["one record changed"]), flush=True)
    cold, warm = results["cold"]["wall_s"], results["warm"]["wall_s"]
    print(f"warm / cold: {warm / cold:.3f} ({warm} s / {cold} s)")
    (work / "fullsize.json").write_text(json.dumps(results, indent=1))


def _items(release: Path):
    from humansense.release.score import load_items

    return load_items(release)


if __name__ == "__main__":
    main()
