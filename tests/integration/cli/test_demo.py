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


def test_kubernetes_example_diverges_only_where_the_cluster_adds_a_token(
        base_images: dict[str, str], tmp_path) -> None:  # type: ignore[no-untyped-def]
    ran = porttest("run", "examples/kubernetes/matrix.yaml", "--json", str(tmp_path / "r.json"),
                   env={"BASE_IMAGE": base_images["debian"]})
    assert ran.rc == 3, ran.explain()
    assert ran.outcomes("test_no_service_account_token_is_mounted") == {"local": "passed", "staging": "passed",
                                                                        "prod": "failed"}
    assert ran.results is not None
    assert [t["id"] for t in ran.results["tests"] if not t["same"]] == [
        "tests/test_api_in_place.py::test_no_service_account_token_is_mounted"]
    why = ran.row("test_no_service_account_token_is_mounted")["explanation"]
    assert "read-only mounts: /run/secrets/kubernetes.io/serviceaccount" in why[0] and "deploy/api.yaml:" in why[0]
    prod = ran.results["environments"]["prod"]
    assert prod["run"]["read_only"] is True and prod["run"]["cap_drop"] == ["ALL"] and prod["run"]["cpus"] == 0.5
    assert ran.results["environments"]["staging"]["run"]["read_only"] is True  # from the Compose file's fragment


def test_services_example_diverges_only_where_the_caches_limit_bites(
        base_images: dict[str, str], lab_services: dict[str, str], tmp_path) -> None:  # type: ignore[no-untyped-def]
    ran = porttest("run", "examples/services/matrix.yaml", "--json", str(tmp_path / "r.json"),
                   env={"BASE_IMAGE": base_images["debian"]})
    assert ran.rc == 3, ran.explain()
    assert ran.results is not None
    assert [t["id"].split("::")[-1] for t in ran.results["tests"] if not t["same"]] == [
        "test_cache_holds_the_working_set"]
    assert ran.outcomes("test_cache_holds_the_working_set") == {"local": "passed", "staging": "passed",
                                                                 "tight": "failed"}
    why = ran.row("test_cache_holds_the_working_set")["explanation"]
    assert why[0].startswith("tight: service cache mem_limit 64m") and "matrix.yaml:" in why[0], why
    ids = {env["services"]["cache"]["image_id"] for env in ran.results["environments"].values()}
    assert len(ids) == 1  # the same cache image everywhere, proven by ID
