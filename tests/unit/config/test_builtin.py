"""`extends: porttest:NAME` and `suites: [porttest:baseline]`: what ships with porttest, found without a path."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from porttest.config import builtin, parse_matrix, read_matrix
from porttest.config.models import Matrix
from porttest.errors import ConfigError

REPO = Path(__file__).resolve().parents[3]
PROFILES = ["cloud", "gvisor", "local", "podman", "ssh", "staging"]


def write(folder: Path, text: str, name: str = "matrix.yaml") -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def load(folder: Path, environments: str, suites: str = "[porttest:baseline]") -> Matrix:
    return read_matrix(write(folder, f"version: 1\nimage: shop/api:1\nsuites: {suites}\nenvironments:\n"
                                     + textwrap.indent(textwrap.dedent(environments).lstrip("\n"), "  ")), env={})


def problems(folder: Path, environments: str, suites: str = "[porttest:baseline]") -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(folder, environments, suites)
    assert caught.value.exit_code == 2
    return [f"{Path(i.file or '').name}:{i.line}: {i.path}: {i.message}\n{i.hint}" for i in caught.value.issues]


def test_the_shipped_names_are_the_repositorys_profiles_and_suites() -> None:
    assert builtin.profile_names() == PROFILES
    assert sorted(p.stem for p in (REPO / "environments").glob("*.yaml")) == PROFILES
    assert builtin.suite_names() == ["baseline"]


def test_a_source_checkout_uses_the_repositorys_own_files_so_there_is_one_copy() -> None:
    # The wheel copies these files to porttest/data/ at build time (pyproject's force-include); the repository holds
    # no second copy that could drift from the first.
    assert not (REPO / "harness" / "porttest" / "data").exists()
    root = builtin.data_root()
    if Path(builtin.__file__).resolve().is_relative_to(REPO / "harness"):  # imported from this checkout
        assert root == REPO
    else:  # an installed build (tox installs one): its copies are the repository's files, byte for byte
        assert root == Path(builtin.__file__).resolve().parents[1] / "data"
        for name in ["environments", "suites/baseline"]:
            ours = {p.relative_to(REPO / name): p.read_bytes() for p in (REPO / name).rglob("*")
                    if p.is_file() and "__pycache__" not in p.parts}
            shipped = {p.relative_to(root / name): p.read_bytes() for p in (root / name).rglob("*")
                       if p.is_file() and "__pycache__" not in p.parts}
            assert shipped == ours, name
    assert builtin.profile("porttest:staging") == root / "environments" / "staging.yaml"
    assert builtin.suite("porttest:baseline") == root / "suites" / "baseline"


@pytest.mark.parametrize("name", PROFILES)
def test_every_builtin_profile_gives_what_its_file_gives(tmp_path: Path, name: str) -> None:
    by_name = load(tmp_path / "a", f"e: {{extends: porttest:{name}}}").environments["e"]
    # The same profile named by its path from a matrix in the repository's root.
    text = f"version: 1\nimage: shop/api:1\nsuites: [suites/baseline]\nenvironments:\n  e: {{extends: " \
           f"environments/{name}.yaml}}\n"
    by_path = parse_matrix(text, REPO / "porttest-test-matrix.yaml", {}).environments["e"]
    assert by_name.run == by_path.run and by_name.ship == by_path.ship and by_name.wait_for == by_path.wait_for
    assert by_name.engine.host == by_path.engine.host
    assert by_name.extends == (builtin.data_root() / "environments" / f"{name}.yaml",)


def test_the_baseline_suite_resolves_to_the_shipped_folder(tmp_path: Path) -> None:
    matrix = load(tmp_path, "local: {}", suites="porttest:baseline")
    assert matrix.suites == (builtin.data_root() / "suites" / "baseline",)
    assert any(p.name.startswith("test_") for p in matrix.suites[0].iterdir())


def test_paths_inside_a_builtin_profile_start_at_the_matrixs_folder(tmp_path: Path) -> None:
    cloud = load(tmp_path, "cloud: {extends: porttest:cloud}").environments["cloud"]
    assert cloud.engine.tls not in (None, False)
    assert cloud.engine.tls.ca_cert == tmp_path / "certs" / "ca.pem"
    assert cloud.engine.tls.client_key == tmp_path / "certs" / "key.pem"


def test_a_profile_of_the_users_can_extend_a_builtin_one(tmp_path: Path) -> None:
    write(tmp_path, "extends: porttest:staging\nrun: {mem_limit: 512m}\n", "profiles/mine.yaml")
    env = load(tmp_path, "s: {extends: profiles/mine.yaml}").environments["s"]
    assert env.run.read_only is True and env.run.mem_limit == "512m" and env.run.user == "10001:10001"


def test_origins_name_a_builtin_profile_by_its_name(tmp_path: Path) -> None:
    env = load(tmp_path, "s: {extends: porttest:staging}").environments["s"]
    lines = (REPO / "environments" / "staging.yaml").read_text().splitlines()
    read_only = next(i for i, line in enumerate(lines, 1) if "read_only" in line)
    assert env.origins["run.read_only"] == f"porttest:staging:{read_only}"


def test_an_unknown_builtin_profile_is_a_located_error_listing_the_names(tmp_path: Path) -> None:
    found = problems(tmp_path, "local: {}\nstaging:\n  extends: [porttest:stagin]\n")
    assert len(found) == 1
    assert found[0].startswith("matrix.yaml:7: environments.staging.extends[0]: no built-in profile porttest:stagin")
    assert "did you mean porttest:staging?" in found[0]
    assert "porttest:cloud, porttest:gvisor, porttest:local, porttest:podman, porttest:ssh, porttest:staging" \
        in found[0]


def test_an_unknown_builtin_suite_is_a_located_error_listing_the_names(tmp_path: Path) -> None:
    found = problems(tmp_path, "local: {}", suites="[porttest:basline]")
    assert len(found) == 1 and found[0].startswith("matrix.yaml:3: suites[0]: no built-in suite porttest:basline")
    assert "did you mean porttest:baseline? built-in suites: porttest:baseline" in found[0]
