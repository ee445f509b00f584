"""The `build-humansense` flow: sources -> media -> augment (+ bias audit) -> qc -> release. Wiring only.

Tasks are coarse (one per source, one per batch of clips) and pass file paths, not item lists. The parse and
clip tasks carry explicit cache keys (annotation checksums, adapter code, config, seed; clip batch digests), stored
under `<out>/cache`, so a rebuild where nothing changed reuses every parse and every clip batch.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.cache_policies import CacheKeyFnPolicy
from prefect.futures import as_completed
from prefect.task_runners import ThreadPoolTaskRunner
from rich.progress import Progress

from humansense import sample
from humansense.augment.audit import audit, check, text_only_llm, write_audit
from humansense.augment.build import build_items
from humansense.clips import batch_done, cut_batch, plan_batches
from humansense.config import BuildConfig, load_config
from humansense.ids import digest
from humansense.io import read_jsonl, write_json, write_jsonl
from humansense.qc.review import apply_verdicts, qc_report
from humansense.qc.sampling import mark_sample
from humansense.qc.store import REVIEWS_FILE, SAMPLE_FILE, ReviewStore
from humansense.release.report import build_report
from humansense.release.splits import assign_splits_for, check_leakage, tiny_ids
from humansense.release.hub import push_release
from humansense.release.writer import write_release
from humansense.schema import Item, Quarantined
from humansense.annotators.stage import gather_evidence
from humansense.sources import adapter_class
from humansense.sources.stage import parse_key, parse_source


# Keys include the output folder: results name files inside it, so two build folders never share a cached result.
def _parse_cache_key(context, params) -> str:
    key = parse_key(params["name"], params["config"], Path(params["root"]), params["seed"])
    return f"parse-{params['name']}-{digest(key, params['work'])}"


def _batch_cache_key(context, params) -> str:
    # The batch file is named by the digest of its contents (clip specs, source fingerprints, encoder settings).
    return f"clips-{digest(Path(params['batch']).stem, params['clips_dir'])}"


@task(name="prepare-sample")
def prepare_sample(dest: str, names: list[str]) -> dict[str, str]:
    return {k: str(v) for k, v in sample.materialize(Path(dest), names).items()}


@task(name="annotate-source")
def annotate_source_task(name: str, source_config, root: str, evidence: str, config: BuildConfig, cache: str) -> dict:
    adapter = adapter_class(name)(source_config, Path(root), config.seed)
    return gather_evidence(adapter, Path(evidence), config.annotators,
                           config.annotators.cache_dir or Path(cache) / "annotations")


@task(name="parse-source", persist_result=True)
def parse_source_task(name: str, config, root: str, seed: int, work: str) -> dict:
    return parse_source(name, config, Path(root), seed, Path(work))


@task(name="plan-media")
def plan_media_task(draft_files: list[str], work: str, media) -> dict:
    plan = plan_batches([Path(p) for p in draft_files], Path(work), media)
    write_json(Path(work) / "clip_of.json", plan.clip_of)
    write_jsonl(Path(work) / "media_quarantine.jsonl", plan.quarantined)
    return {"batches": [str(b) for b in plan.batches], "clip_of": str(Path(work) / "clip_of.json"),
            "quarantine": str(Path(work) / "media_quarantine.jsonl")}


@task(name="cut-clips", persist_result=True)
def cut_clips_task(batch: str, clips_dir: str) -> dict:
    return cut_batch(Path(batch), Path(clips_dir))


@task(name="make-items")
def make_items_task(draft_files: list[str], clip_of: str, clips_dir: str, config: BuildConfig,
                    work: str, qc_dir: str) -> dict:
    files, clips, work_dir = [Path(p) for p in draft_files], json.loads(Path(clip_of).read_text()), Path(work)
    splits = assign_splits_for(files, clips, config.split, config.seed)
    items, quarantined = build_items(files, clips, Path(clips_dir), config.seed, config.augment, splits)
    split_counts = check_leakage(items)  # raises on any overlap between eval and train
    with text_only_llm(config, work_dir) as (answerer, account):
        table = audit(items, config.augment, answerer)
    audit_files = write_audit(table, work_dir / "audit")
    flagged = check(table, config.augment)  # raises (failing the flow) unless the user allowed a biased build
    items = mark_sample(items, config.qc, config.seed)
    store = ReviewStore(Path(qc_dir) / REVIEWS_FILE)
    write_jsonl(Path(qc_dir) / SAMPLE_FILE, [i for i in items if i.qc_status != "not_sampled"])  # what the app shows
    qc = qc_report(items, store, config.qc.min_pass_rate)
    items, rejected = apply_verdicts(items, store)
    write_jsonl(work_dir / "items.jsonl", items)
    write_jsonl(work_dir / "augment_quarantine.jsonl", quarantined + rejected)
    write_json(work_dir / "tiny.json", sorted(tiny_ids(items, config.split, config.seed)))
    return {"items": str(work_dir / "items.jsonl"), "quarantine": str(work_dir / "augment_quarantine.jsonl"),
            "tiny": str(work_dir / "tiny.json"), "audit_files": [str(f) for f in audit_files],
            "audit_flagged": flagged, "split_counts": split_counts, "qc": qc, "llm_account": account}


@task(name="publish-release")
def publish_release_task(out: str, made: dict, quarantine_files: list[str], clips_dir: str, config: BuildConfig,
                         sources: dict, media_tasks: dict, sample_sources: list[str], annotated: dict) -> dict:
    items = list(read_jsonl(Path(made["items"]), Item))
    quarantined = [q for f in quarantine_files for q in read_jsonl(Path(f), Quarantined)]
    report = build_report(config, sources, items, quarantined, media_tasks, sample_sources, made["audit_flagged"])
    report["qc"] = made["qc"]
    report["llm_account"] = made["llm_account"]
    report["annotations"] = annotated  # per source: annotator counts, cache hits, the LLM's token and cost account
    audit_csv = next(Path(f) for f in made["audit_files"] if f.endswith(".csv"))
    write_release(Path(out) / "release", items, Path(clips_dir), quarantined, report,
                  tiny=set(json.loads(Path(made["tiny"]).read_text())), audit=pd.read_csv(audit_csv),
                  extra_files={f"audit/{Path(f).name}": Path(f) for f in made["audit_files"]}, cfg=config.release)
    return report


@task(name="push-release")
def push_release_task(release: str, repo_id: str | None) -> dict:
    if not repo_id:
        raise ValueError("push=true needs repo_id (the Hub dataset repository)")
    return push_release(Path(release), repo_id).summary()


@flow(name="build-humansense", task_runner=ThreadPoolTaskRunner(max_workers=2), log_prints=True)
def build_humansense(out: str = "build", config_file: str | None = None, seed: int | None = None,
                     push: bool = False, repo_id: str | None = None) -> dict:
    """Build the benchmark into `<out>/release` from the configured sources (the embedded sample by default);
    with push=true, upload the release to the Hub dataset `repo_id` (token from HF_TOKEN) when its QC gate passes."""
    logger = get_run_logger()
    config = load_config(Path(config_file) if config_file else None, **({"seed": seed} if seed is not None else {}))
    out_dir, cache = Path(out).resolve(), Path(out).resolve() / "cache"
    work, clips_dir, keys = cache / "work", cache / "clips", str(cache / "prefect-keys")

    enabled = config.sources.enabled()
    sample_names = sorted(n for n, c in enabled.items() if c.root is None)
    roots = {n: str(c.root) for n, c in enabled.items() if c.root is not None}
    if sample_names:
        logger.info("sources from the embedded sample: %s", ", ".join(sample_names))
        roots |= prepare_sample(str(cache / "sample"), sample_names)

    parse = parse_source_task.with_options(cache_policy=CacheKeyFnPolicy(cache_key_fn=_parse_cache_key)
                                           .configure(key_storage=keys))
    parse_futures, annotated = {}, {}
    for name, source_config in enabled.items():
        if adapter_class(name).evidence_kinds:  # items made from annotations: run the annotators first
            evidence = work / "evidence" / name
            annotated[name] = annotate_source_task(name, source_config, roots[name], str(evidence), config, str(cache))
            source_config = source_config.model_copy(update={"evidence_dir": str(evidence)})
        done = (work / "parsed" / name / "drafts.jsonl").exists()  # lost outputs are recomputed, not trusted
        parse_futures[name] = parse.with_options(refresh_cache=not done).submit(
            name, source_config, roots[name], config.seed, str(work))
    parsed = {name: f.result() for name, f in parse_futures.items()}
    draft_files = [s["drafts"] for s in parsed.values()]

    plan = plan_media_task(draft_files, str(work), config.media)
    cut = cut_clips_task.with_options(cache_policy=CacheKeyFnPolicy(cache_key_fn=_batch_cache_key)
                                      .configure(key_storage=keys))
    cut_futures = [cut.with_options(refresh_cache=not batch_done(Path(b), clips_dir)).submit(b, str(clips_dir))
                   for b in plan["batches"]]
    media_tasks = {"total": len(cut_futures), "cached": 0, "clips_cut": 0, "clips_reused": 0, "clips_failed": 0}
    with Progress(transient=True) as progress:
        bar = progress.add_task("cutting clips", total=len(cut_futures))
        for future in as_completed(cut_futures):
            counts = future.result()
            if future.state.name == "Cached":  # a cached result replays its first run's counts: nothing was cut now
                counts = {"cut": 0, "reused": counts["cut"] + counts["reused"], "failed": counts["failed"]}
                media_tasks["cached"] += 1
            for k in ("cut", "reused", "failed"):
                media_tasks[f"clips_{k}"] += counts[k]
            progress.advance(bar)
    logger.info("media tasks: %d of %d cached", media_tasks["cached"], media_tasks["total"])

    made = make_items_task(draft_files, plan["clip_of"], str(clips_dir), config, str(work), str(out_dir / "qc"))
    quarantine_files = [s["quarantine"] for s in parsed.values()] + [plan["quarantine"], made["quarantine"]]
    report = publish_release_task(str(out_dir), made, quarantine_files, str(clips_dir), config, parsed,
                                  media_tasks, sample_names, annotated)
    if push:
        report["push"] = push_release_task(str(out_dir / "release"), repo_id)
    return report


def with_runner(flow_fn, runner: str = "threads", dask_address: str | None = None, workers: int = 2):
    """The flow with another task runner: 'threads' (default) or 'dask' (a LocalCluster, or `dask_address`)."""
    if runner == "threads":
        return flow_fn
    if runner != "dask":
        raise ValueError(f"unknown task runner {runner!r}: use 'threads' or 'dask'")
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError:
        raise ImportError("the dask runner needs prefect-dask: pip install 'humansense-build[dask]'") from None
    if dask_address:
        return flow_fn.with_options(task_runner=DaskTaskRunner(address=dask_address))
    return flow_fn.with_options(task_runner=DaskTaskRunner(
        cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "dashboard_address": ":0"}))
