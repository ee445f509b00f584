"""`humansense qc`: the review app, the QC report and the Label Studio round trip."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from humansense.cli.common import config_or_exit, console, print_table

app = typer.Typer(help="Quality control: review the sample, report, Label Studio.", no_args_is_help=True)


def _sample_items(out: Path):
    from humansense.io import read_jsonl
    from humansense.qc.store import SAMPLE_FILE
    from humansense.schema import Item

    path = out / "qc" / SAMPLE_FILE
    if not path.exists():
        console.print(f"[red]no QC sample at {path}: run `humansense build --out {out}` first[/red]")
        raise typer.Exit(2)
    return list(read_jsonl(path, Item))


@app.command("serve")
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


@app.command("report")
def qc_report_cmd(
    out: Annotated[Path, typer.Option("--out", help="Build folder.")] = Path("build"),
    min_pass_rate: Annotated[Optional[float], typer.Option("--min-pass-rate", help="Gate threshold.")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="TOML config (its [qc] gate settings).")] = None,
) -> None:
    """Pass rates, reject reasons and agreement per task; writes OUT/qc/report.json. Exit 1 if the gate fails."""
    from humansense.io import write_json
    from humansense.qc.review import qc_report
    from humansense.qc.store import REVIEWS_FILE, ReviewStore

    qc = config_or_exit(config).qc
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
    print_table(table)
    for problem in report["problems"]:
        console.print(f"[yellow]{problem}[/yellow]")
    console.print("[green]gate passed[/green]: rebuild to apply the verdicts, then push" if report["passed"]
                  else "[red]gate not passed[/red]")
    raise typer.Exit(0 if report["passed"] else 1)


@app.command("export-labelstudio")
def qc_export_labelstudio(out: Annotated[Path, typer.Option("--out", help="Build folder.")] = Path("build")) -> None:
    """Write the QC sample as Label Studio tasks plus its labelling config into OUT/qc/."""
    from humansense.qc.labelstudio import write_export

    tasks, config = write_export(_sample_items(out), out / "qc")
    typer.echo(json.dumps({"tasks": str(tasks), "config": str(config)}))


@app.command("labelstudio-push")
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


@app.command("labelstudio-pull")
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


@app.command("import-labelstudio")
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

