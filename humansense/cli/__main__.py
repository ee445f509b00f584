"""`python -m humansense.cli`: the command line, as the console script runs it."""

from humansense.cli import app

app()
