"""`humansense release`: push a release to the Hub, and what changed against another."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from humansense.cli.common import console

app = typer.Typer(help="Publish releases.", no_args_is_help=True)


@app.command("push")
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


@app.command("diff")
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

