"""image.verify: placeholders filled per word without a shell, order, stop at the first failure, timeouts."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from porttest.config.models import VerifyHook
from porttest.run.verify_hooks import expand, run_hooks

VALUES = {"ref": "shop/api:1", "id": "sha256:" + "1" * 64, "digest": None}


def test_placeholders_are_filled_inside_words_and_quotes_respected() -> None:
    argv = expand(VerifyHook(command="cosign verify --key 'my key.pub' img={ref} {id}"), VALUES)
    assert argv == ["cosign", "verify", "--key", "my key.pub", "img=shop/api:1", VALUES["id"]]


def test_a_ref_cannot_inject_a_command() -> None:
    argv = expand(VerifyHook(command="echo {ref}"), {**VALUES, "ref": "x; rm -rf /"})
    assert argv == ["echo", "x; rm -rf /"]


def test_a_placeholder_without_a_value_is_named() -> None:
    with pytest.raises(ValueError, match=r"\{digest\} has no value"):
        expand(VerifyHook(command="cosign verify {digest}"), VALUES)


def test_unbalanced_quotes_are_an_error() -> None:
    with pytest.raises(ValueError, match="cannot split"):
        expand(VerifyHook(command="echo 'open"), VALUES)


def test_hooks_run_in_order_and_stop_at_the_first_failure(tmp_path: Path) -> None:
    hooks = [VerifyHook(command="sh -c 'echo one >> log'"),
             VerifyHook(command="sh -c 'echo bad image; exit 3'", name="scan"),
             VerifyHook(command="touch never")]
    records = run_hooks(hooks, VALUES, tmp_path)
    assert [(r.name, r.passed, r.exit_code) for r in records] == [("verify[0]", True, 0), ("scan", False, 3)]
    assert records[1].output == "bad image"
    assert (tmp_path / "log").read_text() == "one\n" and not (tmp_path / "never").exists()


def test_the_image_is_also_given_in_environment_variables(tmp_path: Path) -> None:
    (record,) = run_hooks([VerifyHook(command="sh -c 'echo $PORTTEST_IMAGE_REF $PORTTEST_IMAGE_ID'")], VALUES,
                          tmp_path)
    assert record.output == f"shop/api:1 {VALUES['id']}"


def test_a_missing_program_and_a_timeout_fail_with_a_reason(tmp_path: Path) -> None:
    (missing,) = run_hooks([VerifyHook(command="no-such-scanner-here {ref}")], VALUES, tmp_path)
    assert not missing.passed and missing.exit_code is None and "cannot start no-such-scanner-here" in missing.error
    began = time.monotonic()
    (slow,) = run_hooks([VerifyHook(command="sh -c 'sleep 30 & sleep 30'", timeout=0.5)], VALUES, tmp_path)
    assert time.monotonic() - began < 10
    assert not slow.passed and "did not finish within 0.5s" in (slow.error or "")


def test_what_a_hook_leaves_running_in_its_group_is_stopped(tmp_path: Path) -> None:
    (record,) = run_hooks([VerifyHook(command="sh -c 'sleep 300 >/dev/null 2>&1 & echo $! > pid'")], VALUES, tmp_path)
    assert record.passed
    pid = int((tmp_path / "pid").read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _running(pid):
        time.sleep(0.05)
    assert not _running(pid)


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
