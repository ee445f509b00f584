"""The `humansense` command line."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from humansense.tasks import TASKS

app = typer.Typer(help="Rebuild the HumanSense benchmark from its public sources.", no_args_is_help=True,
                  add_completion=False)
sources_app = typer.Typer(help="Inspect source datasets.", no_args_is_help=True)
app.add_typer(sources_app, name="sources")
deploy_app = typer.Typer(help="Scheduled rebuilds through Prefect deployments.", no_args_is_help=True)
app.add_typer(deploy_app, name="deploy")
release_app = typer.Typer(help="Publish releases.", no_args_is_help=True)
app.add_typer(release_app, name="release")
qc_app = typer.Typer(help="Quality control: review the sample, report, Label Studio.", no_args_is_help=True)
app.add_typer(qc_app, name="qc")
config_app = typer.Typer(help="The build configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")
media_app = typer.Typer(help="Media of reference releases.", no_args_is_help=True)
app.add_typer(media_app, name="media")
err_console = Console(stderr=True)


def _config(path: Path | None, for_build: bool = False, **overrides):
    """The validated config, or one line per problem and exit code 2, before anything starts. `for_build`: also
    refuse a mix of real sources and the embedded sample."""
    from humansense.config import ConfigError, check_sample_use, load_config

    try:
        config = load_config(path, **overrides)
        if for_build:
            check_sample_use(config)
        return config
    except ConfigError as e:
        for problem in e.problems:
            err_console.print(f"[red]config error:[/red] {problem}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


@media_app.command("materialize")
def media_materialize(
    release: Annotated[Path, typer.Option("--release", help="A reference release (with media_manifest.json).")],
    config: Annotated[Path, typer.Option("--config", help="TOML config whose sources' roots hold your copies.")],
    workers: Annotated[Optional[int], typer.Option("--workers", min=1,
                                                   help="Clips at once (default: [media] workers).")] = None,
) -> None:
    """Cut the clips a reference release leaves out from your own copy of the sources, into the release layout, and
    check each against the release's manifest (duration, frames, decoded content). JSON summary; exit 1 if any
    clip could not be cut, 0 with the differences listed otherwise."""
    from rich.progress import Progress

    from humansense.release.reference import materialize

    cfg = _config(config)
    try:
        with Progress(console=err_console, transient=True) as progress:
            bar = progress.add_task("materializing clips", total=None)
            result = materialize(release, cfg, workers,
                                 on_clip=lambda total: progress.update(bar, total=total, advance=1))
    except FileNotFoundError as e:
        err_console.print(f"[red]{e}[/red]", highlight=False)
        raise typer.Exit(2) from None
    summary = result.summary()
    err_console.print(f"clips cut {summary['cut']}, already present {summary['already_present']}, differ "
                      f"{len(summary['differ'])}, failed {len(summary['failed'])}; {summary['embedded_rows']} rows "
                      f"embedded in {summary['shards_rewritten']} shards", highlight=False)
    if summary["shards_rewritten"]:  # a folder `datasets` loaded before is served from its cache, new files or not
        err_console.print("datasets caches a release folder it loaded before: load it again with "
                          "load_dataset(..., download_mode=\"force_redownload\")", highlight=False)
    typer.echo(json.dumps(summary, indent=2, ensure_ascii=False))
    if result.failed:
        raise typer.Exit(1)


@config_app.command("show")
def config_show(
    config: Annotated[Optional[Path], typer.Option("--config", help="TOML config (default: none, the sample).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON: {key: {value, origin}}.")] = False,
) -> None:
    """Print the effective config: every key, its value and where it came from (default, file, environment)."""
    from humansense.config import explain_config

    _config(config)
    rows = explain_config(config)
    if as_json:
        typer.echo(json.dumps({k: {"value": v, "origin": o} for k, v, o in rows}, indent=2, default=str))
        return
    for key, value, origin in rows:
        typer.echo(f"{key} = {json.dumps(value, default=str, ensure_ascii=False)}  # {origin}")


def _sample_items(out: Path):
    from humansense.io import read_jsonl
    from humansense.qc.store import SAMPLE_FILE
    from humansense.schema import Item

    path = out / "qc" / SAMPLE_FILE
    if not path.exists():
        console.print(f"[red]no QC sample at {path}: run `humansense build --out {out}` first[/red]")
        raise typer.Exit(2)
    return list(read_jsonl(path, Item))


@qc_app.command("serve")
def qc_serve(
    out: Annotated[Path, typer.Option("--out", help="Build folder.")] = Path("build"),
    port: Annotated[int, typer.Option("--port", help="Port.")] = 8765,
    host: Annotated[str, typer.Option("--host", help="Address to listen on (0.0.0.0: a team on the network; the "
                                                     "token is still required).")] = "127.0.0.1",
    allow_host: Annotated[Optional[list[str]], typer.Option("--allow-host", help="Another name the app is reached "
                                                                                 "by (Host header).")] = None,
) -> None:
    """Serve the review app (verdicts go to OUT/qc/reviews.sqlite); open the URL it prints, token included."""
    import secrets
    import socket

    import uvicorn

    from humansense.qc.app import create_app

    _sample_items(out)
    token = secrets.token_urlsafe(24)
    hosts = set(allow_host or [])
    if host not in ("127.0.0.1", "localhost", "::1"):
        hosts |= {socket.gethostname(), socket.getfqdn()} | ({host} if host not in ("0.0.0.0", "::") else set())
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    console.print(f"review app: http://{shown}:{port}/?token={token}", highlight=False, soft_wrap=True)
    uvicorn.run(create_app(out, token=token, hosts=hosts), host=host, port=port, log_level="warning")


@qc_app.command("report")
def qc_report_cmd(
    out: Annotated[Path, typer.Option("--out", help="Build folder.")] = Path("build"),
    min_pass_rate: Annotated[Optional[float], typer.Option("--min-pass-rate", help="Gate threshold.")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="TOML config (its [qc] gate settings).")] = None,
) -> None:
    """Pass rates, reject reasons and agreement per task; writes OUT/qc/report.json. Exit 1 if the gate fails."""
    from humansense.io import write_json
    from humansense.qc.review import qc_report
    from humansense.qc.store import REVIEWS_FILE, ReviewStore

    qc = _config(config).qc
    if min_pass_rate is not None:
        qc = qc.model_copy(update={"min_pass_rate": min_pass_rate})
    report = qc_report(_sample_items(out), ReviewStore(out / "qc" / REVIEWS_FILE), qc)
    write_json(out / "qc" / "report.json", report)
    table = Table(title=f"QC: {report['summary']} (gate per task: {qc.min_reviewed_share:.0%} of the eval sample "
                        f"reviewed, pass rate's lower bound >= {qc.min_pass_rate:.0%} at {qc.confidence:.0%})")
    for col in ("task", "eval sampled", "reviewed", "accepted", "corrected", "rejected", "pass rate",
                "lower bound", "train reviewed", "agreement", "reasons"):
        table.add_column(col)
    for abbr, t in report["tasks"].items():
        agree = t["agreement"]
        table.add_row(abbr, str(t["sampled"]), str(t["reviewed"]), str(t["accepted"]), str(t["corrected"]),
                      str(t["rejected"]), "-" if t["pass_rate"] is None else f"{t['pass_rate']:.0%}",
                      "-" if t["pass_rate_lower"] is None else f"{t['pass_rate_lower']:.0%}",
                      f"{t['train']['reviewed']}/{t['train']['sampled']}",
                      "-" if not agree["items"] else f"{agree['observed']:.0%} (k={agree['kappa']:.2f}, n={agree['items']})",
                      ", ".join(f"{r}: {n}" for r, n in t["reasons"].items()))
    Console().print(table)
    for problem in report["problems"]:
        console.print(f"[yellow]{problem}[/yellow]")
    console.print("[green]gate passed[/green]: rebuild to apply the verdicts, then push" if report["passed"]
                  else "[red]gate not passed[/red]")
    raise typer.Exit(0 if report["passed"] else 1)


@qc_app.command("export-labelstudio")
def qc_export_labelstudio(out: Annotated[Path, typer.Option("--out", help="Build folder.")] = Path("build")) -> None:
    """Write the QC sample as Label Studio tasks plus its labelling config into OUT/qc/."""
    from humansense.qc.labelstudio import write_export

    tasks, config = write_export(_sample_items(out), out / "qc")
    typer.echo(json.dumps({"tasks": str(tasks), "config": str(config)}))


@qc_app.command("labelstudio-push")
def qc_labelstudio_push(
    url: Annotated[str, typer.Option("--url", help="A running Label Studio, e.g. http://127.0.0.1:8080.")],
    out: Annotated[Path, typer.Option("--out", help="Build folder (Label Studio's local-files document root).")]
    = Path("build"),
    title: Annotated[str, typer.Option("--title", help="Project title.")] = "HumanSense QC",
) -> None:
    """Create a Label Studio project from our labelling config, connect the build's release as local-file storage
    and import the QC sample as tasks (API key from LABEL_STUDIO_API_KEY). Prints the project id."""
    from humansense.qc.labelstudio_api import LabelStudio, LabelStudioError

    try:
        with LabelStudio(url) as studio:
            project = studio.create_project(title)
            studio.connect_build(project, out)
            count = studio.import_items(project, _sample_items(out))
    except (LabelStudioError, OSError) as e:
        console.print(f"[red]{e}[/red]")
        raise typer.Exit(1) from None
    typer.echo(json.dumps({"project": project, "tasks": count}))


@qc_app.command("labelstudio-pull")
def qc_labelstudio_pull(
    url: Annotated[str, typer.Option("--url", help="The Label Studio the sample was pushed to.")],
    project: Annotated[int, typer.Option("--project", help="Its project id (from labelstudio-push).")],
    out: Annotated[Path, typer.Option("--out", help="Build folder.")] = Path("build"),
) -> None:
    """Export the project's annotations from Label Studio and store them as verdicts (like import-labelstudio)."""
    from humansense.qc.labelstudio import import_annotations
    from humansense.qc.labelstudio_api import LabelStudio, LabelStudioError
    from humansense.qc.store import REVIEWS_FILE, ReviewStore

    try:
        with LabelStudio(url) as studio:
            export = studio.export(project)
    except (LabelStudioError, OSError) as e:
        console.print(f"[red]{e}[/red]")
        raise typer.Exit(1) from None
    stored, problems = import_annotations(export, ReviewStore(out / "qc" / REVIEWS_FILE))
    typer.echo(json.dumps({"stored": stored, "problems": problems}, indent=2))
    raise typer.Exit(1 if problems else 0)


@qc_app.command("import-labelstudio")
def qc_import_labelstudio(
    export: Annotated[Path, typer.Argument(help="Label Studio's JSON export.")],
    out: Annotated[Path, typer.Option("--out", help="Build folder.")] = Path("build"),
) -> None:
    """Store the annotations of a Label Studio JSON export as verdicts."""
    from humansense.qc.labelstudio import import_annotations
    from humansense.qc.store import REVIEWS_FILE, ReviewStore

    stored, problems = import_annotations(json.loads(export.read_text(encoding="utf-8")),
                                          ReviewStore(out / "qc" / REVIEWS_FILE))
    typer.echo(json.dumps({"stored": stored, "problems": problems}, indent=2))
    raise typer.Exit(1 if problems else 0)
console = Console(stderr=True)


def _prefect_env(out: Path) -> None:
    """Keep Prefect's cached results inside the build folder (they decide whether a rebuild can skip work)."""
    os.environ.setdefault("PREFECT_RESULTS_LOCAL_STORAGE_PATH", str(out.resolve() / "cache" / "prefect-results"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    # A temporary server on a new database migrates it first: on a busy two-core machine that outran Prefect's 20 s.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


def _check_writable(out: Path) -> None:
    """A build folder that cannot be written (read-only, full, not ours) is refused before anything starts."""
    probe = out / f".write-probe-{os.getpid()}"
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"x")
        probe.unlink()
    except OSError as e:
        console.print(f"[red]build refused:[/red] cannot write to {out}: {e.strerror or e}", highlight=False)
        raise typer.Exit(1) from None


@app.command()
def build(
    out: Annotated[Path, typer.Option("--out", help="Build folder; the release goes to OUT/release.")] = Path("build"),
    config: Annotated[Optional[Path], typer.Option("--config", help="TOML config (default: the embedded sample).")] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Build seed (overrides the config).")] = None,
    runner: Annotated[str, typer.Option("--runner", help="Task runner: 'auto' (worker processes sized to this "
                                        "machine's CPUs, memory and GPUs), 'threads' (one process), 'processes' or "
                                        "'dask'.")] = "auto",
    dask_address: Annotated[Optional[str], typer.Option("--dask-address",
                                                        help="Scheduler of a running Dask cluster.")] = None,
    workers: Annotated[Optional[int], typer.Option("--workers", min=1, help="Worker processes for 'auto', "
                                                   "'processes' and a LocalCluster (default: sized to the "
                                                   "machine; [annotators] workers).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="Engine and Prefect output on the terminal too "
                                                            "(else in OUT/logs/build.log).")] = False,
) -> None:
    """Build the benchmark (on the embedded sample unless a config points at real sources)."""
    cfg = _config(config, for_build=True, **({"seed": seed} if seed is not None else {}))  # errors before Prefect starts
    _check_writable(out)
    _prefect_env(out)
    from humansense.terminal import quiet_terminal

    log_file = out / "logs" / "build.log"
    if not os.environ.get("PREFECT_API_URL"):
        console.print("Prefect keeps the build's task states and caches behind an API; with no PREFECT_API_URL it "
                      "runs a temporary local server for this build and its workers on this machine (a few seconds; "
                      "point PREFECT_API_URL at a running server to skip it).", highlight=False)
    failure = None
    with quiet_terminal(log_file, verbose):  # stage lines go to the terminal it keeps
        from humansense.augment.audit import BiasAuditError
        from humansense.flows.build import build_humansense, plan_runner, with_runner  # late: Prefect reads settings
        from humansense.lock import BuildLocked
        from humansense.prefect_api import shared_temporary_api
        from humansense.release.shortfall import ShortfallError

        runner, workers, gpu_devices, why = plan_runner(runner, workers, cfg, dask_address)
        if why:
            from humansense.terminal import STAGES

            STAGES.info("runner %s, %s", runner, why)
        flow = with_runner(build_humansense, runner, dask_address, workers, gpu_devices)
        try:
            with shared_temporary_api(runner, dask_address):  # one server for the build and its workers
                report = flow(out=str(out), config_file=str(config) if config else None, seed=seed)
        except (ShortfallError, BiasAuditError) as e:
            failure = f"[red]build failed, nothing published:[/red] {e}"
        except BuildLocked as e:
            failure = f"[red]build refused:[/red] {e}"
        except Exception as e:  # the traceback is in the log; the terminal gets one line and where to look
            failure = f"[red]build failed:[/red] {type(e).__name__}: {e}"
            if not verbose:
                import traceback

                print(traceback.format_exc(), file=sys.stderr)  # into the log
    if failure:
        console.print(failure, highlight=False, soft_wrap=True)
        if not verbose:
            console.print(f"engine and Prefect logs: {log_file}", highlight=False)
        raise typer.Exit(1)
    print_summary(report, out / "release")
    if not verbose:
        console.print(f"engine and Prefect logs: {log_file}", highlight=False)


@deploy_app.command("serve")
def deploy_serve(
    name: Annotated[str, typer.Option("--name", help="Deployment name: build-humansense/NAME.")] = "nightly",
    cron: Annotated[Optional[str], typer.Option("--cron", help="Schedule, e.g. '0 3 * * *'.")] = None,
    out: Annotated[Path, typer.Option("--out", help="Build folder of every run.")] = Path("build"),
    config: Annotated[Optional[Path], typer.Option("--config", help="TOML config of every run.")] = None,
    push: Annotated[bool, typer.Option("--push/--no-push", help="Push each release to the Hub.")] = False,
    repo_id: Annotated[Optional[str], typer.Option("--repo-id", help="Hub dataset repo for --push.")] = None,
    runner: Annotated[str, typer.Option("--runner", help="Task runner of every run (as for build).")] = "auto",
    workers: Annotated[Optional[int], typer.Option("--workers", min=1, help="Worker processes of every run "
                                                   "(default: sized to this machine; [annotators] workers).")] = None,
) -> None:
    """Register the build-humansense/NAME deployment and serve its runs until interrupted. The runs use this
    machine's workers as `build` does, sized when the deployment is served."""
    cfg = _config(config)
    _prefect_env(out)
    from humansense.flows.build import plan_runner
    from humansense.flows.deploy import serve

    runner, workers, gpu_devices, why = plan_runner(runner, workers, cfg)
    if why:
        console.print(f"runs use runner {runner}, {why}", highlight=False)
    serve(name, cron, str(out.resolve()), str(config.resolve()) if config else None, push, repo_id,
          runner=runner, workers=workers, gpu_devices=gpu_devices)


def print_summary(report: dict, release: Path) -> None:
    table = Table(title=f"HumanSense build -> {release}")
    for col in ("task", "level", "items", "target"):
        table.add_column(col, justify="right" if col in {"items", "target"} else "left")
    for abbr, spec in TASKS.items():
        n = report["items_per_task"].get(abbr, 0)
        table.add_row(f"{abbr} {spec.name}", spec.level, str(n) if n else "[dim]0[/dim]", str(spec.target))
    table.add_row("[b]all[/b]", "", f"[b]{report['items']}[/b]", str(sum(t.target for t in TASKS.values())))
    console.print(table)
    if report["quarantined_by_reason"]:
        q = Table(title=f"Quarantined records: {report['quarantined']} (see {release / 'quarantine.jsonl'})")
        q.add_column("stage: reason")
        q.add_column("records", justify="right")
        for reason, n in report["quarantined_by_reason"].items():
            q.add_row(reason, str(n))
        console.print(q)
    m = report["media_tasks"]
    console.print(f"media tasks: {m['cached']} of {m['total']} cached; clips cut {m['clips_cut']}, "
                  f"reused {m['clips_reused']}, failed {m['clips_failed']}")
    if report.get("stage_runs"):
        cached = [name for name, run in report["stage_runs"].items() if run == "cached"]
        console.print(f"stages reused unchanged: {', '.join(cached) or 'none'} "
                      f"({len(cached)} of {len(report['stage_runs'])})")
    console.print(f"QC sample: {report['qc_sampled']} items pending review")
    if report["sample_sources"]:
        console.print(f"[yellow]built from the embedded sample:[/yellow] {', '.join(report['sample_sources'])}")


@app.command()
def score(
    predictions: Annotated[Path, typer.Argument(help="The authors' result file (their JSON with the model's outputs), "
                                                     "or JSONL of {id, output}.")],
    release: Annotated[Optional[Path], typer.Option(
        "--release", help="Release folder whose eval split JSONL predictions answer (default build/release); "
                          "the authors' result files carry their answers and need none.")] = None,
    model: Annotated[Optional[str], typer.Option(
        "--model", help="Key of the model's outputs (the authors' evaluation writes them under the model's name); "
                        "found without it when each record has one such key.")] = None,
    save: Annotated[Optional[Path], typer.Option(
        "--save", help="Also write the strict scores as the authors' scorer saves them (task_type -> total, "
                       "correct, accuracy; and all).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the scores as JSON.")] = False,
) -> None:
    """Accuracy per task, question-weighted all, levels, Avg. (13 video tasks) and Avg.* (all 15): strict (the
    authors' rules) and lenient."""
    from humansense.release.score import authors_stats, load_questions, score_questions

    try:
        questions, read = load_questions(predictions, release or Path("build/release"), model)
    except (ValueError, FileNotFoundError) as e:
        console.print(f"[red]{e}[/red]", soft_wrap=True)
        raise typer.Exit(2) from None
    result = score_questions(questions) | read
    if save is not None:
        save.write_text(json.dumps(authors_stats(result), indent=4))
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    source = f"model {read['model']!r}" if read["model"] else "outputs"
    table = Table(title=f"{source} in {predictions.name}: strict = the authors' rules, lenient = ours")
    for col in ("task", "task_type", "questions", "left out", "strict", "lenient"):
        table.add_column(col, justify="left" if col.startswith("task") else "right")
    fmt = lambda x: "-" if x is None else repr(x)  # noqa: E731 - every digit, as the authors' scorer saves them
    for name, r in result["tasks"].items():
        table.add_row(name, r["task_type"], str(r["questions"]), str(r["left_out"]), fmt(r["strict"]),
                      fmt(r["lenient"]))
    for key in ("all", "L1", "L2", "L3", "L4", "Avg.", "Avg.*"):
        table.add_row(f"[b]{key}[/b]", "", "", "", fmt(result["summary"]["strict"][key]),
                      fmt(result["summary"]["lenient"][key]))
    Console(width=max(console.width, 120)).print(table)
    console.print(f"Avg. = mean of the {result['video_tasks']} video tasks' accuracies, Avg.* of all tasks "
                  f"(unweighted); all = question-weighted; left out = empty or missing outputs (strict only; "
                  f"lenient counts them wrong)")
    if result["skipped"]:
        console.print("skipped as the authors' scorer does: "
                      + ", ".join(f"{k} ({v})" for k, v in result["skipped"].items()))
    if result["tasks_missing"]:
        console.print(f"tasks absent: {', '.join(result['tasks_missing'])} (averages use the rest)")
    if result["unknown_ids"]:
        console.print(f"[yellow]{len(result['unknown_ids'])} predictions match no eval question[/yellow]")


class AnnotatorKind(str, __import__("enum").Enum):
    ocr = "ocr"
    asr = "asr"
    emotion = "emotion"
    llm = "llm"
    tts = "tts"


@app.command()
def annotate(
    kind: Annotated[AnnotatorKind, typer.Argument(help="Which annotator.")],
    input: Annotated[Path, typer.Argument(help="A media file (asr); a text file (llm: the prompt; tts: lines "
                                               "'SPEAKER: text').")],
    start: Annotated[Optional[float], typer.Option("--start", help="Span start, seconds.")] = None,
    end: Annotated[Optional[float], typer.Option("--end", help="Span end, seconds.")] = None,
    engine: Annotated[Optional[str], typer.Option("--engine", help="Engine (default: the configured one).")] = None,
    phone_band: Annotated[bool, typer.Option("--phone-band", help="tts: telephone-band audio.")] = False,
    region: Annotated[str, typer.Option("--region", help="emotion: whose face: left, right or any.")] = "any",
    config: Annotated[Optional[Path], typer.Option("--config", help="TOML config.")] = None,
    cache_dir: Annotated[Path, typer.Option("--cache-dir", help="Annotation cache.")] = Path("build/cache/annotations"),
) -> None:
    """Run one annotator on one file or span and print its typed result as JSON, with the cache hit or miss."""
    from humansense.annotators.base import AnnotationCache

    cfg = _config(config).annotators
    cache = AnnotationCache(cache_dir)
    if not input.exists():
        console.print(f"[red]{input} does not exist[/red]")
        raise typer.Exit(2)
    from humansense.annotators import engines

    if kind is AnnotatorKind.asr:
        from humansense.annotators.asr import transcribe

        result = transcribe(input, engines.asr_engine(cfg, engine), cache, start=start, end=end)
    elif kind is AnnotatorKind.emotion:
        from humansense.annotators.emotion import read_emotion

        result = read_emotion(input, engines.emotion_engine(cfg), cache, region=region, fps=cfg.emotion.fps,
                              start=start, end=end)
    elif kind is AnnotatorKind.ocr:
        from humansense.annotators.ocr import read_captions

        result = read_captions(input, engines.ocr_engine(cfg), cache, fps=cfg.ocr.fps, start=start, end=end,
                               dup_threshold=cfg.ocr.dup_threshold)
    elif kind is AnnotatorKind.tts:
        from humansense.annotators.tts import speak_dialogue

        turns = []
        for line in input.read_text(encoding="utf-8", errors="replace").splitlines():
            speaker, sep, text = line.partition(":")
            turns.append((int(speaker), text) if sep and speaker.strip().isdigit() else (0, line))
        result = speak_dialogue(turns, engines.tts_engine(cfg), cache, phone_band=phone_band)
    else:
        from pydantic import BaseModel

        class Answer(BaseModel):
            answer: str

        prompt = input.read_text(encoding="utf-8", errors="replace")
        from humansense.annotators.registry import llm_client

        with llm_client(cfg, cache) as client:
            result = client.structured(prompt, Answer)
    typer.echo(json.dumps({"cache": "hit" if cache.hits else "miss", "result": result.model_dump(mode="json")},
                          indent=2, ensure_ascii=False))


@release_app.command("push")
def release_push(
    repo_id: Annotated[str, typer.Option("--repo-id", help="Hub dataset repository, e.g. org/HumanSense-rebuilt.")],
    release: Annotated[Path, typer.Option("--release", help="Release folder.")] = Path("build/release"),
    private: Annotated[bool, typer.Option("--private/--public", help="Visibility if the repo is created.")] = True,
    pr: Annotated[bool, typer.Option("--pr", help="Open a pull request instead of committing to main.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be added, changed, deleted.")] = False,
    allow_unreviewed: Annotated[bool, typer.Option("--allow-unreviewed",
                                                   help="Push although the QC gate has not passed.")] = False,
    allow_sample: Annotated[bool, typer.Option("--allow-sample", help="Push a release built (partly) from the "
                                                                      "embedded synthetic sample.")] = False,
    endpoint: Annotated[Optional[str], typer.Option("--endpoint", envvar="HF_ENDPOINT", help="Hub URL.")] = None,
    piece_bytes: Annotated[Optional[int], typer.Option("--piece-bytes", min=1, help="Bytes uploaded per commit at "
                                                       "most (default 2 GB; a larger file goes alone).")] = None,
) -> None:
    """Upload what changed (token from HF_TOKEN), in commits of bounded size, the card last; a rerun after an
    interruption uploads only what is missing. Tags the result `build-<date>-<key>`. Refused while the QC gate has
    not passed."""
    from humansense.release.hub import PushRefused, push_release

    try:
        plan = push_release(release, repo_id, private=private, create_pr=pr, dry_run=dry_run,
                            allow_unreviewed=allow_unreviewed, allow_sample=allow_sample, endpoint=endpoint,
                            max_piece_bytes=piece_bytes)
    except PushRefused as e:
        console.print(f"[red]{e}[/red]")
        raise typer.Exit(1) from None
    typer.echo(json.dumps({"dry_run": dry_run, **plan.summary()}, indent=2))


@release_app.command("diff")
def release_diff_command(
    old: Annotated[str, typer.Argument(help="The previous release: a folder or hf://owner/name[@revision].")],
    new: Annotated[Path, typer.Argument(help="The new release folder.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole diff (every item) as JSON.")] = False,
    endpoint: Annotated[Optional[str], typer.Option("--endpoint", envvar="HF_ENDPOINT", help="Hub URL.")] = None,
) -> None:
    """What NEW changed against OLD: items added, removed and changed per task and split, with the reasons."""
    import tempfile

    from humansense.release.diff import HUB_PREFIX, diff_items, fetch_hub_release, release_items

    with tempfile.TemporaryDirectory() as scratch:
        try:
            folder = fetch_hub_release(old, Path(scratch), endpoint=endpoint) if old.startswith(HUB_PREFIX) else Path(old)
            old_items, _ = release_items(folder)
            new_items, new_quarantine = release_items(new)
        except (FileNotFoundError, OSError) as e:
            console.print(f"[red]{e}[/red]")
            raise typer.Exit(1) from None
    diff = diff_items(old_items, new_items, new_quarantine, old).to_json()
    if as_json:
        typer.echo(json.dumps(diff, indent=1, ensure_ascii=False))
        return
    table = Table(title=diff["summary"])
    for col in ("task/split", "added", "removed", "changed"):
        table.add_column(col, justify="left" if col == "task/split" else "right")
    for key, counts in diff["per_task"].items():
        table.add_row(key, *(str(counts[k]) for k in ("added", "removed", "changed")))
    console.print(table)
    for kind, reasons in diff["reasons"].items():
        for reason, n in reasons.items():
            console.print(f"{kind}: {reason}: {n}")


@sources_app.command("fetch")
def sources_fetch(
    out: Annotated[Path, typer.Option("--out", help="Download folder (kept across rebuilds).")],
    manifest: Annotated[Optional[Path], typer.Option("--manifest", help="CSV with header url,start,end.")] = None,
    url: Annotated[Optional[list[str]], typer.Option("--url", help="A channel, playlist or page URL: every video it "
                                                                   "lists (repeatable).")] = None,
    sleep_s: Annotated[float, typer.Option("--sleep", help="Seconds between downloads.")] = 2.0,
) -> None:
    """Download what is new (yt-dlp, once each) and print the statuses as JSON; videos no longer listed are marked
    withdrawn in status.json (the build leaves them out). A build does the same as its first stage when
    `sources.skindeep.fetch` is configured."""
    from humansense.config import FetchConfig
    from humansense.sources.fetch import fetch_source, read_statuses

    if manifest is None and not url:
        console.print("[red]give --manifest FILE and/or --url URL[/red]")
        raise typer.Exit(2)
    summary = fetch_source("skindeep", FetchConfig(manifest=manifest, urls=url or [], sleep_s=sleep_s), out,
                           out / "fetch_quarantine.jsonl")
    typer.echo(json.dumps({**{k: v for k, v in summary.items() if k != "quarantine"},
                           "videos": [s.model_dump(exclude={"info"}) for s in read_statuses(out)]},
                          indent=2, ensure_ascii=False))


@sources_app.command("scan")
def sources_scan(
    folder: Annotated[Path, typer.Argument(help="A folder of downloads (searched 4 levels deep).")],
    write: Annotated[Optional[Path], typer.Option("--write", help="Write a TOML config reading every file found.")]
    = None,
) -> None:
    """Find which sources' published files are under FOLDER: per source its root, annotation files and splits, media
    folder and media count (JSON); --write FILE makes the config a build reads them with."""
    from humansense.config import SourcesConfig
    from humansense.io import write_text_atomic
    from humansense.sources.scan import config_text, scan

    if not folder.is_dir():
        err_console.print(f"[red]{folder} is not a folder[/red]")
        raise typer.Exit(2)
    found = scan(folder)
    for name, hit in found.items():
        media = ", ".join(f"{k}: {v['files']}" for k, v in hit.media.items()) or "-"
        err_console.print(f"[green]{name}[/green] at {hit.root}: {hit.file_count} annotation files "
                          f"({', '.join(hit.summary()['splits'])}); media {media}", highlight=False, soft_wrap=True)
    missing = [n for n in SourcesConfig.model_fields if n not in found]
    if missing:
        err_console.print(f"not found: {', '.join(missing)}", highlight=False)
    if write is not None:
        write_text_atomic(write, config_text(found, list(SourcesConfig.model_fields)))
        _config(write)  # what was written must load
        err_console.print(f"config written to {write}; next: humansense sources check --config {write}",
                          highlight=False, soft_wrap=True)
    typer.echo(json.dumps({"sources": {n: h.summary() for n, h in found.items()}, "not_found": missing}, indent=2,
                          ensure_ascii=False))
    if not found:
        raise typer.Exit(1)


@sources_app.command("check")
def sources_check(
    source: Annotated[Optional[str], typer.Option("--source", help="One source (default: every enabled source).")] = None,
    root: Annotated[Optional[Path], typer.Option("--root", help="Source folder (default: the config's, else the "
                                                                "embedded sample).")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="TOML config for the sources' options.")] = None,
    media: Annotated[bool, typer.Option("--media/--no-media", help="Probe every draft's media (ffprobe, once per "
                                                                   "file).")] = True,
    strict: Annotated[bool, typer.Option("--strict", help="Warnings fail too.")] = False,
) -> None:
    """Check what a build will touch, short of decoding: annotation files (read, unread, missing), records, media
    (present, readable, long enough). JSON on stdout; exit 1 on errors (or on warnings with --strict)."""
    from humansense import sample
    from humansense.sources import adapter_class
    from humansense.sources.check import check_source

    cfg = _config(config)
    names = [source] if source else list(cfg.sources.enabled())
    if root is not None and len(names) != 1:
        err_console.print("[red]--root needs --source[/red]")
        raise typer.Exit(2)
    summaries = {}
    scratch = tempfile.TemporaryDirectory(prefix="humansense-check-")
    for name in names:
        try:
            adapter_cls = adapter_class(name)
        except KeyError as e:
            err_console.print(f"[red]{e.args[0]}[/red]")
            raise typer.Exit(2) from None
        source_cfg = getattr(cfg.sources, name)
        folder = root or source_cfg.root
        if folder is None:  # the embedded sample, with the media the build would synthesise for it
            folder = sample.materialize(Path(scratch.name), [name])[name]
        if not Path(folder).is_dir():
            summaries[name] = {"source": name, "root": str(folder), "errors": [f"source root {folder} is not a folder"],
                               "warnings": []}
            continue
        summary = check_source(adapter_cls(source_cfg, Path(folder), cfg.seed), media=media,
                               timeout_s=cfg.media.timeout_s)
        summary["root"] = str(folder)
        if adapter_cls.evidence_kinds:  # checked without the annotators: only the build's annotate step makes items
            summary["note"] = (f"{name} makes its items from annotations ({', '.join(adapter_cls.evidence_kinds)}) "
                               "that only `humansense build` runs; records quarantined here for missing evidence "
                               "('not spoken', 'no transcript', ...) are expected, the others are real problems")
        summaries[name] = summary
    errors = sum(len(s["errors"]) for s in summaries.values())
    warnings = sum(len(s["warnings"]) for s in summaries.values())
    for name, s in summaries.items():
        for line in s["errors"]:
            err_console.print(f"[red]error[/red] {name}: {line}", highlight=False, soft_wrap=True)
        for line in s["warnings"]:
            err_console.print(f"[yellow]warning[/yellow] {name}: {line}", highlight=False, soft_wrap=True)
    scratch.cleanup()
    out = summaries[names[0]] if source else {"sources": summaries, "errors": errors, "warnings": warnings}
    typer.echo(json.dumps(out, indent=2, ensure_ascii=False))
    if errors or (strict and warnings):
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
