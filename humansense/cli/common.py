"""What every command group shares: one console for messages (stderr: stdout carries a command's JSON or table),
the config loaded or refused with one line per problem, and the build folder's Prefect settings."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from humansense.config import ConfigError, check_sample_use, load_config

console = Console(stderr=True)


def print_table(table: Table, min_width: int = 0) -> None:
    """A command's result table, on stdout (at least `min_width` wide, so that scores keep every digit)."""
    Console(width=max(console.width, min_width) if min_width else None).print(table)


def config_or_exit(path: Path | None, for_build: bool = False, **overrides):
    """The validated config, or one line per problem and exit code 2, before anything starts. `for_build`: also
    refuse a mix of real sources and the embedded sample. A key that moved is said in one line, as errors are."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", FutureWarning)
            config = load_config(path, **overrides)
        for warning in caught:
            if str(warning.message).startswith("config: "):
                console.print(f"[yellow]config warning:[/yellow] {escape(str(warning.message)[8:])}", highlight=False,
                              soft_wrap=True)
            else:
                warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
        if for_build:
            check_sample_use(config)
        return config
    except ConfigError as e:
        for problem in e.problems:
            console.print(f"[red]config error:[/red] {problem}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


def prefect_env(out: Path) -> None:
    """Keep Prefect's cached results inside the build folder (they decide whether a rebuild can skip work)."""
    os.environ.setdefault("PREFECT_RESULTS_LOCAL_STORAGE_PATH", str(out.resolve() / "cache" / "prefect-results"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    # A temporary server on a new database migrates it first: on a busy two-core machine that outran Prefect's 20 s.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


def check_writable(out: Path) -> None:
    """A build folder that cannot be written (read-only, full, not ours) is refused before anything starts."""
    probe = out / f".write-probe-{os.getpid()}"
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"x")
        probe.unlink()
    except OSError as e:
        console.print(f"[red]build refused:[/red] cannot write to {out}: {e.strerror or e}", highlight=False)
        raise typer.Exit(1) from None

