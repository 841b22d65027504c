"""A "why?" line about the CPU says which environment ran under emulation, and the run.platform behind it."""

from __future__ import annotations

from typing import Any

from porttest.results.facts import describe, fact_of
from porttest.results.model import EnvironmentResult, ImageIdentity, RunResult, TestRecord, assemble


def _env(name: str, outcome: str, arch: str, emulated: bool, run: dict[str, Any],
         platform: str = "linux/arm64") -> EnvironmentResult:
    return EnvironmentResult(name=name, status="ok", facts={"arch": arch, "emulated": emulated, "user": {"uid": 0}},
                             run=run, platform=platform,
                             tests=(TestRecord(id="t.py::test_helper", outcome=outcome, message="assert False"),))


def test_the_arch_line_names_the_emulated_environment_and_its_platform_setting() -> None:
    result = assemble(ImageIdentity(ref="shop/api:1", id="sha256:1"), {
        "local": _env("local", "passed", "x86_64", False, {}, "linux/amd64"),
        "arm64": _env("arm64", "failed", "aarch64", True, {"platform": "linux/arm64"}),
    })
    (row,) = result.tests
    assert row.explanation == ("arm64: aarch64 (emulated); local: x86_64 [run.platform: local -, arm64 linux/arm64]",)


def test_the_same_cpu_native_and_emulated_are_told_apart() -> None:
    result = assemble(ImageIdentity(ref="shop/api:1", id="sha256:1"), {
        "graviton": _env("graviton", "passed", "aarch64", False, {}),
        "laptop": _env("laptop", "failed", "aarch64", True, {}),
    })
    assert result.tests[0].explanation == ("laptop: aarch64 (emulated); graviton: aarch64",)


def test_arch_reads_as_the_machine_name() -> None:
    assert fact_of("arch", {"arch": "aarch64", "emulated": True}) == "aarch64 (emulated)"
    assert fact_of("arch", {"arch": "x86_64", "emulated": False}) == "x86_64"
    assert fact_of("arch", {"emulated": True}) is None
    assert describe("arch", "x86_64") == "x86_64"


def test_the_platform_is_kept_in_the_results_json() -> None:
    result = assemble(ImageIdentity(ref="shop/api:1", id="sha256:1"),
                      {"arm64": _env("arm64", "passed", "aarch64", True, {"platform": "linux/arm64"})})
    again = RunResult.model_validate_json(result.to_json())
    assert again.environments["arm64"].platform == "linux/arm64"
    assert again.environments["arm64"].facts["emulated"] is True
