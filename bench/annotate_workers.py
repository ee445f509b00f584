"""Annotation throughput against workers: the same records of a generated tree (RealTalk's conversations, The Skin
Deep's videos) annotated as shards through Dask, by one worker, then by two (each one process with one thread,
a fresh annotator cache each time), and, with `--scheduler`, by a cluster started apart (`dask scheduler` and
`dask worker --nthreads 1` commands). The evidence of every run is compared byte for byte with the first's.

    .venv/bin/python bench/gen_sources.py --out /work/bench-data/small --scale 0.025 --only realtalk skindeep
    .venv/bin/python bench/annotate_workers.py /work/bench-data/small --records 8
    .venv/bin/python bench/annotate_workers.py /work/bench-data/small --records 8 --scheduler tcp://127.0.0.1:8786

Prints and writes `bench/out/annotate_workers.json`: wall time per run (cluster start apart), the ratio of two
workers to one, which worker ran how many shards, and the seconds per record of each step (the engines it holds).
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
SOURCES = ("realtalk", "skindeep")


def plan(tree: Path, records: int, evidence: Path, cache: Path, shard_size: int, seed: int, threads: int) -> list:
    from humansense.annotators.shards import plan_shards
    from humansense.annotators.stage import annotate_order, annotation_units, record_inputs
    from humansense.config import AnnotatorsConfig, SourcesConfig
    from humansense.sources import adapter_class

    cfg = AnnotatorsConfig.model_validate({"shard_size": shard_size, "asr": {"cpu_threads": threads},
                                           "llm": {"local_threads": threads}})
    shards = []
    for name in SOURCES:
        adapter = adapter_class(name)(getattr(SourcesConfig(), name), tree / name, seed)
        ids = annotate_order(annotation_units(adapter), seed, name)[:records]
        shards += plan_shards(type(adapter), adapter.config, adapter.root, seed, adapter.annotation_steps(), ids,
                              record_inputs(adapter), evidence / name, cache, cfg, adapter.code_version())
    return shards


def run(label: str, tree: Path, args, work: Path, address: str | None = None, workers: int = 1) -> dict:
    from prefect import flow
    from prefect_dask import DaskTaskRunner

    from humansense.flows.build import _run_shards

    evidence, cache = work / label / "evidence", work / label / "cache"
    shards = plan(tree, args.records, evidence, cache, args.shard_size, args.seed, args.engine_threads)
    runner = DaskTaskRunner(address=address) if address else DaskTaskRunner(cluster_kwargs={
        "n_workers": workers, "threads_per_worker": 1, "processes": True, "dashboard_address": ":0"})

    @flow(name=f"annotate-bench-{label}", task_runner=runner)
    def annotate_all() -> tuple[list[dict], float]:
        start = time.perf_counter()
        return _run_shards(shards), time.perf_counter() - start

    started = time.perf_counter()
    results, wall = annotate_all()
    per_step: dict[str, list[float]] = {}
    for shard, result in zip(shards, results):
        per_step.setdefault(f"{shard.source} {shard.step.name} ({'+'.join(shard.step.annotators)})", []).append(
            result["seconds"] / max(1, result["records"]))
    by_worker: dict[str, int] = {}
    for result in results:
        by_worker[str(result["pid"])] = by_worker.get(str(result["pid"]), 0) + 1
    return {"label": label, "shards": len(shards), "wall_s": round(wall, 1),
            "with_cluster_start_s": round(time.perf_counter() - started, 1), "shards_per_worker": by_worker,
            "seconds_per_record": {k: round(statistics.median(v), 2) for k, v in sorted(per_step.items())},
            "loads": sorted({k for r in results for k in r["loads"]}), "evidence": str(evidence), "cache": str(cache)}


def evidence_of(run: dict) -> dict[str, str]:
    root = Path(run["evidence"])
    return {p.relative_to(root).as_posix(): p.read_text(encoding="utf-8").replace(run["cache"], "<cache>")
            for p in sorted(root.glob("*/*.json"))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("tree", type=Path, help="a tree from bench/gen_sources.py with realtalk/ and skindeep/")
    ap.add_argument("--records", type=int, default=8, help="records of each source, in the build's seeded order")
    ap.add_argument("--shard-size", type=int, default=1)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--engine-threads", type=int, default=2,
                    help="CPU threads of each worker's engines (ASR and BLAS, the local LLM): 1 to give each worker "
                         "one core of its own; the default is the build's")
    ap.add_argument("--scheduler", help="also run on this separately started cluster (its workers see the tree)")
    ap.add_argument("--work", type=Path, help="where evidence and caches go (default: a temporary folder)")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="annotate-workers-"))
    runs = [run("one-worker", args.tree, args, work, workers=1), run("two-workers", args.tree, args, work, workers=2)]
    if args.scheduler:
        runs.append(run("cluster", args.tree, args, work, address=args.scheduler))
    first = evidence_of(runs[0])
    for r in runs:
        r["evidence_files"] = len(evidence_of(r))
        r["same_evidence_as_one_worker"] = evidence_of(r) == first
    summary = {"command": " ".join(sys.argv), "records_per_source": args.records,
               "engine_threads": args.engine_threads, "runs": runs,
               "two_to_one_wall_ratio": round(runs[1]["wall_s"] / runs[0]["wall_s"], 3)}
    OUT.mkdir(exist_ok=True)
    (OUT / "annotate_workers.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
