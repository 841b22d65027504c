"""Safe `extends` (issue 16 part 5): Compose's merge rules, `!override`/`!reset`, and hardening-loss warnings."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from porttest.config import Matrix, deep_merge, read_matrix
from porttest.config.yaml_source import Tagged, load_yaml
from porttest.errors import ConfigError, ConfigIssue

HEAD = "version: 1\nimage: shop/api:1.4.2\nsuites: [suites/t]\n"

HARD = """\
run:
  user: "10001:10001"
  read_only: true
  cap_drop: [ALL]
  security_opt: ["no-new-privileges:true"]
  pids_limit: 256
  privileged: false
  command: [sleep, infinity]
  environment: {APP_ENV: staging}
  tmpfs: {/tmp: "rw,size=64m"}
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write(tmp_path / "suites" / "t" / "test_ok.py", "def test_ok():\n    pass\n")
    write(tmp_path / "environments" / "staging.yaml", HARD)
    return tmp_path


def load(project: Path, env_body: str, allow_privileged: bool = False) -> Matrix:
    body = textwrap.indent(textwrap.dedent(env_body).strip("\n"), "    ")
    head = HEAD + ("allow_privileged: true\n" if allow_privileged else "")
    write(project / "matrix.yaml", head + "environments:\n  staging:\n" + body + "\n")
    return read_matrix(project / "matrix.yaml", env={})


def issues(project: Path, env_body: str) -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as caught:
        load(project, env_body)
    return caught.value.issues


def warnings(matrix: Matrix) -> list[str]:
    return [w for w in matrix.descriptor_warnings if w.startswith("staging: run.")]


# ---------------------------------------------------------------------------------------------------- merge rules


def test_run_lists_merge_as_a_union_in_order_without_duplicates(project: Path) -> None:
    m = load(project, """\
        extends: environments/staging.yaml
        run:
          cap_drop: [NET_RAW, ALL]
          cap_add: [CHOWN]
          security_opt: ["no-new-privileges:true", "seccomp=unconfined"]
        """, allow_privileged=True)
    run = m.environments["staging"].run
    assert run.cap_drop == ["ALL", "NET_RAW"]
    assert run.cap_add == ["CHOWN"]
    assert run.security_opt == ["no-new-privileges:true", "seccomp=unconfined"]


def test_deep_merge_rules_per_key() -> None:
    base = {"run": {"dns": ["1.1.1.1"], "volumes": ["a:/data", "b:/cache:ro"], "tmpfs": ["/tmp:size=1m"],
                    "environment": ["A=1", "B=2"], "ulimits": [{"name": "nofile", "soft": 1}],
                    "healthcheck": {"test": ["CMD", "a"], "interval": 1}, "entrypoint": ["/a"]},
            "ci": {"labels": ["x"]}}
    over = {"run": {"dns": ["8.8.8.8", "1.1.1.1"], "volumes": ["c:/data"], "tmpfs": ["/tmp:size=2m", "/run"],
                    "environment": {"B": "3"}, "ulimits": [{"name": "nofile", "soft": 2}],
                    "healthcheck": {"test": ["CMD", "b"]}, "entrypoint": ["/b"]},
            "ci": {"labels": ["y"]}}
    run = deep_merge(base, over)["run"]
    assert run["dns"] == ["1.1.1.1", "8.8.8.8"]
    assert run["volumes"] == ["c:/data", "b:/cache:ro"]  # merged by container path, as Compose does
    assert run["tmpfs"] == ["/tmp:size=2m", "/run"]
    assert run["environment"] == {"A": "1", "B": "3"}  # the list form read as a mapping
    assert run["ulimits"] == [{"name": "nofile", "soft": 2}]
    assert run["healthcheck"] == {"test": ["CMD", "b"], "interval": 1}  # healthcheck.test replaced
    assert run["entrypoint"] == ["/b"]
    assert deep_merge(base, over)["ci"] == {"labels": ["y"]}  # lists outside run: are porttest's own: replaced


def test_command_is_replaced_not_merged(project: Path) -> None:
    m = load(project, """\
        extends: environments/staging.yaml
        run: {command: [python, -m, http.server]}
        """)
    assert m.environments["staging"].run.command == ["python", "-m", "http.server"]


def test_override_on_a_list_replaces_it(project: Path) -> None:
    m = load(project, """\
        extends: environments/staging.yaml
        run:
          cap_drop: !override [NET_RAW]
        """)
    assert m.environments["staging"].run.cap_drop == ["NET_RAW"]
    assert warnings(m) == []  # written on purpose: no warning


def test_override_on_a_mapping_replaces_it(project: Path) -> None:
    m = load(project, """\
        extends: environments/staging.yaml
        run:
          environment: !override {ONLY: "1"}
          tmpfs: !override {/run: rw}
        """)
    run = m.environments["staging"].run
    assert run.environment == {"ONLY": "1"}
    assert run.tmpfs == {"/run": "rw"}
    assert run.read_only is True  # the rest of run: still merged


def test_reset_removes_the_inherited_key(project: Path) -> None:
    m = load(project, """\
        extends: environments/staging.yaml
        run:
          pids_limit: !reset null
          environment:
            APP_ENV: !reset
        """)
    run = m.environments["staging"].run
    assert run.pids_limit is None
    assert run.environment == {}
    assert run.mem_limit is None and run.user == "10001:10001"
    assert warnings(m) == []


def test_tags_without_a_profile_are_just_values(project: Path) -> None:
    m = load(project, "run: {read_only: !override true, pids_limit: !reset 3}")
    run = m.environments["staging"].run
    assert run.read_only is True and run.pids_limit is None


def test_unknown_tag_is_still_refused_with_its_line(project: Path) -> None:
    found = issues(project, """\
        extends: environments/staging.yaml
        run:
          cap_drop: !replace [NET_RAW]
          user: !weird nobody
        """)
    by_path = {i.path: i for i in found}
    assert by_path["environments.staging.run.cap_drop"].line == 8
    assert "!replace" in by_path["environments.staging.run.cap_drop"].message
    assert by_path["environments.staging.run.user"].line == 9
    assert "!weird" in by_path["environments.staging.run.user"].message


def test_unknown_tag_in_a_profile_is_refused_with_its_file_and_line(project: Path) -> None:
    profile = write(project / "environments" / "bad.yaml", "run:\n  read_only: !nope false\n")
    found = issues(project, "extends: environments/bad.yaml")
    assert [(i.file, i.line) for i in found] == [(str(profile), 2)]


def test_tags_outside_an_environment_key_are_refused(project: Path) -> None:
    found = issues(project, "extends: !override environments/staging.yaml")
    assert [(i.path, i.line) for i in found] == [("environments.staging.extends", 6)]
    write(project / "matrix.yaml", HEAD.replace("suites:", "suites: !override") + "environments: {a: {}}\n")
    with pytest.raises(ConfigError) as caught:
        read_matrix(project / "matrix.yaml", env={})
    assert [(i.path, i.line) for i in caught.value.issues] == [("suites", 3)]


def test_tags_inside_a_list_are_refused() -> None:
    doc = load_yaml("run:\n  cap_drop:\n    - !reset NET_RAW\n", "p.yaml", {}, merge_tags=True)
    assert [(i.path, i.line) for i in doc.issues] == [("run.cap_drop[0]", 3)]
    assert doc.data == {"run": {"cap_drop": ["NET_RAW"]}}


def test_reader_marks_tags_only_when_asked() -> None:
    tagged = load_yaml("a: !override [1]\nb: !reset\nc: !override '7'\n", "f", {}, merge_tags=True)
    assert tagged.data == {"a": Tagged("!override", [1]), "b": Tagged("!reset", None), "c": Tagged("!override", "7")}
    assert tagged.lines[("b",)] == 2
    plain = load_yaml("a: !override x\n", "f", {})
    assert plain.issues and "!override" in plain.issues[0].message  # other readers refuse it as before


# ---------------------------------------------------------------------------------------------------- hardening


@pytest.mark.parametrize(("written", "option", "fix"), [
    ("read_only: false", "run.read_only is false here", "read_only: !override false"),
    ("security_opt: [no-new-privileges=false]", "run.security_opt does not keep no-new-privileges here",
     "security_opt: !override"),
    ("cap_add: [NET_RAW]", "run.cap_add adds NET_RAW here", "cap_add: !override"),
    ("user: root", "run.user is root (root) here", "user: !override root"),
    ("user: 0", "run.user is 0 (root) here", "user: !override 0"),
    ("pids_limit: 100000", "run.pids_limit is 100000 here", "pids_limit: !override 100000"),
    ("pids_limit: -1", "run.pids_limit is -1 here", "pids_limit: !override -1"),
    ("privileged: true", "run.privileged is true here", "privileged: !override true"),
])
def test_each_hardening_loss_is_warned(project: Path, written: str, option: str, fix: str) -> None:
    m = load(project, f"extends: environments/staging.yaml\nrun:\n  {written}\n", allow_privileged=True)
    [warning] = warnings(m)
    assert warning.startswith(f"staging: {option} but environments/staging.yaml ")
    assert f"write `{fix}" in warning
    assert warning in m.warnings()  # shown on every run and by `porttest validate`


def test_warning_text_matches_the_documented_form(project: Path) -> None:
    m = load(project, "extends: environments/staging.yaml\nrun: {read_only: false}\n")
    assert warnings(m) == ["staging: run.read_only is false here but environments/staging.yaml set it true; "
                           "write `read_only: !override false` if that is meant"]


@pytest.mark.parametrize("written", [
    "read_only: !override false",
    "read_only: !reset",
    "security_opt: !override [no-new-privileges=false]",
    "security_opt: !reset []",
    "cap_add: !override [NET_RAW]",
    "cap_drop: !override [MKNOD]",
    "cap_drop: !reset []",
    "user: !override root",
    "pids_limit: !reset",
    "pids_limit: !override 100000",
    "privileged: !override true",
])
def test_each_hardening_loss_is_silenced_by_a_tag(project: Path, written: str) -> None:
    m = load(project, f"extends: environments/staging.yaml\nrun:\n  {written}\n", allow_privileged=True)
    assert warnings(m) == []


def test_run_override_silences_everything(project: Path) -> None:
    m = load(project, "extends: environments/staging.yaml\nrun: !override {read_only: false}\n")
    assert m.environments["staging"].run.cap_drop is None
    assert warnings(m) == []


def test_tightening_or_equal_spelling_is_not_a_loss(project: Path) -> None:
    m = load(project, """\
        extends: environments/staging.yaml
        run:
          security_opt: [no-new-privileges]
          pids_limit: 64
          user: "10002"
          cap_drop: [NET_RAW]
        """)
    assert warnings(m) == []


# ---------------------------------------------------------------------------------------------------- multi-level


def test_profile_extending_a_profile(project: Path) -> None:
    write(project / "environments" / "hard.yaml", """\
        extends: staging.yaml
        run:
          cap_drop: [MKNOD]
          read_only: false
          environment: {TIER: hard}
          tmpfs: !override {/run: rw}
        """)
    m = load(project, """\
        extends: environments/hard.yaml
        run:
          cap_add: [CHOWN]
          security_opt: !override []
        """)
    run = m.environments["staging"].run
    assert run.cap_drop == ["ALL", "MKNOD"]
    assert run.environment == {"APP_ENV": "staging", "TIER": "hard"}
    assert run.tmpfs == {"/run": "rw"}
    assert run.security_opt == []
    assert run.read_only is False
    assert warnings(m) == [
        "staging: run.read_only is false in environments/hard.yaml but environments/staging.yaml set it true; "
        "write `read_only: !override false` if that is meant",
        "staging: run.cap_add adds CHOWN here but environments/staging.yaml dropped ALL; "
        "write `cap_add: !override [...]` if that is meant",
    ]


def test_sibling_profile_tags_act_on_the_earlier_profile(project: Path) -> None:
    write(project / "environments" / "loose.yaml", "run:\n  cap_drop: !override [NET_RAW]\n  read_only: false\n")
    m = load(project, "extends: [environments/staging.yaml, environments/loose.yaml]")
    run = m.environments["staging"].run
    assert run.cap_drop == ["NET_RAW"]
    assert warnings(m) == [
        "staging: run.read_only is false in environments/loose.yaml but environments/staging.yaml set it true; "
        "write `read_only: !override false` if that is meant",
    ]


def test_engine_paths_inside_an_override_still_resolve(project: Path) -> None:
    write(project / "environments" / "remote.yaml", """\
        engine:
          host: tcp://example.test:2376
          tls: !override {ca_cert: ca.pem, verify: true}
        """)
    m = load(project, "extends: environments/remote.yaml")
    tls = m.environments["staging"].engine.tls
    assert not isinstance(tls, bool) and tls is not None
    assert tls.ca_cert == project / "environments" / "ca.pem"
