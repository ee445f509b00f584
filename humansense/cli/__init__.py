"""The `humansense` command line: one module per command group (`build` with `deploy`, `sources`, `annotate`,
`qc`, `release`, `media`, `config`, `score`), assembled here into `app`, the console script's entry point. The
commands load what they run when they run, so that `--help` and a refused config answer at once."""

from __future__ import annotations

import typer

from humansense.cli import annotate, build, config, media, qc, release, score, sources

app = typer.Typer(help="Rebuild the HumanSense benchmark from its public sources.", no_args_is_help=True,
                  add_completion=False)
app.add_typer(sources.app, name="sources")
app.add_typer(build.deploy_app, name="deploy")
app.add_typer(release.app, name="release")
app.add_typer(qc.app, name="qc")
app.add_typer(config.app, name="config")
app.add_typer(media.app, name="media")
app.command()(build.build)
app.command()(score.score)
app.command()(annotate.annotate)
