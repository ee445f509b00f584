"""`humansense config`: the effective build configuration."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Annotated, Optional

import typer

from humansense.cli.common import config_or_exit
from humansense.config import explain_config

app = typer.Typer(help="The build configuration.", no_args_is_help=True)


@app.command("show")
def config_show(
    config: Annotated[Optional[Path], typer.Option("--config", help="TOML config (default: none, the sample).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON: {key: {value, origin}}.")] = False,
) -> None:
    """Print the effective config: every key, its value and where it came from (default, file, environment)."""
    config_or_exit(config)  # says what is wrong, and which keys moved, once
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        rows = explain_config(config)
    if as_json:
        typer.echo(json.dumps({k: {"value": v, "origin": o} for k, v, o in rows}, indent=2, default=str))
        return
    for key, value, origin in rows:
        typer.echo(f"{key} = {json.dumps(value, default=str, ensure_ascii=False)}  # {origin}")

