"""The guard of a refactoring: builds through the real CLI and records what a user gets, to compare before and after.

    .venv/bin/python bench/release_identity.py --out /tmp/id-before --record bench/out/identity-before.json
    .venv/bin/python bench/release_identity.py --out /tmp/id-after --compare bench/out/identity-before.json

Builds the embedded sample (`humansense build --runner threads`) and, with `--tree`, a tree written by
`bench/gen_sources.py` (its `sources.toml`), each in a fresh folder at the same path every time (evidence records
name the files they read, and the card lists the evidence's checksums), with SOURCE_DATE_EPOCH fixed (the report's
`built_at`). Records every release file's sha256 (the release's `manifest.json`, which lists every other file) and
the sha256 of the select stage's `selection.json`. `build_report.json` is compared without its run facts (each
annotated source's `seconds` and the worker processes its shards ran in), which no two runs share.
`--compare` exits 1 naming every file that differs, appeared or went. `--annotations` shares the engines' content-
keyed cache between runs, so the "after" run of an annotated tree does not redo ASR, faces and the LLM (their
outputs are keyed by content and engine, not by our code's layout).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HUMANSENSE = Path(sys.executable).with_name("humansense")


RUN_FACTS = ("seconds", "workers")  # under build_report.json's "annotations": the run's, not the release's
EPOCH = "1796601600"  # 2026-12-07


def build(out: Path, config: Path | None) -> float:
    shutil.rmtree(out, ignore_errors=True)
    cmd = [str(HUMANSENSE), "build", "--out", str(out), "--runner", "threads"]
    if config:
        cmd += ["--config", str(config)]
    started = time.perf_counter()
    subprocess.run(cmd, check=True, env=os.environ | {"PREFECT_LOGGING_LEVEL": "WARNING",
                                                        "SOURCE_DATE_EPOCH": EPOCH})
    return time.perf_counter() - started


def fingerprint(out: Path) -> dict:
    release = out / "release"
    manifest = json.loads((release / "manifest.json").read_text())
    selections = sorted((out / "cache" / "work" / "select").glob("*/selection.json"), key=lambda p: p.stat().st_mtime)
    files = {rel: entry["sha256"] for rel, entry in sorted(manifest.items())}
    files["build_report.json"] = _without_run_facts(json.loads((release / "build_report.json").read_text()))
    return {"release": files,
            "selection.json": hashlib.sha256(selections[-1].read_bytes()).hexdigest()}


def _without_run_facts(report: dict) -> str:
    for counts in report.get("annotations", {}).values():
        counts.pop("seconds", None)
        counts.get("shards", {}).pop("workers", None)
    return hashlib.sha256(json.dumps(report, sort_keys=True).encode()).hexdigest()


def with_cache(config: Path, annotations: Path | None, out: Path, extra: str = "") -> Path:
    if annotations is None and not extra:
        return config
    shared = out.with_name(f"{out.name}.toml")  # beside the build folder, which each build starts afresh
    out.parent.mkdir(parents=True, exist_ok=True)
    cache = f'\n[annotators]\ncache_dir = "{annotations}"\n' if annotations else ""
    shared.write_text(config.read_text() + cache + "\n" + extra)
    return shared


def differences(before: dict, after: dict) -> list[str]:
    lines = []
    for build_name in sorted(set(before) | set(after)):
        b, a = before.get(build_name, {}), after.get(build_name, {})
        for rel in sorted(set(b.get("release", {})) | set(a.get("release", {}))):
            if b.get("release", {}).get(rel) != a.get("release", {}).get(rel):
                lines.append(f"{build_name}: release/{rel} {b.get('release', {}).get(rel, 'absent')[:12]} -> "
                             f"{a.get('release', {}).get(rel, 'absent')[:12]}")
        for name in ("selection.json",):
            if b.get(name) != a.get(name):
                lines.append(f"{build_name}: {name} {str(b.get(name))[:12]} -> {str(a.get(name))[:12]}")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True, help="scratch folder (a build per subfolder)")
    ap.add_argument("--tree", type=Path, help="a gen_sources.py tree (its sources.toml is built)")
    ap.add_argument("--annotations", type=Path, help="engines' cache shared between runs")
    ap.add_argument("--skip-sample", action="store_true")
    ap.add_argument("--tree-config", type=Path, help="TOML appended to the tree's sources.toml (a smaller annotation "
                    "budget: the packaged LLM takes seconds a call)")
    group = ap.add_mutually_exclusive_group(required=True)
    group.add_argument("--record", type=Path)
    group.add_argument("--compare", type=Path)
    args = ap.parse_args()

    result, times = {}, {}
    if not args.skip_sample:
        times["sample"] = build(args.out / "sample", None)
        result["sample"] = fingerprint(args.out / "sample")
    if args.tree:
        extra = args.tree_config.read_text() if args.tree_config else ""
        config = with_cache(args.tree / "sources.toml", args.annotations, args.out / "tree", extra)
        times["tree"] = build(args.out / "tree", config)
        result["tree"] = fingerprint(args.out / "tree")
    for name, seconds in times.items():
        print(f"{name}: {len(result[name]['release'])} release files, "
              f"selection {result[name]['selection.json'][:12]} ({seconds:.0f} s)")
    if args.record:
        args.record.parent.mkdir(parents=True, exist_ok=True)
        args.record.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
        return
    before = json.loads(args.compare.read_text())
    diff = differences({k: v for k, v in before.items() if k in result}, result)
    print("\n".join(diff) if diff else "identical: every release file and the selection")
    sys.exit(1 if diff else 0)


if __name__ == "__main__":
    main()
