"""Shared test configuration: make the repository root importable (tests.lab) for every test session."""
