"""The README's demo matrix and the divergence example, on the real engine and the TLS lab engine."""

from __future__ import annotations

from tests.integration.conftest import REPO, porttest
from tests.lab.tls_engine import TLSEngine


def test_demo_matrix_gives_parity_in_three_environments(tls_engine: TLSEngine, base_images: dict[str, str]) -> None:
    ran = porttest("run", "matrix.yaml", "--json", str(REPO / "results-demo-test.json"),
                   env={"BASE_IMAGE": base_images["debian"], **tls_engine.env()})
    try:
        assert ran.rc == 0, ran.explain()
        res = ran.results
        assert res and res["verdict"] == "parity"
        assert set(res["environments"]) == {"local", "staging", "cloud"}
        assert {e["image_id"] for e in res["environments"].values()} == {res["image"]["id"]}
        assert res["environments"]["cloud"]["ship"]["mode"] in ("load", "present")
        assert len(res["tests"]) >= 15 and all(t["same"] for t in res["tests"])
    finally:
        (REPO / "results-demo-test.json").unlink(missing_ok=True)


def test_divergence_example_exits_3_naming_the_tests(base_images: dict[str, str], tmp_path) -> None:  # type: ignore[no-untyped-def]
    ran = porttest("run", "examples/divergence/matrix.yaml", "--json", str(tmp_path / "r.json"),
                   env={"BASE_IMAGE": base_images["debian"]})
    assert ran.rc == 3, ran.explain()
    assert ran.outcomes("test_can_write_cache_under_var_tmp") == {"local": "passed", "staging": "failed"}
    assert ran.outcomes("test_can_hold_300mb_in_memory") == {"local": "passed", "staging": "failed"}
    assert ran.row("test_can_write_tmp")["same"] is True
    assert "Read-only file system" in ran.row("test_can_write_cache_under_var_tmp")["messages"]["staging"]
