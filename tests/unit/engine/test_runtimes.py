"""Runtimes and platforms without an engine: the runtime check, error translation, kernel facts in explanations."""

from __future__ import annotations

import pytest

from porttest.config.run_options import RunOptions
from porttest.engine.connect import EngineInfo
from porttest.engine.runtimes import check_runtime, platform_mismatch, refusal_hint, runtime_missing
from porttest.errors import EXIT_ENVIRONMENT, ContainerError
from porttest.results.facts import describe, parse_facts, quoted_keys
from porttest.results.model import EnvironmentResult, TestRecord, line_up

DOCKER_RUNTIMES = ("io.containerd.runc.v2", "io.containerd.runtime.v1.linux", "runc")
ENDPOINT = "unix:///var/run/docker.sock"


def info(runtimes: tuple[str, ...] = DOCKER_RUNTIMES, arch: str = "x86_64") -> EngineInfo:
    return EngineInfo(id="X", name="vm", kind="docker", version="20.10.24", api_version="1.41", os="Debian",
                      os_type="linux", arch=arch, kernel="6.1.0", cgroup_version="1", runtimes=runtimes,
                      default_runtime="runc")


@pytest.mark.parametrize("runtime", [None, "runc", "io.containerd.runc.v2"])
def test_offered_or_unset_runtime_passes(runtime: str | None) -> None:
    check_runtime(info(), ENDPOINT, runtime)


def test_engine_that_lists_no_runtimes_is_left_to_answer_at_create() -> None:
    check_runtime(info(runtimes=()), ENDPOINT, "runsc")


def test_missing_runtime_names_the_offered_ones_and_exits_4() -> None:
    with pytest.raises(ContainerError) as caught:
        check_runtime(info(), ENDPOINT, "nosuch")
    error = caught.value
    assert error.exit_code == EXIT_ENVIRONMENT
    assert "'nosuch'" in error.message and ENDPOINT in error.message
    assert "it offers: io.containerd.runc.v2, io.containerd.runtime.v1.linux, runc" in error.message
    assert error.hint is not None and "set run.runtime to one of: io.containerd.runc.v2" in error.hint
    assert "daemon.json" in error.hint


def test_missing_runsc_hint_says_how_to_install_gvisor() -> None:
    with pytest.raises(ContainerError) as caught:
        check_runtime(info(), ENDPOINT, "runsc")
    assert caught.value.hint is not None
    assert "apt-get install runsc" in caught.value.hint and '"runsc": {"path": "/usr/bin/runsc"}' in caught.value.hint


def test_engine_refusal_about_the_runtime_is_translated() -> None:
    error = runtime_missing(info(), ENDPOINT, "nosuch", "Unknown runtime specified nosuch")
    assert error is not None
    assert "it offers: io.containerd.runc.v2" in error.message
    assert "the engine said: Unknown runtime specified nosuch" in error.message


def test_engine_refusal_about_something_else_is_not_a_runtime_error() -> None:
    assert runtime_missing(info(), ENDPOINT, "runc", "conflict: name already in use") is None
    assert runtime_missing(info(), ENDPOINT, None, "Unknown runtime specified x") is None


DOCKER_404 = ("image with reference sha256:de42ccfa82bb was found but does not match the specified platform: "
              "wanted linux/arm64, actual: linux/amd64")


def test_platform_mismatch_names_both_platforms_and_what_to_do() -> None:
    error = platform_mismatch(DOCKER_404, "linux/arm64", info(), "sha256:de42ccfa82bb" + "0" * 52)
    assert error is not None and error.exit_code == EXIT_ENVIRONMENT
    assert error.message == "run.platform asks for linux/arm64, but the image de42ccfa82bb is linux/amd64"
    assert error.hint is not None
    assert "this engine runs linux/amd64" in error.hint and "--platform linux/arm64" in error.hint


def test_an_unparsed_mismatch_keeps_the_engines_words() -> None:
    said = "image was found but does not match the specified platform"
    error = platform_mismatch(said, "linux/riscv64", info(arch="aarch64"))
    assert error is not None and said in error.message
    assert "this engine runs linux/arm64" in (error.hint or "")


def test_platform_the_engine_does_not_know_gets_the_format() -> None:
    error = platform_mismatch('"bogus": unknown operating system or architecture: invalid argument', "bogus", info())
    assert error is not None
    assert "'bogus'" in error.message and "os/arch" in (error.hint or "")


@pytest.mark.parametrize(("said", "asked"), [
    (DOCKER_404, None),  # no run.platform: the 404 is about something else
    ("No such image: sha256:abc", "linux/arm64"),
])
def test_other_refusals_are_not_platform_errors(said: str, asked: str | None) -> None:
    assert platform_mismatch(said, asked, info()) is None


def test_platform_and_runtime_reach_container_create() -> None:
    kwargs = RunOptions(platform="linux/arm64", runtime="runsc").sdk_kwargs()
    assert kwargs == {"platform": "linux/arm64", "runtime": "runsc"}


RUNC_PROBE = "uid=0\nkernel=6.1.0-18-amd64\nproc_version=Linux version 6.1.0-18-amd64 (debian-kernel@lists)\n"
GVISOR_PROBE = "uid=0\nkernel=4.4.0\nproc_version=Linux version 4.4.0 #1 SMP Sun Jan 10 15:06:54 PST 2016\n"


def facts(probe: str, runtime: str) -> dict[str, object]:
    parsed = parse_facts(probe)
    parsed["runtime"]["name"] = runtime
    return parsed


def environments(message: str) -> dict[str, EnvironmentResult]:
    test = "suite/test_kernel.py::test_release"
    return {
        "local": EnvironmentResult(name="local", status="ok", tests=(TestRecord(id=test, outcome="passed"),),
                                   facts=facts(RUNC_PROBE, "runc")),
        "gvisor": EnvironmentResult(name="gvisor", status="ok", facts=facts(GVISOR_PROBE, "runsc"),
                                    tests=(TestRecord(id=test, outcome="failed", message=message),)),
    }


def test_gvisor_is_recognised_from_the_probe() -> None:
    assert parse_facts(GVISOR_PROBE)["runtime"] == {"gvisor": True}
    assert parse_facts(RUNC_PROBE)["runtime"] == {"gvisor": False}


def test_divergence_under_gvisor_is_explained_by_kernel_and_runtime() -> None:
    (row,) = line_up(environments("AssertionError: assert False"))
    assert "gvisor: kernel 4.4.0; local: kernel 6.1.0-18-amd64" in row.explanation
    assert "gvisor: runtime runsc; local: runtime runc" in row.explanation
    assert "gvisor: gVisor; local: not gVisor" in row.explanation


def test_a_message_quoting_the_kernel_puts_the_kernel_first() -> None:
    (row,) = line_up(environments("AssertionError: assert '4.4.0'.startswith('6.')"))
    assert row.explanation[0] == "gvisor: kernel 4.4.0; local: kernel 6.1.0-18-amd64"


def test_a_syscall_refusal_points_at_the_kernel() -> None:
    (row,) = line_up(environments("stat: cannot statx '/tmp': Invalid argument"))
    assert row.explanation[0].startswith("gvisor: kernel 4.4.0")


def test_short_values_are_not_taken_as_quoted() -> None:
    flat = {"gvisor": {"user.uid": 0, "kernel": "4.4.0", "runtime.gvisor": True}}
    assert quoted_keys({"gvisor": "assert 0 == 1 on 4.4.0, True"}, flat) == ["kernel"]


def test_runtime_name_reads_as_a_runtime() -> None:
    assert describe("runtime.name", "runsc") == "runtime runsc"


@pytest.mark.parametrize(("said", "expected"), [
    ('OCI runtime create failed: runc create failed: unable to start container process: exec: "nosuch": '
     "executable file not found in $PATH: unknown", "the image has no such command"),
    ("failed to create shim task: OCI runtime create failed: unable to retrieve OCI runtime error: "
     "fork/exec /nonexistent/porttest-runtime: no such file or directory: unknown",
     "could not start its OCI runtime program"),
    ("OCI runtime create failed: runc create failed: unable to start container process: exec format error",
     "another CPU than this engine's (x86_64)"),
    ("Unknown runtime specified nosuch", "this engine offers the runtimes: io.containerd.runc.v2"),
])
def test_refusal_hints_name_the_likely_cause(said: str, expected: str) -> None:
    assert expected in (refusal_hint(said, info()) or "")


def test_a_refusal_without_a_known_cause_has_no_hint() -> None:
    assert refusal_hint("conflict: the container name is already in use", info()) is None


@pytest.mark.parametrize(("run_user", "image_user", "refusal"), [
    (None, "", "container has runAsNonRoot and image will run as root"),
    (None, "0", "container has runAsNonRoot and image will run as root"),
    (None, "0:1000", "container has runAsNonRoot and image will run as root"),
    (None, "root", "container has runAsNonRoot and image has non-numeric user (root), cannot verify user is non-root"),
    (None, "app:app",
     "container has runAsNonRoot and image has non-numeric user (app), cannot verify user is non-root"),
    (None, "10001", None),
    (None, "10001:0", None),
    ("0", "10001", "container's runAsUser breaks non-root policy"),
    ("0:10001", "10001", "container's runAsUser breaks non-root policy"),
    ("10001:10001", "", None),
    ("nobody", "",
     "container has runAsNonRoot and image has non-numeric user (nobody), cannot verify user is non-root"),
])
def test_run_as_non_root_refuses_as_the_kubelet_does(run_user: str | None, image_user: str,
                                                     refusal: str | None) -> None:
    from porttest.engine.runtimes import non_root_refusal

    assert non_root_refusal(run_user, image_user) == refusal
