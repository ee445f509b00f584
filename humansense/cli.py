"""The `humansense` command line."""

from __future__ import annotations

import json
import os
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
console = Console(stderr=True)


def _prefect_env(out: Path) -> None:
    """Keep Prefect's cached results inside the build folder (they decide whether a rebuild can skip work)."""
    os.environ.setdefault("PREFECT_RESULTS_LOCAL_STORAGE_PATH", str(out.resolve() / "cache" / "prefect-results"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")


@app.command()
def build(
    out: Annotated[Path, typer.Option("--out", help="Build folder; the release goes to OUT/release.")] = Path("build"),
    config: Annotated[Optional[Path], typer.Option("--config", help="TOML config (default: the embedded sample).")] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Build seed (overrides the config).")] = None,
) -> None:
    """Build the benchmark (on the embedded sample unless a config points at real sources)."""
    _prefect_env(out)
    from humansense.flows.build import build_humansense  # imported late: Prefect reads its settings on import

    report = build_humansense(out=str(out), config_file=str(config) if config else None, seed=seed)
    print_summary(report, out / "release")


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
    console.print(f"QC sample: {report['qc_sampled']} items pending review")
    if report["sample_sources"]:
        console.print(f"[yellow]built from the embedded sample:[/yellow] {', '.join(report['sample_sources'])}")


@sources_app.command("check")
def sources_check(
    source: Annotated[str, typer.Option("--source", help="Source name, e.g. celebvhq, ava, jester.")],
    root: Annotated[Optional[Path], typer.Option("--root", help="Source folder (default: the embedded sample).")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="TOML config for the source's options.")] = None,
) -> None:
    """Parse one source's annotation files (no media decoding) and print a JSON summary."""
    from humansense import sample
    from humansense.config import load_config
    from humansense.sources import adapter_class

    cfg = load_config(config)
    try:
        adapter_cls = adapter_class(source)
    except KeyError as e:
        console.print(f"[red]{e.args[0]}[/red]")
        raise typer.Exit(2) from None
    source_cfg = getattr(cfg.sources, source)
    root = root or source_cfg.root or sample.annotation_root(source)
    if not Path(root).is_dir():
        console.print(f"[red]source root {root} is not a folder[/red]")
        raise typer.Exit(2)
    result = adapter_cls(source_cfg, Path(root), cfg.seed).parse()
    summary = result.summary()
    summary["root"] = str(root)
    typer.echo(json.dumps(summary, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    app()
