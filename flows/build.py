"""The `build-humansense` flow, one task (or task family) per stage, in the data's order:

    [fetch (YouTube sources with a manifest or channel)] -> annotate (sources made from annotations: only the
    records needed, in shards, each a task) -> parse (per source) -> select
    -> plan media -> cut (per batch) -> augment -> audit -> QC sample -> publish [-> push]

Wiring only: each task calls one stage function from its stage folder and passes file paths, not item lists. Every
stage but QC (whose reviews change between builds) and publish is keyed by what decides its output, the key computed
by its stage module before it runs (annotation checksums, adapter code, config, seed; for select, plan media,
augment and audit the keys of the outputs they read; for clips, each clip's content key) and its output stored under
that key in `<out>/cache`, so a rebuild where nothing changed skips every stage's work and one changed record redoes
only the work downstream of it. Select runs before any clip is cut, so only the clips the release needs are cut.
The annotate stage keys itself (`annotators/stage.py`) and its shards leave markers, so a killed build resumes there.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE, CacheKeyFnPolicy
from prefect.futures import as_completed
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.settings import PREFECT_RESULTS_LOCAL_STORAGE_PATH, PREFECT_TASKS_REFRESH_CACHE
from rich.progress import Progress

from humansense import sample
from humansense.annotators.shards import Shard, run_shard
from humansense.annotators.stage import annotate_source
from humansense.augment.audit import AUDIT, audit_stage
from humansense.augment.build import AUGMENT, augment_stage
from humansense.clips.stage import PLAN_MEDIA, cut_batch, done_batch_counts, plan_media
from humansense.cache_guard import refuse_unsafe_results
from humansense.config import BuildConfig, check_sample_use, load_config
from humansense.ids import digest
from humansense.keyed import output_folder
from humansense.layout import BuildLayout
from humansense.lock import build_lock
from humansense.stages import AuditReport, KeyedStage, StageReports
from humansense.machine import detect, plan_workers
from humansense.terminal import stage
from humansense.qc.review import qc_stage
from humansense.release.artifacts import run_artifacts
from humansense.release.hub import push_release
from humansense.selection.select import SELECT, select_stage
from humansense.release.stage import publish
from humansense.sources import adapter_class
from humansense.sources.fetch import fetch_source
from humansense.sources.stage import parse_key, parse_source, parsed_folder


# Keys include the output folder: results name files inside it, so two build folders never share a cached result.
def _parse_cache_key(context, params) -> str:
    # Sources made from annotations are keyed when their parse runs, after the annotate stage wrote its manifest.
    evidence = Path(params["evidence"]) if params.get("evidence") else None
    key = params["key"] or parse_key(params["name"], params["config"], Path(params["root"]), params["seed"], evidence)
    return f"parse-{params['name']}-{digest(key, params['work'])}"


def _stage_cache_key(context, params) -> str:
    # The output folder is named by the stage's key and lies inside the build folder.
    return f"{context.task.name}-{digest(params['folder'])}"


@task(name="prepare-sample")
def prepare_sample(dest: str, names: list[str]) -> dict[str, str]:
    return {k: str(v) for k, v in sample.materialize(Path(dest), names).items()}


@task(name="fetch-source")  # never cached: every run asks what is new
def fetch_source_task(name: str, fetch, root: str, quarantine: str) -> dict:
    return fetch_source(name, fetch, Path(root), Path(quarantine))


@task(name="annotate-shard", cache_policy=NO_CACHE, task_run_name="annotate {shard.source} {shard.step.name}")
def annotate_shard_task(shard: Shard) -> dict:
    return run_shard(shard)  # a finished shard's marker makes a rerun skip it


def _run_shards(shards: list[Shard]) -> list[dict]:
    """Each shard a task on the flow's task runner, all of a round's at once; a shard whose engines the config puts
    on a GPU asks a Dask cluster for a worker with the `GPU` resource (`dask worker --resources GPU=1`)."""
    futures = []
    for shard in shards:
        resources = shard_resources(shard)
        if resources:
            import dask

            with dask.annotate(resources=resources):
                futures.append(annotate_shard_task.submit(shard))
        else:
            futures.append(annotate_shard_task.submit(shard))
    return [f.result() for f in futures]


@task(name="parse-source", persist_result=True, result_serializer="json")
def parse_source_task(name: str, config, root: str, seed: int, work: str, key: str, evidence: str | None = None) -> dict:
    return parse_source(name, config, Path(root), seed, Path(work), key, Path(evidence) if evidence else None)


@task(name="select", persist_result=True, result_serializer="json")
def select_task(draft_files: list[str], config: BuildConfig, folder: str) -> dict:
    return select_stage([Path(f) for f in draft_files], config.split, config.seed, Path(folder))


@task(name="plan-media", persist_result=True, result_serializer="json")
def plan_media_task(draft_files: list[str], selection: str, batches: str, media, folder: str) -> dict:
    return plan_media([Path(p) for p in draft_files], Path(selection), Path(folder), Path(batches), media)


@task(name="cut-clips")
def cut_clips_task(batch: str, clips_dir: str) -> dict:
    return cut_batch(Path(batch), Path(clips_dir))


@task(name="augment", persist_result=True, result_serializer="json")
def augment_task(draft_files: list[str], clip_of: str, clips_dir: str, selection: str, config: BuildConfig,
                 ledger: str, folder: str) -> dict:
    return augment_stage([Path(f) for f in draft_files], Path(clip_of), Path(clips_dir), Path(selection), config.seed,
                         config.augment, Path(folder), Path(ledger))


@task(name="audit", persist_result=True, result_serializer="json")
def audit_task(items: str, config: BuildConfig, cache: str, folder: str) -> dict:
    return audit_stage(Path(items), config, Path(folder), Path(cache))


@task(name="qc-sample")
def qc_task(items: str, config: BuildConfig, qc_dir: str, items_out: str, quarantine_out: str) -> dict:
    return qc_stage(Path(items), config.qc, config.seed, Path(qc_dir), Path(items_out), Path(quarantine_out))


@task(name="publish-release")
def publish_release_task(release: str, items: str, quarantine_files: list[str], clips_dir: str, config: BuildConfig,
                         stages: StageReports, clip_specs: str) -> dict:
    return publish(Path(release), Path(items), [Path(f) for f in quarantine_files], Path(clips_dir), config, stages,
                   Path(clip_specs))


@task(name="report-artifacts")
def report_artifacts_task(report: dict, audit_csv: str | None) -> list[str]:
    """The run's report as Prefect artifacts (tables and a summary), shown on the run's page in the UI."""
    keys = []
    for artifact in run_artifacts(report, audit_csv):
        if artifact.table is not None:
            create_table_artifact(artifact.table, key=artifact.key, description=artifact.description)
        else:
            create_markdown_artifact(artifact.markdown, key=artifact.key, description=artifact.description)
        keys.append(artifact.key)
    return keys


@task(name="push-release")
def push_release_task(release: str, repo_id: str | None) -> dict:
    if not repo_id:
        raise ValueError("push=true needs repo_id (the Hub dataset repository)")
    return push_release(Path(release), repo_id).summary()


def _cut_all(batches: list[str], clips_dir: Path) -> dict:
    # Clips are cached on disk by their content key: a batch whose every clip is there is counted, not run (a task
    # run per batch costs more than reading its clips' records); the others run side by side on the task runner.
    refresh = PREFECT_TASKS_REFRESH_CACHE.value()
    media_tasks = {"total": len(batches), "cached": 0, "clips_cut": 0, "clips_reused": 0, "clips_failed": 0,
                   "clips_transient": 0}
    futures = []
    for b in batches:
        counts = None if refresh else done_batch_counts(Path(b), clips_dir)
        if counts is None:
            futures.append(cut_clips_task.submit(b, str(clips_dir)))
            continue
        media_tasks["cached"] += 1
        for k in ("reused", "failed"):
            media_tasks[f"clips_{k}"] += counts[k]
    with Progress(transient=True) as progress:
        bar = progress.add_task("cutting clips", total=len(futures))
        for future in as_completed(futures):
            for k, n in future.result().items():
                media_tasks[f"clips_{k}"] += n
            progress.advance(bar)
    return media_tasks


@flow(name="build-humansense", task_runner=ThreadPoolTaskRunner(max_workers=2), log_prints=True)
def build_humansense(out: str = "build", config_file: str | None = None, seed: int | None = None,
                     push: bool = False, repo_id: str | None = None) -> dict:
    """Build the benchmark into `<out>/release` from the configured sources (the embedded sample by default);
    with push=true, upload the release to the Hub dataset `repo_id` (token from HF_TOKEN) when its QC gate passes."""
    with build_lock(Path(out)):  # one build per folder; a second is refused, a dead holder frees it
        return _build(out, config_file, seed, push, repo_id)


def _build(out: str, config_file: str | None, seed: int | None, push: bool, repo_id: str | None) -> dict:
    logger = get_run_logger()
    refresh = PREFECT_TASKS_REFRESH_CACHE.value()  # the documented way to force every task to run again
    config = load_config(Path(config_file) if config_file else None, **({"seed": seed} if seed is not None else {}))
    at = BuildLayout.at(out)
    refused = refuse_unsafe_results(at.keys, Path(PREFECT_RESULTS_LOCAL_STORAGE_PATH.value()))
    if refused:
        logger.warning("%d cached results were not JSON records and are computed again (moved to %s)",
                       len(refused), refused[0].parent)

    enabled = config.sources.enabled()
    sample_names = check_sample_use(config)  # refuses real sources mixed with the synthetic sample
    roots = {n: str(c.root) for n, c in enabled.items() if c.root is not None}
    if sample_names:
        logger.info("sources from the embedded sample: %s", ", ".join(sample_names))
        roots |= prepare_sample(str(at.sample), sample_names)

    fetching = {n: c.fetch for n, c in enabled.items() if getattr(c, "fetch", None) and c.fetch.configured()}
    fetched = {}
    if fetching:
        with stage("fetch", ", ".join(fetching)):
            fetched = {n: fetch_source_task(n, f, roots[n], str(at.fetch_quarantine(n)))
                       for n, f in fetching.items()}

    parse = parse_source_task.with_options(cache_policy=CacheKeyFnPolicy(cache_key_fn=_parse_cache_key)
                                           .configure(key_storage=str(at.keys)))
    annotated_names = [name for name in enabled if adapter_class(name).evidence_kinds]  # made from annotations
    parse_futures: dict = {}

    def submit_parse(name: str, source_config, predicted: bool, evidence: Path | None = None) -> None:
        # For annotated sources the parse keys itself when it runs, after the annotate stage wrote its manifest; a
        # missing output for the key is recomputed, never trusted.
        key = parse_key(name, source_config, Path(roots[name]), config.seed, evidence)
        done = (parsed_folder(at.work, name, key) / "drafts.jsonl").exists()
        parse_futures[name] = parse.with_options(refresh_cache=not done or refresh).submit(
            name, source_config, roots[name], config.seed, str(at.work), key if predicted else None,
            str(evidence) if evidence else None)

    with stage("annotate + parse", f"{len(enabled)} sources"):
        for name in (n for n in enabled if n not in annotated_names):
            submit_parse(name, enabled[name], predicted=True)
        def annotate_then_parse(name: str) -> dict:
            counts = annotate_source(adapter_class(name), enabled[name], Path(roots[name]), at.evidence(name), config,
                                     Path(config.annotators.cache_dir or at.annotations), _run_shards, refresh)
            submit_parse(name, enabled[name], predicted=False, evidence=at.evidence(name))
            return counts

        # Each annotated source's rounds are driven here, side by side (a thread each, in the flow's context); their
        # shards run on the task runner, and a source's parse starts once its annotation is done.
        with ThreadPoolExecutor(max_workers=max(1, len(annotated_names))) as drivers:
            driving = {name: drivers.submit(copy_context().run, annotate_then_parse, name) for name in annotated_names}
            annotated = {name: f.result() for name, f in driving.items()}
        parsed = {name: parse_futures[name].result() for name in enabled}
        annotation_tasks = {"total": len(annotated), "cached": sum(bool(a.get("cached")) for a in annotated.values())}
        draft_files = [s["drafts"] for s in parsed.values()]

    stage_runs: dict[str, str] = {}  # select, plan media, augment, audit: "ran" or "cached"

    def keyed(keyed_stage: KeyedStage, stage_task, key: str, *args, done_with: tuple = ()) -> dict:
        """Run a keyed stage into its folder for `key` (passed last); an output missing on disk is made again."""
        folder = output_folder(at.work, keyed_stage.folder, key)
        done = keyed_stage.done(folder, *done_with)
        state = stage_task.with_options(cache_policy=CacheKeyFnPolicy(cache_key_fn=_stage_cache_key)
                                        .configure(key_storage=str(at.keys)), refresh_cache=not done or refresh)(
            *args, str(folder), return_state=True)
        cached = state.name == "Cached"
        stage_runs[keyed_stage.name] = "cached" if cached else "ran"
        return keyed_stage.reused(state.result()) if cached else state.result()

    draft_paths = [Path(f) for f in draft_files]
    with stage("select"):
        selected = keyed(SELECT, select_task, SELECT.key(draft_paths, config.split, config.seed), draft_files, config)
    with stage("plan media"):
        plan = keyed(PLAN_MEDIA, plan_media_task, PLAN_MEDIA.key(draft_paths, Path(selected["selection"]), config.media),
                     draft_files, selected["selection"], str(at.batches), config.media)
    with stage("cut clips", f"{len(plan['batches'])} batches"):
        media_tasks = _cut_all(plan["batches"], at.clips)
    logger.info("media tasks: %d of %d cached", media_tasks["cached"], media_tasks["total"])

    with stage("augment"):
        key = AUGMENT.key(draft_paths, Path(plan["clip_of"]), at.clips, Path(selected["selection"]), config.seed,
                          config.augment)
        augmented = keyed(AUGMENT, augment_task, key, draft_files, plan["clip_of"], str(at.clips),
                          selected["selection"], config, str(at.ledger), done_with=(at.ledger,))
    with stage("bias audit"):
        audited = keyed(AUDIT, audit_task, AUDIT.key(Path(augmented["items"]), config), augmented["items"], config,
                        str(config.annotators.cache_dir or at.annotations))
    with stage("QC sample"):
        reviewed = qc_task(augmented["items"], config, str(at.qc), str(at.items), str(at.qc_quarantine))
    quarantine_files = [s["quarantine"] for s in [*fetched.values(), *parsed.values()]] + [
        selected["quarantine"], plan["quarantine"], augmented["quarantine"], reviewed["quarantine"]]
    selection = {k: v for k, v in selected.items() if k not in {"selection", "quarantine"}}
    stages = StageReports(sources=parsed, selection=selection, letters=augmented["letters"], media_tasks=media_tasks,
                          audit=AuditReport(**audited), qc=reviewed["qc"], annotations=annotated,
                          annotation_tasks=annotation_tasks, sample_sources=sample_names, fetch=fetched,
                          stage_runs=stage_runs)
    with stage("publish"):
        report = publish_release_task(str(at.release), reviewed["items"], quarantine_files, str(at.clips), config,
                                      stages, augmented["clip_specs"])
    report_artifacts_task(report, next((f for f in stages.audit.files if f.endswith(".csv")), None))
    if push:
        report["push"] = push_release_task(str(at.release), repo_id)
    return report


def with_runner(flow_fn, runner: str = "threads", dask_address: str | None = None, workers: int = 2,
                gpu_devices: tuple[str, ...] = ()):
    """The flow with another task runner: 'threads' (the flow's own: one process), 'processes' (Prefect's process
    pool of `workers`: annotation shards, parsing and cutting in parallel; each worker imports the package once) or
    'dask' (`dask_address`, a LocalCluster of `workers`, or, with `gpu_devices`, a local cluster with one worker
    pinned to each GPU and the rest on the CPU: `pinned_cluster`)."""
    if runner == "threads":
        return flow_fn
    if runner == "processes":
        from prefect.task_runners import ProcessPoolTaskRunner

        return flow_fn.with_options(task_runner=ProcessPoolTaskRunner(max_workers=workers))
    if runner != "dask":
        raise ValueError(f"unknown task runner {runner!r}: use 'threads', 'processes' or 'dask'")
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError:
        raise ImportError("the dask runner needs prefect-dask: pip install 'humansense-build[dask]'") from None
    if dask_address:
        return flow_fn.with_options(task_runner=DaskTaskRunner(address=dask_address))
    if gpu_devices:
        return flow_fn.with_options(task_runner=DaskTaskRunner(
            cluster_class=pinned_cluster,
            cluster_kwargs={"gpu_devices": list(gpu_devices), "cpu_workers": workers - len(gpu_devices)}))
    return flow_fn.with_options(task_runner=DaskTaskRunner(
        cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "dashboard_address": ":0"}))


def plan_runner(runner: str, workers: int | None, config: BuildConfig, dask_address: str | None = None):
    """The runner a build uses and why: 'auto' sizes worker processes to this machine (humansense/machine.py), a
    pinned Dask cluster when it has GPUs, the flow's own threads when one worker is all it allows. Returns
    (runner, workers, GPU devices, the plan's reason for the log)."""
    if runner == "threads" or dask_address:
        return runner, workers or 1, (), None
    threads = max(config.annotators.asr.cpu_threads, config.annotators.llm.local_threads)
    plan = plan_workers(detect(), threads, requested=workers or config.annotators.workers,
                        use_gpus=runner in ("auto", "dask"))
    if runner == "auto":
        runner = "dask" if plan.gpu_devices else "processes" if plan.workers > 1 else "threads"
    return runner, plan.workers, plan.gpu_devices if runner == "dask" else (), plan.reason


def _on_pinned_cluster() -> bool:
    """Whether this flow run's task runner is a cluster `with_runner` pinned to this machine's GPUs."""
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    return getattr(getattr(context, "task_runner", None), "cluster_class", None) is pinned_cluster


def shard_resources(shard: Shard, pinned: bool | None = None) -> dict | None:
    """The Dask resources a shard asks for: a GPU when its config puts an engine on one outright (a worker started
    with `--resources GPU=1`); on a pinned local cluster, a GPU also for an engine on 'auto', and a CPU worker for
    the rest, so that GPU workers wait for GPU work."""
    pinned = _on_pinned_cluster() if pinned is None else pinned
    if shard.needs_gpu or (pinned and shard.can_use_gpu):
        return {"GPU": 1}
    return {"CPU": 1} if pinned else None


def cluster_spec(gpu_devices: list[str], cpu_workers: int) -> dict:
    """Dask worker specs: one nanny per GPU, its process seeing that GPU alone (`CUDA_VISIBLE_DEVICES`, as Dask's
    CUDA clusters do), and `cpu_workers` seeing none (so that an engine on 'auto' stays on the CPU there)."""
    from distributed import Nanny

    workers = {f"gpu-{dev}": {"cls": Nanny, "options": {
        "nthreads": 1, "env": {"CUDA_VISIBLE_DEVICES": dev},
        "resources": {"GPU": 1} if cpu_workers else {"GPU": 1, "CPU": 1}}} for dev in gpu_devices}
    workers |= {f"cpu-{k}": {"cls": Nanny, "options": {"nthreads": 1, "env": {"CUDA_VISIBLE_DEVICES": ""},
                                                        "resources": {"CPU": 1}}} for k in range(cpu_workers)}
    return workers


def pinned_cluster(gpu_devices: list[str], cpu_workers: int, asynchronous: bool = False):
    from distributed import Scheduler, SpecCluster

    return SpecCluster(workers=cluster_spec(gpu_devices, cpu_workers), asynchronous=asynchronous,
                       scheduler={"cls": Scheduler, "options": {"dashboard_address": ":0"}})
