"""Compose's interpolation, its .env files, and Compose YAML (anchors, `<<` merges, YAML 1.2) (no engine)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from porttest.config.descriptors import Translation
from porttest.config.descriptors.compose import compose_environment, load_compose, read_dotenv, translate
from porttest.config.descriptors.compose_env import InterpolationError, interpolate
from porttest.config.yaml_source import load_yaml_documents
from porttest.errors import ConfigError, ConfigIssue


def compose(tmp_path: Path, text: str, service: str = "app", env: dict[str, str] | None = None) -> Translation:
    (tmp_path / "compose.yaml").write_text(textwrap.dedent(text))
    return translate(load_compose(tmp_path / "compose.yaml"), service=service, env=env or {}, project_dir=tmp_path)


def refused(tmp_path: Path, text: str) -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as caught:
        compose(tmp_path, text)
    return caught.value.issues


def run_of(tmp_path: Path, body: str, **kwargs: Any) -> dict[str, Any]:
    text = "services:\n  app:\n    image: busybox\n" + textwrap.indent(textwrap.dedent(body), "    ")
    return dict(compose(tmp_path, text, **kwargs).profile["run"])


# ---------------------------------------------------------------------------------------- interpolation


@pytest.mark.parametrize(
    ("text", "expected", "unset"),
    [
        ("$A", "a", ()),
        ("${A}", "a", ()),
        ("pre-${A}-$A-post", "pre-a-a-post", ()),
        ("$A_B", "", ("A_B",)),  # the name runs on: A_B is unset
        ("${A}_B", "a_B", ()),
        ("${UNSET}", "", ("UNSET",)),
        ("${UNSET:-dflt}", "dflt", ()),
        ("${EMPTY:-dflt}", "dflt", ()),
        ("${EMPTY-dflt}", "", ()),
        ("${UNSET-dflt}", "dflt", ()),
        ("${UNSET:-python:3.12-slim}", "python:3.12-slim", ()),
        ("${UNSET:-}", "", ()),
        ("${A:?must be set}", "a", ()),
        ("${EMPTY?only unset counts}", "", ()),
        ("${A:+yes}", "yes", ()),
        ("${EMPTY:+yes}", "", ()),
        ("${EMPTY+yes}", "yes", ()),
        ("${UNSET+yes}", "", ()),
        ("${UNSET:-${A}}", "a", ()),  # nested, as the spec allows
        ("${UNSET:-${ALSO_UNSET:-deep}}", "deep", ()),
        ("${A:-${NEVER_READ}}", "a", ()),  # an unused default warns about nothing
        ("${UNSET:-$OTHER_UNSET}", "", ("OTHER_UNSET",)),
        ("$$", "$", ()),
        ("$${A}", "${A}", ()),
        ("$$$A", "$a", ()),
        ("cost: $$5", "cost: $5", ()),
        ("no dollars", "no dollars", ()),
    ],
)
def test_interpolate(text: str, expected: str, unset: tuple[str, ...]) -> None:
    done = interpolate(text, {"A": "a", "EMPTY": ""})
    assert (done.text, done.unset) == (expected, unset)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${UNSET:?set it in .env}", "required variable UNSET is unset: set it in .env"),
        ("${EMPTY:?}", "required variable EMPTY is empty"),
        ("${UNSET?}", "required variable UNSET is unset"),
        ("a $5", "a lone `$`"),
        ("trailing$", "a lone `$`"),
        ("${1A}", "takes a variable name"),
        ("${A", "never closed"),
        ("${A:-x", "never closed"),
        ("${A/x/y}", "after ${A"),
    ],
)
def test_interpolate_refuses(text: str, message: str) -> None:
    with pytest.raises(InterpolationError, match=message.replace("$", r"\$").replace("{", r"\{")):
        interpolate(text, {"A": "a", "EMPTY": ""})


def test_interpolation_in_a_service_warns_about_unset_variables_once(tmp_path: Path) -> None:
    translation = compose(tmp_path, """\
        services:
          app:
            image: busybox
            environment:
              A: ${MISSING}
              B: ${MISSING}-again
            labels:
              "$NOT_A_KEY_VARIABLE": value
        """)
    assert translation.profile["run"]["environment"] == {"A": "", "B": "-again"}
    assert translation.profile["run"]["labels"] == {"$NOT_A_KEY_VARIABLE": "value"}  # keys are never interpolated
    assert [w for w in translation.warnings if "MISSING" in w] == [
        "services.app.environment.A (line 5): variable MISSING is not set; Compose uses a blank string"]


def test_values_take_their_type_after_interpolation(tmp_path: Path) -> None:
    run = run_of(tmp_path, """\
        read_only: ${RO:-true}
        pids_limit: ${PIDS:-64}
        init: ${INIT:-yes}
        user: ${UID_GID}
        """, env={"UID_GID": "1000:1000"})
    assert run == {"read_only": True, "pids_limit": 64, "init": True, "user": "1000:1000"}


def test_required_variable_is_a_located_issue(tmp_path: Path) -> None:
    issues = refused(tmp_path, """\
        services:
          app:
            image: busybox
            environment:
              POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD in .env}
        """)
    assert [(i.path, i.line, i.file) for i in issues] == [
        ("services.app.environment.POSTGRES_PASSWORD", 5, str(tmp_path / "compose.yaml"))]
    assert issues[0].message == "required variable POSTGRES_PASSWORD is unset: set POSTGRES_PASSWORD in .env"


def test_a_lone_dollar_is_a_located_issue(tmp_path: Path) -> None:
    issues = refused(tmp_path, "services:\n  app:\n    image: busybox\n    command: echo costs $5\n")
    assert (issues[0].line, issues[0].path) == (4, "services.app.command")
    assert "$$" in (issues[0].hint or "")


def test_other_services_are_not_interpolated(tmp_path: Path) -> None:
    translation = compose(tmp_path, """\
        services:
          app: {image: busybox, user: "1000"}
          db: {image: postgres, environment: {P: "${P:?needed by db only}"}}
        """)
    assert translation.profile == {"run": {"user": "1000"}}


# ---------------------------------------------------------------------------------------------------- .env files


def test_read_dotenv_follows_composes_format(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(textwrap.dedent("""\
        # a comment

        PLAIN=value
        export EXPORTED=yes
        SPACED = padded value
        COMMENTED=value # a comment
        HASH=value# not a comment
        DOUBLE="quoted # not a comment" # a comment
        SINGLE='$HOME stays'
        ESCAPED_SINGLE='Let\\'s go!'
        JSON="{\\"hello\\": \\"json\\"}"
        TAB="a\\tb"
        LITERAL_TAB=a\\tb
        EMPTY=
        FROM_SHELL
        NOT_IN_SHELL
        REF=${PLAIN}-${HOME}
        DOLLAR="\\$HOME"
        MULTI="first
        second"
        """).replace("padded value", "padded value   "))  # trailing blanks are dropped
    assert read_dotenv(tmp_path / ".env", {"HOME": "/home/me", "FROM_SHELL": "shell"}) == {
        "PLAIN": "value", "EXPORTED": "yes", "SPACED": "padded value", "COMMENTED": "value",
        "HASH": "value# not a comment", "DOUBLE": "quoted # not a comment", "SINGLE": "$HOME stays",
        "ESCAPED_SINGLE": "Let's go!", "JSON": '{"hello": "json"}', "TAB": "a\tb", "LITERAL_TAB": "a\\tb",
        "EMPTY": "", "FROM_SHELL": "shell", "REF": "value-/home/me", "DOLLAR": "$HOME", "MULTI": "first\nsecond",
    }


def test_read_dotenv_of_a_missing_file_is_empty(tmp_path: Path) -> None:
    assert read_dotenv(tmp_path / ".env") == {}


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("A=1\nnot valid line\n", 2, "not KEY=VALUE"),
        ("A=1\nB='never closed\nC=3\n", 2, "never closed"),
        ('A="x" trailing\n', 1, "after the closing quote"),
        ("A=${B:?B is required}\n", 1, "required variable B is unset"),
        ("A=cost $5\n", 1, "a lone `$`"),
    ],
)
def test_read_dotenv_refuses_with_file_and_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    (tmp_path / "app.env").write_text(text)
    with pytest.raises(ConfigError) as caught:
        read_dotenv(tmp_path / "app.env")
    issue = caught.value.issues[0]
    assert (issue.file, issue.line) == (str(tmp_path / "app.env"), line)
    assert message in issue.message


def test_compose_environment_puts_the_shell_over_the_dotenv_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("TAG=from-file\nONLY_FILE=1\n")
    assert compose_environment(tmp_path, {"TAG": "from-shell"}) == {"TAG": "from-shell", "ONLY_FILE": "1"}


# ---------------------------------------------------------------------------------------- YAML: merges and 1.2


def test_merge_keys_explicit_keys_win_and_the_first_fragment_wins(tmp_path: Path) -> None:
    translation = compose(tmp_path, """\
        x-a: &a {user: "1", read_only: true, hostname: from-a}
        x-b: &b {user: "2", init: true, hostname: from-b}
        services:
          app:
            <<: [*a, *b]
            hostname: mine
            image: busybox
        """)
    assert translation.profile["run"] == {"user": "1", "read_only": True, "init": True, "hostname": "mine"}
    assert translation.lines[("run", "user")] == 1 and translation.lines[("run", "init")] == 2
    assert translation.lines[("run", "hostname")] == 6


def test_merge_keys_stay_refused_unless_asked_for() -> None:
    text = "x: &x {a: 1}\ny:\n  <<: *x\n  b: 2\n"
    plain = load_yaml_documents(text, "m.yaml")[0]
    assert plain.data["y"] == {"b": 2}
    assert [(i.message, i.line) for i in plain.issues] == [("merge keys (<<) are not supported", 3)]
    merged = load_yaml_documents(text, "m.yaml", merge_keys=True)[0]
    assert (merged.data["y"], merged.issues) == ({"b": 2, "a": 1}, ())
    assert (merged.lines[("y", "a")], merged.lines[("y", "b")]) == (1, 4)


def test_a_merge_key_takes_only_mappings() -> None:
    doc = load_yaml_documents("x: &x [1, 2]\ny:\n  <<: *x\n", "m.yaml", merge_keys=True)[0]
    assert [i.message for i in doc.issues] == ["a merge key (<<) takes a mapping or a list of mappings"]


def test_compose_files_are_yaml_1_2(tmp_path: Path) -> None:
    run = run_of(tmp_path, """\
        ports:
          - 2222:22
        environment:
          DEBUG: yes
          MODE: 0755
        """)
    assert run["ports"] == {"22/tcp": 2222}  # YAML 1.1 would read 2222:22 as 133342
    assert run["environment"] == {"DEBUG": "yes", "MODE": "493"}


def test_reset_and_override_replace_or_remove_what_extends_would_merge(tmp_path: Path) -> None:
    t = compose(tmp_path, """\
        x-hardened: &hardened
          read_only: true
          cap_drop: [ALL]
          security_opt: [no-new-privileges:true]
        services:
          base:
            image: x
            <<: *hardened
            environment: {A: "1", B: "2"}
            tmpfs: [/tmp]
          app:
            extends: base
            cap_drop: !reset []
            environment: !override {C: "$$HOME"}
            read_only: !reset null
            tmpfs: [/run]
        """)
    run = t.profile["run"]
    # As `docker compose config` (v2) prints it: reset keys gone, the override whole, the rest merged.
    assert "cap_drop" not in run and "read_only" not in run
    assert run["environment"] == {"C": "$HOME"}
    assert run["tmpfs"] == {"/tmp": "", "/run": ""} and run["security_opt"] == ["no-new-privileges:true"]


def test_reset_and_override_in_a_service_without_extends_are_the_plain_value_or_nothing(tmp_path: Path) -> None:
    run = run_of(tmp_path, """\
        user: !override "1000"
        ports: !reset ["8080:80"]
        """)
    assert "ports" not in run and run["user"] == "1000"
    (tmp_path / "compose.yaml").write_text("services:\n  app:\n    image: x\n    ports: !frob []\n")
    with pytest.raises(ConfigError, match="unknown YAML tag !frob"):
        compose(tmp_path, (tmp_path / "compose.yaml").read_text())


def test_load_compose_refuses_a_missing_file_and_several_documents(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read Compose file .*: not found"):
        load_compose(tmp_path / "nope.yaml")
    (tmp_path / "two.yaml").write_text("services: {}\n---\nservices: {}\n")
    with pytest.raises(ConfigError, match="exactly one YAML document"):
        load_compose(tmp_path / "two.yaml")
