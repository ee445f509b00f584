"""`humansense build` and `humansense deploy serve`: a build now, or scheduled builds through a deployment."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from humansense.cli.common import check_writable, config_or_exit, console, prefect_env

from humansense.tasks import TASKS

deploy_app = typer.Typer(help="Scheduled rebuilds through Prefect deployments.", no_args_is_help=True)


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
    cfg = config_or_exit(config, for_build=True, **({"seed": seed} if seed is not None else {}))  # errors before Prefect starts
    check_writable(out)
    prefect_env(out)
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
    cfg = config_or_exit(config)
    prefect_env(out)
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

