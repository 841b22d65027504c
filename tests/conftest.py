"""Shared test configuration for porttest's own tests."""

# Suites under fixtures/ are run BY porttest inside containers, never collected by porttest's own test run
# (testinfra's `host` fixture would point them at this machine).
collect_ignore = ["fixtures"]
