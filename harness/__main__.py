"""`python -m harness` is the porttest CLI."""

from harness.cli import entry

entry()
