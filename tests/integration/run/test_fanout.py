"""CI fan-out as GitHub Actions does it: plan, one process per environment, merge == one run of the whole matrix."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.conftest import SLEEPER, porttest, write


def test_fanout_then_merge_equals_a_single_run(tmp_path: Path, base_images: dict[str, str]) -> None:
    write(tmp_path, "suites/test_planted.py", '''
        def test_same_everywhere(host):
            assert host.run("true").rc == 0

        def test_rootfs_writable(host):
            assert host.run("touch /var/x").rc == 0

        def test_fails_everywhere(host):
            assert host.run("false").rc == 0
    ''')
    write(tmp_path, "matrix.yaml", f"""
        version: 1
        image: {base_images["busybox"]}
        suites: [suites]
        environments:
          local: {{run: {{command: {SLEEPER}}}}}
          staging: {{run: {{command: {SLEEPER}, read_only: true}}, ci: {{runs_on: [self-hosted, staging]}}}}
          other: {{run: {{command: {SLEEPER}, cap_drop: [ALL]}}}}
    """)
    planned = porttest("plan", "matrix.yaml", "--format", "github", cwd=tmp_path)
    assert planned.rc == 0, planned.explain()
    cells = json.loads(planned.stdout)["include"]
    assert [c["environment"] for c in cells] == ["local", "staging", "other"]
    assert cells[1]["runs-on"] == ["self-hosted", "staging"] and cells[0]["runs-on"] == "ubuntu-latest"

    parts = []
    for cell in cells:
        env = cell["environment"]
        ran = porttest("run", "matrix.yaml", "-e", env, "--json", f"results-{env}.json", cwd=tmp_path)
        assert ran.rc in (0, 1), ran.explain()
        parts.append(f"results-{env}.json")
    merged = porttest("merge", *parts, "--json", "merged.json", "--markdown", "summary.md", cwd=tmp_path)
    single = porttest("run", "matrix.yaml", "--json", "single.json", cwd=tmp_path)

    assert merged.rc == single.rc == 3, (merged.explain(), single.explain())
    merged_data = json.loads((tmp_path / "merged.json").read_text())
    single_data = json.loads((tmp_path / "single.json").read_text())
    assert merged_data["verdict"] == single_data["verdict"] == "diverged"

    def outcomes(data: dict) -> dict[str, dict[str, str]]:  # type: ignore[type-arg]
        return {t["id"]: t["outcomes"] for t in data["tests"]}

    assert outcomes(merged_data) == outcomes(single_data)
    assert outcomes(merged_data)["suites/test_planted.py::test_rootfs_writable"] == {
        "local": "passed", "staging": "failed", "other": "passed"}
    assert "test_rootfs_writable" in (tmp_path / "summary.md").read_text()
