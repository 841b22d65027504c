"""`python -m porttest` is the porttest CLI."""

from porttest.cli.main import entry

entry()
