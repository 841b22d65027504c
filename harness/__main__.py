"""`python -m harness` is the porttest CLI."""

from harness.cli import main

raise SystemExit(main())
