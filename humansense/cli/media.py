"""`humansense media`: the clips of reference releases, cut from the user's own copy of the sources."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from humansense.cli.common import config_or_exit, console

app = typer.Typer(help="Media of reference releases.", no_args_is_help=True)


@app.command("materialize")
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

    cfg = config_or_exit(config)
    try:
        with Progress(console=console, transient=True) as progress:
            bar = progress.add_task("materializing clips", total=None)
            result = materialize(release, cfg, workers,
                                 on_clip=lambda total: progress.update(bar, total=total, advance=1))
    except FileNotFoundError as e:
        console.print(f"[red]{e}[/red]", highlight=False)
        raise typer.Exit(2) from None
    summary = result.summary()
    console.print(f"clips cut {summary['cut']}, already present {summary['already_present']}, differ "
                      f"{len(summary['differ'])}, failed {len(summary['failed'])}; {summary['embedded_rows']} rows "
                      f"embedded in {summary['shards_rewritten']} shards", highlight=False)
    if summary["shards_rewritten"]:  # a folder `datasets` loaded before is served from its cache, new files or not
        console.print("datasets caches a release folder it loaded before: load it again with "
                          "load_dataset(..., download_mode=\"force_redownload\")", highlight=False)
    typer.echo(json.dumps(summary, indent=2, ensure_ascii=False))
    if result.failed:
        raise typer.Exit(1)

