"""porttest: run one container image in many environments with the same testinfra suites, and compare."""

from harness import deferred_imports

# Before any harness module imports the Docker SDK, which imports paramiko for ssh:// engines whether or not any
# environment uses one; harness.ssh_transport loads it when one does.
deferred_imports.defer("paramiko")

__version__ = "0.1.0"

__all__ = ["__version__"]
