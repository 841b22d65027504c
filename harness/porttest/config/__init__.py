"""Pure configuration: matrix.yaml text in, frozen models out, with located errors."""

from porttest.config.loader import deep_merge, parse_matrix, read_matrix
from porttest.config.models import (
    BuildSpec,
    EngineSpec,
    Environment,
    ImageSpec,
    Matrix,
    ServiceSpec,
    SSHSpec,
    TLSSpec,
    WaitFor,
)
from porttest.config.run_options import RunOptions

__all__ = [
    "BuildSpec", "EngineSpec", "Environment", "ImageSpec", "Matrix", "RunOptions", "SSHSpec", "ServiceSpec", "TLSSpec",
    "WaitFor",
    "deep_merge", "parse_matrix", "read_matrix",
]
