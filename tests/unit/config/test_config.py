"""matrix.yaml -> Matrix: shorthands, relative paths, extends, and located validation errors (no engine)."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from porttest.config import Environment, ImageSpec, Matrix, deep_merge, parse_matrix, read_matrix
from porttest.errors import ConfigError, ConfigIssue

REPO = Path(__file__).resolve().parents[3]
DIGEST = "sha256:" + "0123456789abcdef" * 4


# ---------------------------------------------------------------------------------------------------- helpers


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def line_no(path: Path, needle: str, nth: int = 1) -> int:
    """1-based line of the nth line of `path` containing `needle` (the test's own oracle for line numbers)."""
    hits = [i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line]
    assert len(hits) >= nth, f"{needle!r} not in {path}"
    return hits[nth - 1]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write(tmp_path / "suites" / "baseline" / "test_os.py", "def test_ok():\n    pass\n")
    write(tmp_path / "tests" / "test_app.py", "def test_ok():\n    pass\n")
    return tmp_path


HEAD = """\
version: 1
image: shop/api:1.4.2
suites: [suites/baseline]
"""


def matrix_file(project: Path, body: str, head: str = HEAD, name: str = "matrix.yaml") -> Path:
    return write(project / name, head + textwrap.dedent(body).lstrip("\n"))


def load(project: Path, body: str, env: dict[str, str] | None = None, head: str = HEAD) -> Matrix:
    return read_matrix(matrix_file(project, body, head), env={} if env is None else env)


def issues_of(path: Path, env: dict[str, str] | None = None) -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as caught:
        read_matrix(path, env={} if env is None else env)
    assert caught.value.exit_code == 2
    assert caught.value.issues, "a ConfigError must carry at least one issue"
    return caught.value.issues


def only(issues: list[ConfigIssue], path: str) -> ConfigIssue:
    found = [i for i in issues if i.path == path]
    assert len(found) == 1, f"expected one issue at {path!r}, got {[i.path for i in issues]}"
    return found[0]


# ---------------------------------------------------------------------------------------------------- image / suites


def test_image_as_a_string_is_a_ref(project: Path) -> None:
    m = load(project, "environments: {local: {}}\n")
    assert m.image == ImageSpec(ref="shop/api:1.4.2")
    assert m.image.build is None and m.image.digest is None
    assert m.version == 1


def test_image_as_a_mapping_with_ref_build_and_digest(project: Path) -> None:
    head = f"""\
version: 1
image:
  ref: shop/api:dev
  build: {{context: examples/app, dockerfile: Dockerfile.alt, args: {{BASE_IMAGE: base:1, N: 3}}, target: prod}}
  digest: {DIGEST}
suites: suites/baseline
"""
    m = load(project, "environments: {local: {}}\n", head=head)
    assert m.image.ref == "shop/api:dev"
    assert m.image.digest == DIGEST
    assert m.image.build is not None
    assert m.image.build.context == project / "examples" / "app"
    assert m.image.build.context.is_absolute()
    assert m.image.build.dockerfile == "Dockerfile.alt"
    assert m.image.build.args == {"BASE_IMAGE": "base:1", "N": 3}
    assert m.image.build.target == "prod"


def test_image_build_defaults(project: Path) -> None:
    head = "version: 1\nimage: {build: {context: .}}\nsuites: [suites/baseline]\n"
    m = load(project, "environments: {local: {}}\n", head=head)
    assert m.image.ref is None
    assert m.image.build is not None
    assert m.image.build.context == project
    assert m.image.build.dockerfile == "Dockerfile"
    assert m.image.build.args == {}


def test_image_mapping_needs_ref_build_or_digest(project: Path) -> None:
    path = matrix_file(project, "environments: {local: {}}\n",
                       head="version: 1\nimage: {}\nsuites: [suites/baseline]\n")
    issue = only(issues_of(path), "image")
    assert "ref" in issue.message and "build" in issue.message and "digest" in issue.message
    assert issue.line == 2


def test_bad_digest_is_refused_with_hint(project: Path) -> None:
    path = matrix_file(project, "environments: {local: {}}\n",
                       head="version: 1\nimage:\n  ref: x\n  digest: sha256:abc\nsuites: [suites/baseline]\n")
    issue = only(issues_of(path), "image.digest")
    assert issue.line == 4
    assert issue.hint is not None and "64" in issue.hint


def test_suites_as_a_string(project: Path) -> None:
    head = "version: 1\nimage: x\nsuites: suites/baseline\n"
    m = load(project, "environments: {local: {}}\n", head=head)
    assert m.suites == (project / "suites" / "baseline",)


def test_suites_as_a_list_keep_order_and_resolve_against_the_matrix_folder(project: Path, tmp_path_factory,
                                                                           monkeypatch) -> None:
    head = "version: 1\nimage: x\nsuites: [tests/test_app.py, suites/baseline]\n"
    path = matrix_file(project, "environments: {local: {}}\n", head=head)
    elsewhere = tmp_path_factory.mktemp("cwd")
    monkeypatch.chdir(elsewhere)  # the cwd must not matter
    m = read_matrix(path, env={})
    assert m.suites == (project / "tests" / "test_app.py", project / "suites" / "baseline")
    assert all(s.is_absolute() and s.exists() for s in m.suites)
    assert m.source == path and m.base_dir == project


def test_matrix_in_a_subfolder_resolves_against_its_own_folder(project: Path) -> None:
    sub = project / "ci" / "matrices"
    write(sub / "suite" / "test_here.py", "def test_x():\n    pass\n")
    path = write(sub / "m.yaml", """\
        version: 1
        image: {build: {context: ../../app}}
        suites: [suite]
        environments: {local: {}}
        """)
    m = read_matrix(path, env={})
    assert m.suites == (sub / "suite",)
    assert m.image.build is not None and m.image.build.context == project / "app"


def test_absolute_suite_path_is_kept(project: Path) -> None:
    target = project / "suites" / "baseline"
    m = load(project, "environments: {local: {}}\n", head=f"version: 1\nimage: x\nsuites: [{target}]\n")
    assert m.suites == (target,)


def test_missing_suite_path_is_located(project: Path) -> None:
    path = matrix_file(project, "environments: {local: {}}\n",
                       head="version: 1\nimage: x\nsuites:\n  - suites/baseline\n  - suites/nothere\n")
    issue = only(issues_of(path), "suites[1]")
    assert "does not exist" in issue.message and "nothere" in issue.message
    assert issue.line == 5
    assert issue.file == str(path)
    assert issue.hint


def test_empty_suites_list_is_refused(project: Path) -> None:
    path = matrix_file(project, "environments: {local: {}}\n", head="version: 1\nimage: x\nsuites: []\n")
    issue = only(issues_of(path), "suites")
    assert issue.line == 3


def test_environment_with_no_body_gets_defaults(project: Path) -> None:
    m = load(project, "environments:\n  local:\n")
    env = m.environments["local"]
    assert env.name == "local"
    assert env.ship == "auto"
    assert env.engine.host is None and env.engine.tls is None
    assert env.wait_for is None
    assert env.run.sdk_kwargs() == {}
    assert env.extends == ()


def test_environments_keep_matrix_order(project: Path) -> None:
    m = load(project, "environments:\n  zeta: {}\n  alpha: {}\n  mid: {}\n")
    assert list(m.environments) == ["zeta", "alpha", "mid"]


def test_models_are_frozen(project: Path) -> None:
    m = load(project, "environments: {local: {}}\n")
    with pytest.raises(ValidationError):
        m.version = 2  # type: ignore[misc]
    with pytest.raises(ValidationError):
        m.environments["local"].ship = "load"  # type: ignore[misc]


def test_parse_matrix_text_as_if_it_were_a_file(project: Path) -> None:
    m = parse_matrix(HEAD + "environments: {local: {}}\n", project / "virtual.yaml", {})
    assert m.source == project / "virtual.yaml"
    assert m.suites == (project / "suites" / "baseline",)


def test_missing_matrix_file(tmp_path: Path) -> None:
    issues = issues_of(tmp_path / "nope.yaml")
    assert len(issues) == 1
    assert "not found" in issues[0].message


def test_matrix_must_be_a_mapping(project: Path) -> None:
    path = write(project / "m.yaml", "- a\n- b\n")
    issues = issues_of(path)
    assert len(issues) == 1 and "mapping" in issues[0].message and issues[0].line == 1


def test_empty_matrix_names_every_missing_key(project: Path) -> None:
    path = write(project / "m.yaml", "# nothing here\n")
    issues = issues_of(path)
    assert {i.path for i in issues} >= {"version", "image", "suites", "environments"}
    assert only(issues, "image").hint == "add `image:`"


def test_repo_demo_matrix_loads() -> None:
    m = read_matrix(REPO / "matrix.yaml", env={})
    assert list(m.environments) == ["local", "staging", "cloud"]
    assert m.image.build is not None
    assert m.image.build.args["BASE_IMAGE"] == "python:3.12-slim"  # the ${...:-default}
    staging = m.environments["staging"]
    assert staging.run.read_only is True
    assert staging.run.cap_drop == ["ALL"]
    assert staging.extends == (REPO / "environments" / "staging.yaml",)
    cloud = m.environments["cloud"]
    assert cloud.engine.tls not in (None, False)
    assert cloud.engine.tls.ca_cert == REPO / "environments" / "certs" / "ca.pem"  # the profile's folder
    assert m.warnings() == []


def test_repo_demo_matrix_honours_variables() -> None:
    m = read_matrix(REPO / "matrix.yaml", env={"BASE_IMAGE": "local/base:1", "PORTTEST_CLOUD_HOST": "tcp://h:9"})
    assert m.image.build is not None and m.image.build.args["BASE_IMAGE"] == "local/base:1"
    assert m.environments["cloud"].engine.host == "tcp://h:9"


# ---------------------------------------------------------------------------------------------------- extends


def test_deep_merge_merges_mappings_and_run_lists_as_compose() -> None:
    base = {"a": 1, "run": {"environment": {"A": "1", "B": "2"}, "cap_drop": ["ALL"], "user": "1"}, "keep": [1]}
    over = {"run": {"environment": {"B": "x", "C": "3"}, "cap_drop": ["NET_RAW"]}, "a": {"now": "a map"}}
    out = deep_merge(base, over)
    assert out == {
        "a": {"now": "a map"},
        "run": {"environment": {"A": "1", "B": "x", "C": "3"}, "cap_drop": ["ALL", "NET_RAW"], "user": "1"},
        "keep": [1],
    }
    # inputs are not mutated
    assert base["run"]["environment"] == {"A": "1", "B": "2"}
    assert base["run"]["cap_drop"] == ["ALL"]


def test_deep_merge_scalar_over_mapping_replaces() -> None:
    assert deep_merge({"tls": {"verify": True}}, {"tls": False}) == {"tls": False}


def test_extends_one_profile_matrix_keys_win_run_lists_merged(project: Path) -> None:
    write(project / "profiles" / "staging.yaml", """\
        ship: load
        wait_for: {port: 8080, timeout: 10}
        run:
          user: "10001:10001"
          read_only: true
          cap_drop: [ALL, NET_RAW]
          environment: {APP_ENV: staging, LOG: debug}
          mem_limit: 256m
        """)
    m = load(project, """\
        environments:
          staging:
            extends: profiles/staging.yaml
            ship: present
            run:
              cap_drop: [SYS_ADMIN]
              environment: {LOG: info, EXTRA: "1"}
        """)
    env = m.environments["staging"]
    assert env.ship == "present"  # matrix wins
    assert env.wait_for is not None and env.wait_for.port == 8080 and env.wait_for.timeout == 10
    assert env.run.user == "10001:10001" and env.run.read_only is True and env.run.mem_limit == "256m"
    assert env.run.cap_drop == ["ALL", "NET_RAW", "SYS_ADMIN"]  # run lists merge as Compose merges them (issue 16)
    assert env.run.environment == {"APP_ENV": "staging", "LOG": "info", "EXTRA": "1"}  # mappings merge
    assert env.extends == (project / "profiles" / "staging.yaml",)


def test_extends_several_profiles_later_wins_matrix_wins_over_all(project: Path) -> None:
    write(project / "p1.yaml", "ship: load\nrun: {hostname: one, user: '1', environment: {A: p1, B: p1}}\n")
    write(project / "p2.yaml", "ship: present\nrun: {hostname: two, environment: {B: p2, C: p2}}\n")
    m = load(project, """\
        environments:
          e:
            extends: [p1.yaml, p2.yaml]
            run: {environment: {C: matrix}}
        """)
    env = m.environments["e"]
    assert env.ship == "present"
    assert env.run.hostname == "two"
    assert env.run.user == "1"
    assert env.run.environment == {"A": "p1", "B": "p2", "C": "matrix"}
    assert env.extends == (project / "p1.yaml", project / "p2.yaml")


def test_nested_extends_resolve_against_each_profile_folder(project: Path) -> None:
    write(project / "profiles" / "base.yaml", "ship: load\nrun: {read_only: true, environment: {A: base, B: base}}\n")
    write(project / "profiles" / "hardened" / "child.yaml",
          "extends: ../base.yaml\nrun: {environment: {B: child}, pids_limit: 64}\n")
    m = load(project, "environments:\n  h:\n    extends: profiles/hardened/child.yaml\n")
    env = m.environments["h"]
    assert env.ship == "load"  # from the grandparent
    assert env.run.read_only is True
    assert env.run.pids_limit == 64
    assert env.run.environment == {"A": "base", "B": "child"}  # the nearer profile wins


def test_same_profile_reached_twice_without_a_cycle_is_fine(project: Path) -> None:
    write(project / "base.yaml", "ship: load\n")
    write(project / "a.yaml", "extends: base.yaml\nrun: {hostname: a}\n")
    write(project / "b.yaml", "extends: base.yaml\nrun: {user: b}\n")
    m = load(project, "environments:\n  d:\n    extends: [a.yaml, b.yaml]\n")
    env = m.environments["d"]
    assert env.ship == "load" and env.run.hostname == "a" and env.run.user == "b"


def test_extends_cycle_is_refused(project: Path) -> None:
    write(project / "one.yaml", "extends: two.yaml\nship: load\n")
    write(project / "two.yaml", "extends: one.yaml\n")
    path = matrix_file(project, "environments:\n  c:\n    extends: one.yaml\n")
    issues = issues_of(path)
    cycle = [i for i in issues if "extends itself" in i.message or "cycle" in (i.hint or "")]
    assert len(cycle) == 1
    assert cycle[0].file == str(project / "two.yaml")
    assert cycle[0].line == 1


def test_profile_extending_itself_is_refused(project: Path) -> None:
    write(project / "self.yaml", "extends: self.yaml\n")
    issues = issues_of(matrix_file(project, "environments:\n  c:\n    extends: self.yaml\n"))
    assert any("extends itself" in i.message and i.file == str(project / "self.yaml") for i in issues)


def test_missing_profile_file_is_located_on_the_extends_entry(project: Path) -> None:
    write(project / "present.yaml", "ship: load\n")
    path = matrix_file(project, """\
        environments:
          e:
            extends:
              - present.yaml
              - profiles/absent.yaml
        """)
    issue = only(issues_of(path), "environments.e.extends[1]")
    assert "not found" in issue.message
    assert str(project / "profiles" / "absent.yaml") in issue.message
    assert issue.file == str(path)
    assert issue.line == line_no(path, "absent.yaml")
    assert issue.hint and "relative" in issue.hint


def test_extends_must_be_paths(project: Path) -> None:
    path = matrix_file(project, "environments:\n  e:\n    extends: 5\n")
    issue = only(issues_of(path), "environments.e.extends")
    assert issue.line == line_no(path, "extends: 5")


def test_profile_must_be_a_mapping(project: Path) -> None:
    write(project / "list.yaml", "- a\n")
    issues = issues_of(matrix_file(project, "environments:\n  e:\n    extends: list.yaml\n"))
    assert any(i.file == str(project / "list.yaml") and "mapping" in i.message for i in issues)


def test_tls_paths_in_a_profile_resolve_against_the_profile_folder(project: Path) -> None:
    write(project / "envs" / "remote" / "cloud.yaml", """\
        engine:
          host: tcp://10.0.0.5:2376
          tls: {ca_cert: certs/ca.pem, client_cert: certs/cert.pem, client_key: /abs/key.pem}
        """)
    m = load(project, "environments:\n  cloud:\n    extends: envs/remote/cloud.yaml\n")
    tls = m.environments["cloud"].engine.tls
    assert tls is not None and tls is not False
    certs = project / "envs" / "remote" / "certs"
    assert tls.ca_cert == certs / "ca.pem"
    assert tls.client_cert == certs / "cert.pem"
    assert tls.client_key == Path("/abs/key.pem")
    assert tls.verify is True


def test_tls_paths_in_the_matrix_resolve_against_the_matrix_folder(project: Path) -> None:
    m = load(project, """\
        environments:
          cloud:
            engine:
              host: tcp://10.0.0.5:2376
              tls: {ca_cert: certs/ca.pem, client_cert: certs/cert.pem, client_key: certs/key.pem}
        """)
    tls = m.environments["cloud"].engine.tls
    assert tls is not None and tls is not False
    assert (tls.ca_cert, tls.client_cert, tls.client_key) == (
        project / "certs" / "ca.pem", project / "certs" / "cert.pem", project / "certs" / "key.pem")


def test_matrix_tls_override_of_a_profile_keeps_the_profile_paths_it_does_not_override(project: Path) -> None:
    write(project / "envs" / "cloud.yaml", """\
        engine:
          host: tcp://10.0.0.5:2376
          tls: {ca_cert: ca.pem, client_cert: cert.pem, client_key: key.pem}
        """)
    m = load(project, """\
        environments:
          cloud:
            extends: envs/cloud.yaml
            engine: {tls: {ca_cert: mine/ca.pem}}
        """)
    tls = m.environments["cloud"].engine.tls
    assert tls is not None and tls is not False
    assert tls.ca_cert == project / "mine" / "ca.pem"
    assert tls.client_cert == project / "envs" / "cert.pem"


# ---------------------------------------------------------------------------------------------------- validation


def test_every_error_is_collected_in_one_config_error(project: Path) -> None:
    path = matrix_file(project, """\
        environments:
          staging:
            run:
              read_only: "yes please"
              mem_limit: lots
              pids_limit: abc
              cap_drop: {ALL: 1}
              mem_limt: 5
          cloud:
            engine: {host: "tcp://build-7.example.net:2376"}
          waiting:
            wait_for: {port: 8080, log: ready}
          "bad name!": {}
          other:
            wiat_for: {port: 1}
        toplevel_bad: 1
        """)
    with pytest.raises(ConfigError) as caught:
        read_matrix(path, env={})
    err = caught.value
    expected = {
        "environments.staging.run.read_only": "read_only:",
        "environments.staging.run.mem_limit": "mem_limit: lots",
        "environments.staging.run.pids_limit": "pids_limit:",
        "environments.staging.run.cap_drop": "cap_drop:",
        "environments.staging.run.mem_limt": "mem_limt:",
        "environments.cloud.engine": "engine:",
        "environments.waiting.wait_for": "wait_for:",
        "environments.bad name!": "bad name!",
        "environments.other.wiat_for": "wiat_for:",
        "toplevel_bad": "toplevel_bad",
    }
    got = {i.path: i for i in err.issues}
    assert set(expected) <= set(got), sorted(got)
    for dotted, needle in expected.items():
        issue = got[dotted]
        assert issue.file == str(path), dotted
        assert issue.line == line_no(path, needle), dotted
    assert f"({len(err.issues)} problems)" in str(err)
    assert str(err).count("\n") >= len(expected)
    assert err.exit_code == 2


@pytest.mark.parametrize(
    ("key", "value", "got"),
    [
        ("read_only", '"yes please"', "yes please"),
        ("pids_limit", "abc", "abc"),
        ("cap_drop", "7", "7"),
        ("cap_drop", "{ALL: true}", None),
        ("privileged", "[1]", None),
        ("environment", "[1, 2]", None),
        ("mem_limit", "lots", "lots"),
        ("cpus", "0", "0"),
        ("pids_limit", "-5", "-5"),
    ],
)
def test_malformed_run_values(project: Path, key: str, value: str, got: str | None) -> None:
    path = matrix_file(project, f"""\
        environments:
          staging:
            run:
              user: "1000"
              {key}: {value}
        """)
    issue = only(issues_of(path), f"environments.staging.run.{key}")
    assert issue.line == line_no(path, f"{key}:")
    assert issue.file == str(path)
    if got is not None:
        assert got in issue.message
    assert issue.hint or key in ("environment", "privileged")


def test_read_only_hint(project: Path) -> None:
    path = matrix_file(project, 'environments:\n  s:\n    run: {read_only: "yes please"}\n')
    assert only(issues_of(path), "environments.s.run.read_only").hint == "write true or false"


def test_mem_limit_error_explains_sizes(project: Path) -> None:
    path = matrix_file(project, "environments:\n  s:\n    run: {mem_limit: lots}\n")
    issue = only(issues_of(path), "environments.s.run.mem_limit")
    assert issue.hint is not None and "256m" in issue.hint


@pytest.mark.parametrize("size", ["256m", "1g", "512k", "1.5g", "268435456", "100MB"])
def test_mem_limit_sizes_accepted(project: Path, size: str) -> None:
    m = load(project, f"environments:\n  s:\n    run: {{mem_limit: {size}}}\n")
    assert str(m.environments["s"].run.mem_limit) == size


def test_unknown_run_option_suggests_the_close_name(project: Path) -> None:
    path = matrix_file(project, "environments:\n  s:\n    run:\n      mem_limt: 256m\n")
    issue = only(issues_of(path), "environments.s.run.mem_limt")
    assert "mem_limt" in issue.message
    assert issue.hint is not None and "did you mean `mem_limit`" in issue.hint
    assert issue.line == line_no(path, "mem_limt:")


def test_unknown_run_option_without_a_close_name_explains_the_rule(project: Path) -> None:
    path = matrix_file(project, "environments:\n  s:\n    run:\n      zzqqxx: 1\n")
    issue = only(issues_of(path), "environments.s.run.zzqqxx")
    assert issue.hint is not None and "containers.run()" in issue.hint


def test_sdk_option_without_a_typed_field_is_accepted_and_passed_on(project: Path) -> None:
    m = load(project, "environments:\n  s:\n    run: {cpuset_mems: '0', publish_all_ports: true}\n")
    kwargs = m.environments["s"].run.sdk_kwargs()
    assert kwargs == {"cpuset_mems": "0", "publish_all_ports": True}


def test_unknown_top_level_key(project: Path) -> None:
    path = matrix_file(project, "environments: {local: {}}\nsuits: [x]\n")
    issue = only(issues_of(path), "suits")
    assert "unknown top-level key" in issue.message
    assert issue.line == line_no(path, "suits:")
    assert issue.hint is not None and "suites" in issue.hint


def test_unknown_environment_key(project: Path) -> None:
    path = matrix_file(project, "environments:\n  s:\n    wiat_for: {port: 1}\n")
    issue = only(issues_of(path), "environments.s.wiat_for")
    assert "unknown environment key" in issue.message
    assert issue.hint is not None and "did you mean `wait_for`" in issue.hint
    assert issue.line == line_no(path, "wiat_for:")


def test_name_is_not_an_environment_key(project: Path) -> None:
    path = matrix_file(project, "environments:\n  s:\n    name: other\n")
    issue = only(issues_of(path), "environments.s.name")
    assert issue.line == line_no(path, "name: other")


@pytest.mark.parametrize("key", ["detach", "name", "remove", "auto_remove", "stdin_open", "tty", "image"])
def test_managed_run_keys_are_refused(project: Path, key: str) -> None:
    path = matrix_file(project, f"environments:\n  s:\n    run:\n      {key}: true\n")
    issue = only(issues_of(path), f"environments.s.run.{key}")
    assert issue.line == line_no(path, f"{key}: true")


@pytest.mark.parametrize("key", ["detach", "name"])
def test_managed_run_keys_say_they_are_managed(project: Path, key: str) -> None:
    path = matrix_file(project, f"environments:\n  s:\n    run:\n      {key}: true\n")
    issue = only(issues_of(path), f"environments.s.run.{key}")
    assert "managed by porttest" in issue.message
    assert "did you mean" not in (issue.hint or "")


def test_tcp_host_without_tls_is_refused(project: Path) -> None:
    path = matrix_file(project, 'environments:\n  cloud:\n    engine:\n      host: "tcp://h.example.net:2376"\n')
    issue = only(issues_of(path), "environments.cloud.engine")
    assert "tls" in issue.message and "tls: false" in issue.message
    assert issue.line == line_no(path, "engine:")


def test_tls_false_is_accepted_with_a_warning(project: Path) -> None:
    m = load(project, 'environments:\n  local: {}\n  cloud:\n    engine: {host: "tcp://h:2375", tls: false}\n')
    assert m.environments["cloud"].engine.tls is False
    warnings = m.warnings()
    assert len(warnings) == 1
    assert warnings[0].startswith("cloud:") and "WITHOUT TLS" in warnings[0] and "tcp://h:2375" in warnings[0]


def test_tls_verify_false_is_accepted_with_a_warning(project: Path) -> None:
    m = load(project, 'environments:\n  cloud:\n    engine: {host: "tcp://h:2376", tls: {verify: false}}\n')
    tls = m.environments["cloud"].engine.tls
    assert tls is not None and tls is not False and tls.verify is False
    warnings = m.warnings()
    assert len(warnings) == 1 and "verification is OFF" in warnings[0] and warnings[0].startswith("cloud:")


def test_verified_tls_has_no_warning(project: Path) -> None:
    m = load(project, """\
        environments:
          cloud:
            engine: {host: "tcp://h:2376", tls: {ca_cert: ca.pem, client_cert: c.pem, client_key: k.pem}}
        """)
    assert m.warnings() == []


def test_privileged_produces_a_warning(project: Path) -> None:
    m = load(project, "allow_privileged: true\nenvironments:\n  p:\n    run: {privileged: true}\n")
    assert any("PRIVILEGED" in w and w.startswith("p:") for w in m.warnings())


def test_tls_verify_needs_ca_cert(project: Path) -> None:
    path = matrix_file(project, 'environments:\n  c:\n    engine: {host: "tcp://h:1", tls: {verify: true}}\n')
    issue = only(issues_of(path), "environments.c.engine.tls")
    assert "ca_cert" in issue.message


def test_client_cert_and_key_go_together(project: Path) -> None:
    path = matrix_file(project,
                       'environments:\n  c:\n    engine: {host: "tcp://h:1", tls: {ca_cert: a, client_cert: b}}\n')
    issue = only(issues_of(path), "environments.c.engine.tls")
    assert "client_key" in issue.message


def test_tls_on_a_unix_socket_is_refused(project: Path) -> None:
    path = matrix_file(project, """\
        environments:
          c:
            engine: {host: "unix:///var/run/docker.sock", tls: {ca_cert: a}}
        """)
    issue = only(issues_of(path), "environments.c.engine")
    assert "tcp://" in issue.message


def test_bad_engine_host_has_hint(project: Path) -> None:
    path = matrix_file(project, 'environments:\n  c:\n    engine: {host: "build-7:2376"}\n')
    issue = only(issues_of(path), "environments.c.engine.host")
    assert issue.hint is not None and "tcp://" in issue.hint


@pytest.mark.parametrize("wait_for", ["{port: 8080, log: ready}", "{timeout: 5}", "{healthcheck: true, command: x}"])
def test_wait_for_needs_exactly_one_kind(project: Path, wait_for: str) -> None:
    path = matrix_file(project, f"environments:\n  w:\n    wait_for: {wait_for}\n")
    issue = only(issues_of(path), "environments.w.wait_for")
    assert "exactly one" in issue.message
    assert issue.line == line_no(path, "wait_for:")


@pytest.mark.parametrize(("wait_for", "kind"), [("{port: 8080}", "port"), ("{healthcheck: true}", "healthcheck"),
                                                ("{log: ready}", "log"), ("{command: 'true'}", "command")])
def test_wait_for_one_kind_is_accepted(project: Path, wait_for: str, kind: str) -> None:
    m = load(project, f"environments:\n  w:\n    wait_for: {wait_for}\n")
    wf = m.environments["w"].wait_for
    assert wf is not None and wf.kind == kind and wf.timeout == 30.0


def test_wait_for_port_out_of_range(project: Path) -> None:
    path = matrix_file(project, "environments:\n  w:\n    wait_for:\n      port: 70000\n")
    issue = only(issues_of(path), "environments.w.wait_for.port")
    assert issue.line == line_no(path, "port: 70000")


@pytest.mark.parametrize("name", ["bad name!", "-leading", "x" * 64, "ünïcode", ".dot"])
def test_bad_environment_names(project: Path, name: str) -> None:
    path = matrix_file(project, f'environments:\n  local: {{}}\n  "{name}": {{}}\n')
    issue = only(issues_of(path), f"environments.{name}")
    assert "not allowed" in issue.message
    assert issue.line == line_no(path, name)
    assert issue.hint


@pytest.mark.parametrize("name", ["a", "staging-eu.1", "gvisor_runsc", "9lives", "x" * 63])
def test_good_environment_names(project: Path, name: str) -> None:
    m = load(project, f'environments:\n  "{name}": {{}}\n')
    assert list(m.environments) == [name]
    assert isinstance(m.environments[name], Environment)


def test_environment_must_be_a_mapping(project: Path) -> None:
    path = matrix_file(project, "environments:\n  local: {}\n  e: [1]\n")
    issue = only(issues_of(path), "environments.e")
    assert "mapping" in issue.message and issue.line == line_no(path, "e: [1]")


@pytest.mark.parametrize("version", ["2", "'1'", "1.5"])
def test_only_version_1(project: Path, version: str) -> None:
    text = f"version: {version}\nimage: x\nsuites: [suites/baseline]\nenvironments: {{a: {{}}}}\n"
    path = write(project / "m.yaml", text)
    issue = only(issues_of(path), "version")
    assert issue.line == 1


def test_ship_mode_is_checked(project: Path) -> None:
    path = matrix_file(project, "environments:\n  a:\n    ship: teleport\n")
    issue = only(issues_of(path), "environments.a.ship")
    assert "teleport" in issue.message and issue.line == line_no(path, "ship: teleport")


@pytest.mark.parametrize("mode", ["auto", "present", "load"])
def test_ship_modes_accepted(project: Path, mode: str) -> None:
    assert load(project, f"environments:\n  a:\n    ship: {mode}\n").environments["a"].ship == mode


def test_duplicate_keys_are_refused_with_the_second_line(project: Path) -> None:
    path = matrix_file(project, """\
        environments:
          a: {}
          b:
            run:
              user: "1"
              user: "2"
          a: {}
        """)
    issues = issues_of(path)
    assert only(issues, "environments.a").line == line_no(path, "  a: {}", 2)
    assert only(issues, "environments.b.run.user").line == line_no(path, 'user: "2"')
    assert all("duplicate key" in i.message for i in issues)


def test_invalid_yaml_gives_the_line(project: Path) -> None:
    path = matrix_file(project, "environments:\n  a: {}\n  b: ]\n")
    issues = issues_of(path)
    assert len(issues) == 1
    assert "not valid YAML" in issues[0].message
    assert issues[0].line == line_no(path, "b: ]")
    assert issues[0].file == str(path)


def test_yaml_merge_keys_are_refused(project: Path) -> None:
    path = matrix_file(project, "environments:\n  a: &x {ship: load}\n  b:\n    <<: *x\n")
    issue = only(issues_of(path), "environments.b")
    assert "merge keys" in issue.message


def test_billion_laughs_is_refused_quickly(project: Path) -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    path = write(project / "laughs.yaml", "\n".join(lines) + "\n")
    started = time.monotonic()
    issues = issues_of(path)
    assert time.monotonic() - started < 2.0
    assert len(issues) == 1
    assert "more than" in issues[0].message and issues[0].hint and "alias" in issues[0].hint


def test_file_over_one_megabyte_is_refused(project: Path) -> None:
    path = write(project / "big.yaml", HEAD + "environments: {a: {}}\n# " + "x" * 1_000_001 + "\n")
    started = time.monotonic()
    issues = issues_of(path)
    assert time.monotonic() - started < 2.0
    assert len(issues) == 1 and "larger than" in issues[0].message


def test_profile_errors_point_at_the_profile_file(project: Path) -> None:
    profile = write(project / "profiles" / "bad.yaml", """\
        # a profile with problems
        ship: load
        run:
          read_only: nope
          mem_limt: 5
        """)
    path = matrix_file(project, "environments:\n  s:\n    extends: profiles/bad.yaml\n    run: {user: '1'}\n")
    issues = issues_of(path)
    ro = only(issues, "environments.s.run.read_only")
    assert ro.file == str(profile) and ro.line == line_no(profile, "read_only")
    typo = only(issues, "environments.s.run.mem_limt")
    assert typo.file == str(profile) and typo.line == line_no(profile, "mem_limt")
    assert typo.hint is not None and "mem_limit" in typo.hint


def test_matrix_value_overriding_a_profile_is_located_in_the_matrix(project: Path) -> None:
    write(project / "p.yaml", "run:\n  read_only: true\n")
    path = matrix_file(project, "environments:\n  s:\n    extends: p.yaml\n    run:\n      read_only: nope\n")
    issue = only(issues_of(path), "environments.s.run.read_only")
    assert issue.file == str(path) and issue.line == line_no(path, "read_only: nope")


def test_error_in_the_later_of_two_profiles_points_at_it(project: Path) -> None:
    write(project / "p1.yaml", "run:\n  read_only: nope\n")
    p2 = write(project / "p2.yaml", "# p2\n# padding\nrun:\n  read_only: nah\n")
    path = matrix_file(project, "environments:\n  s:\n    extends: [p1.yaml, p2.yaml]\n")
    issue = only(issues_of(path), "environments.s.run.read_only")
    assert "nah" in issue.message
    assert issue.file == str(p2) and issue.line == line_no(p2, "read_only: nah") == 4


def test_tcp_without_tls_from_a_profile_points_at_the_profile(project: Path) -> None:
    profile = write(project / "remote.yaml", "# remote\nengine:\n  host: tcp://h:2376\n")
    path = matrix_file(project, "environments:\n  r:\n    extends: remote.yaml\n")
    issue = only(issues_of(path), "environments.r.engine")
    assert issue.file == str(profile) and issue.line == 2


def test_yaml_error_in_a_profile_names_the_profile(project: Path) -> None:
    profile = write(project / "broken.yaml", "ship: load\nrun: {\n")
    issues = issues_of(matrix_file(project, "environments:\n  r:\n    extends: broken.yaml\n"))
    assert len(issues) == 1 and issues[0].file == str(profile) and "not valid YAML" in issues[0].message


def test_unknown_key_in_a_profile_is_reported_in_the_profile(project: Path) -> None:
    profile = write(project / "p.yaml", "ship: load\nbogus: 1\n")
    issues = issues_of(matrix_file(project, "environments:\n  r:\n    extends: p.yaml\n"))
    in_profile = [i for i in issues if i.file == str(profile) and "bogus" in i.path]
    assert len(in_profile) == 1 and in_profile[0].line == 2


def test_unknown_key_in_a_profile_is_reported_once(project: Path) -> None:
    profile = write(project / "p.yaml", "ship: load\nbogus: 1\n")
    path = matrix_file(project, "environments:\n  r:\n    extends: p.yaml\n")
    issues = issues_of(path)
    bogus = [i for i in issues if "bogus" in i.path]
    assert len(bogus) == 1
    assert bogus[0].file == str(profile)


def test_nested_profile_error_points_at_the_profile_that_wrote_the_value(project: Path) -> None:
    write(project / "grand.yaml", "run:\n  read_only: true\n")
    parent = write(project / "parent.yaml", "extends: grand.yaml\n\n\n\nrun:\n  read_only: nope\n")
    path = matrix_file(project, "environments:\n  s:\n    extends: parent.yaml\n")
    issue = only(issues_of(path), "environments.s.run.read_only")
    assert "nope" in issue.message
    assert issue.file == str(parent)
    assert issue.line == 6


def test_yaml_level_and_validation_errors_are_reported_together(project: Path) -> None:
    path = matrix_file(project, """\
        environments:
          a:
            run:
              hostname: ${NOT_SET}
              mem_limt: 5
        bogus: 1
        """)
    paths = {i.path for i in issues_of(path)}
    assert {"environments.a.run.hostname", "environments.a.run.mem_limt", "bogus"} <= paths


def test_issue_render_format() -> None:
    issue = ConfigIssue("environments.s.run.read_only", "bad", "write true or false", "/x/m.yaml", 7)
    assert issue.render() == "/x/m.yaml:7: environments.s.run.read_only: bad\n    hint: write true or false"
    assert ConfigIssue("", "oops").render() == "matrix: (top level): oops"


def test_config_error_message_counts_problems() -> None:
    one = ConfigError(ConfigIssue("a", "x"))
    two = ConfigError([ConfigIssue("a", "x"), ConfigIssue("b", "y", "h")])
    assert str(one).startswith("invalid matrix:")
    assert str(two).startswith("invalid matrix (2 problems):")
    assert "hint: h" in str(two)
    assert two.exit_code == 2
