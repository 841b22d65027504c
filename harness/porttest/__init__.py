"""porttest: run one container image in many environments with the same testinfra suites, and compare."""

__version__ = "0.1.0"

__all__ = ["__version__"]
