"""`humansense sources`: fetch, scan and check the source datasets."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated, Optional

import typer

from humansense.cli.common import config_or_exit, console

app = typer.Typer(help="Inspect source datasets.", no_args_is_help=True)


@app.command("fetch")
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


@app.command("scan")
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
        console.print(f"[red]{folder} is not a folder[/red]")
        raise typer.Exit(2)
    found = scan(folder)
    for name, hit in found.items():
        media = ", ".join(f"{k}: {v['files']}" for k, v in hit.media.items()) or "-"
        console.print(f"[green]{name}[/green] at {hit.root}: {hit.file_count} annotation files "
                          f"({', '.join(hit.summary()['splits'])}); media {media}", highlight=False, soft_wrap=True)
    missing = [n for n in SourcesConfig.model_fields if n not in found]
    if missing:
        console.print(f"not found: {', '.join(missing)}", highlight=False)
    if write is not None:
        write_text_atomic(write, config_text(found, list(SourcesConfig.model_fields)))
        config_or_exit(write)  # what was written must load
        console.print(f"config written to {write}; next: humansense sources check --config {write}",
                          highlight=False, soft_wrap=True)
    typer.echo(json.dumps({"sources": {n: h.summary() for n, h in found.items()}, "not_found": missing}, indent=2,
                          ensure_ascii=False))
    if not found:
        raise typer.Exit(1)


@app.command("check")
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

    cfg = config_or_exit(config)
    names = [source] if source else list(cfg.sources.enabled())
    if root is not None and len(names) != 1:
        console.print("[red]--root needs --source[/red]")
        raise typer.Exit(2)
    summaries = {}
    scratch = tempfile.TemporaryDirectory(prefix="humansense-check-")
    for name in names:
        try:
            adapter_cls = adapter_class(name)
        except KeyError as e:
            console.print(f"[red]{e.args[0]}[/red]")
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
            console.print(f"[red]error[/red] {name}: {line}", highlight=False, soft_wrap=True)
        for line in s["warnings"]:
            console.print(f"[yellow]warning[/yellow] {name}: {line}", highlight=False, soft_wrap=True)
    scratch.cleanup()
    out = summaries[names[0]] if source else {"sources": summaries, "errors": errors, "warnings": warnings}
    typer.echo(json.dumps(out, indent=2, ensure_ascii=False))
    if errors or (strict and warnings):
        raise typer.Exit(1)

