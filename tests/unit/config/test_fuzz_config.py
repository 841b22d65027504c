"""Hypothesis-generated matrices: whatever the structure, types, unicode or sizes, the result is a Matrix or a
ConfigError with located issues (exit 2); never another exception, never a traceback from the CLI."""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from porttest.cli.main import main
from porttest.config import parse_matrix
from porttest.errors import ConfigError

KEYS = ["version", "image", "suites", "environments", "run", "engine", "tls", "host", "ship", "wait_for", "extends",
        "read_only", "mem_limit", "user", "cap_drop", "port", "timeout", "secrets", "allow_privileged", "ref",
        "build", "digest", "ca_cert", "verify", "privileged", "command", "environment", "ci", "runs_on"]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
    st.sampled_from(["${HOME}", "${NOPE:-x}", "${UNSET_VAR}", "$$", "256m", "tcp://h:1", "sha256:" + "a" * 64]),
)
keys = st.one_of(st.sampled_from(KEYS), st.text(min_size=1, max_size=12))
documents = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=5)), max_leaves=25)
matrix_like = st.fixed_dictionaries(
    {"version": st.one_of(st.just(1), scalars), "image": st.one_of(st.just("busybox"), documents),
     "suites": st.one_of(st.just(["."]), documents)},
    optional={"environments": st.dictionaries(keys, documents, max_size=4), "secrets": documents,
              "allow_privileged": documents},
)


def _check(text: str, tmp: Path) -> None:
    try:
        parse_matrix(text, tmp / "matrix.yaml", {"HOME": "/root"})
    except ConfigError as exc:
        assert exc.exit_code == 2 and exc.issues
        for issue in exc.issues:
            assert issue.message


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=matrix_like)
def test_random_matrices_never_raise_anything_but_config_error(doc: object, tmp_path: Path) -> None:
    _check(yaml.safe_dump(doc, allow_unicode=True), tmp_path)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=300))
def test_random_text_never_raises_anything_but_config_error(text: str, tmp_path: Path) -> None:
    _check(text, tmp_path)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=matrix_like)
def test_cli_validate_exits_0_or_2_without_traceback(doc: object, tmp_path: Path) -> None:
    path = tmp_path / "matrix.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["validate", str(path)])
    assert code in (0, 2)
    assert "Traceback" not in err.getvalue()
    if code == 2:
        assert err.getvalue().startswith("porttest: error:")
