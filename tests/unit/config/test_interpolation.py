"""${VAR} / ${VAR:-default} / $$ interpolation, and type resolution after interpolation (no engine)."""

from __future__ import annotations

from pathlib import Path

import pytest

from porttest.config import parse_matrix, read_matrix
from porttest.config.yaml_source import Located, dotted, interpolate, load_yaml
from porttest.errors import ConfigError


def interp(text: str, env: dict[str, str]) -> tuple[str, dict[str, str]]:
    used: dict[str, str] = {}
    return interpolate(text, env, used), used


# ---------------------------------------------------------------------------------------------------- interpolate()


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("${A}", {"A": "x"}, "x"),
        ("pre-${A}-post", {"A": "x"}, "pre-x-post"),
        ("${A}${B}", {"A": "1", "B": "2"}, "12"),
        ("${A:-dflt}", {}, "dflt"),
        ("${A:-dflt}", {"A": "set"}, "set"),
        ("${A:-dflt}", {"A": ""}, "dflt"),  # like compose: empty counts as unset when a default is given
        ("${A}", {"A": ""}, ""),
        ("${A:-}", {}, ""),
        ("${A:-python:3.12-slim}", {}, "python:3.12-slim"),  # a default may hold ':' and '-'
        ("a$$b", {}, "a$b"),
        ("$${A}", {"A": "no"}, "${A}"),  # $$ escapes, so this is a literal ${A}
        ("$$$$", {}, "$$"),
        ("cost $5 and $HOME", {}, "cost $5 and $HOME"),  # only ${...} and $$ are special
        ("no dollars", {}, "no dollars"),
    ],
)
def test_interpolate(text: str, env: dict[str, str], expected: str) -> None:
    assert interp(text, env)[0] == expected


def test_interpolate_records_the_variables_it_read() -> None:
    out, used = interp("${A} ${B:-x} $$ ${C:-}", {"A": "1"})
    assert out == "1 x $ "
    assert used == {"A": "1", "B": "x", "C": ""}  # each with the value put in, defaults included


def test_interpolate_unset_without_default_raises_key_error_naming_it() -> None:
    with pytest.raises(KeyError) as caught:
        interp("x ${MISSING_ONE} y", {})
    assert caught.value.args[0] == "MISSING_ONE"


# ---------------------------------------------------------------------------------------------------- load_yaml()


def test_unquoted_default_true_becomes_a_bool() -> None:
    doc = load_yaml("ro: ${RO:-true}\n", "f.yaml", {})
    assert doc.data == {"ro": True}
    assert doc.data["ro"] is True


def test_quoted_stays_a_string() -> None:
    doc = load_yaml("a: \"${RO:-true}\"\nb: '${RO:-true}'\n", "f.yaml", {})
    assert doc.data == {"a": "true", "b": "true"}


def test_unquoted_value_from_the_environment_resolves_its_type() -> None:
    doc = load_yaml("ro: ${RO:-true}\nn: ${N:-5}\nf: ${F}\nnull_: ${E}\ns: ${S}\n", "f.yaml",
                    {"RO": "false", "F": "0.5", "E": "null", "S": "hello"})
    assert doc.data == {"ro": False, "n": 5, "f": 0.5, "null_": None, "s": "hello"}
    assert isinstance(doc.data["n"], int) and not isinstance(doc.data["n"], bool)


def test_values_without_dollar_are_plain_yaml() -> None:
    doc = load_yaml("a: true\nb: '5'\nc: 5\n", "f.yaml", {})
    assert doc.data == {"a": True, "b": "5", "c": 5}


def test_dollar_dollar_in_yaml() -> None:
    doc = load_yaml('cmd: "echo $$HOME"\nraw: a$$b\n', "f.yaml", {"HOME": "/root"})
    assert doc.data == {"cmd": "echo $HOME", "raw": "a$b"}


def test_variables_inside_lists_and_nested_maps() -> None:
    doc = load_yaml("l: [\"${A}\", b]\nm:\n  n:\n    o: ${B:-deep}\n", "f.yaml", {"A": "x"})
    assert doc.data == {"l": ["x", "b"], "m": {"n": {"o": "deep"}}}
    assert dict(doc.variables) == {"A": "x", "B": "deep"}


def test_unset_variable_is_an_error_naming_it_with_its_line() -> None:
    text = "a: 1\nb:\n  c: ${NOT_SET_ANYWHERE}\n"
    (issue,) = load_yaml(text, "f.yaml", {}).issues
    assert issue.path == "b.c"
    assert issue.line == 3
    assert issue.file == "f.yaml"
    assert "NOT_SET_ANYWHERE" in issue.message and "not set" in issue.message
    assert issue.hint is not None and "${NOT_SET_ANYWHERE:-" in issue.hint


def test_every_unset_variable_is_reported() -> None:
    text = "a: ${ONE}\nb: [x, \"${TWO}\"]\nc: ${THREE:-ok}\n"
    issues = load_yaml(text, "f.yaml", {}).issues
    got = {(i.path, i.line) for i in issues}
    assert got == {("a", 1), ("b[1]", 2)}
    text_of_all = "\n".join(i.render() for i in issues)
    assert "ONE" in text_of_all and "TWO" in text_of_all and "THREE" not in text_of_all


def test_empty_document_is_an_empty_mapping() -> None:
    doc = load_yaml("# only a comment\n", "f.yaml", {})
    assert doc.data == {}


def test_line_map_and_the_deepest_written_prefix() -> None:
    doc = load_yaml("top: 1\nenv:\n  s:\n    run:\n      user: x\n    list:\n      - a\n      - b\n", "f.yaml", {})
    assert doc.lines[("env", "s", "run", "user")] == 5
    assert doc.deepest(("env", "s", "run", "user")) == (4, 5)
    assert doc.deepest(("env", "s", "list", 1)) == (4, 8)
    assert doc.deepest(("env", "s", "run", "not_written")) == (3, 4)  # falls back to the parent
    assert doc.deepest(("nowhere",)) == (0, 1)  # the document root
    assert doc.deepest(("nowhere",), shortest=1) == (-1, None)
    assert isinstance(doc, Located)


@pytest.mark.parametrize(
    ("path", "text"),
    [
        (("environments", "staging", "run", "read_only"), "environments.staging.run.read_only"),
        (("suites", 1), "suites[1]"),
        (("a", 0, "b", 2), "a[0].b[2]"),
        ((), ""),
    ],
)
def test_dotted(path: tuple[str | int, ...], text: str) -> None:
    assert dotted(path) == text


# ---------------------------------------------------------------------------------------------------- through a matrix


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "test_x.py").write_text("def test_x():\n    pass\n")
    return tmp_path


HEAD = "version: 1\nimage: ${IMAGE:-shop/api:1}\nsuites: [suites]\n"


def test_matrix_variables_and_types(project: Path) -> None:
    text = HEAD + (
        "environments:\n"
        "  s:\n"
        "    run:\n"
        "      read_only: ${RO:-true}\n"
        "      pids_limit: ${PIDS:-64}\n"
        "      environment:\n"
        "        UNQUOTED: ${FLAG:-true}\n"
        "        QUOTED: \"${FLAG:-true}\"\n"
        "        LITERAL: \"$${NOT_A_VAR}\"\n"
        "        FROM_ENV: ${APP_ENV}\n"
    )
    m = parse_matrix(text, project / "m.yaml", {"APP_ENV": "staging", "PIDS": "128"})
    run = m.environments["s"].run
    assert run.read_only is True
    assert run.pids_limit == 128
    assert run.environment == {"UNQUOTED": True, "QUOTED": "true", "LITERAL": "${NOT_A_VAR}", "FROM_ENV": "staging"}
    assert isinstance(run.environment["UNQUOTED"], bool)
    assert isinstance(run.environment["QUOTED"], str)
    assert m.image.ref == "shop/api:1"


def test_matrix_unset_variable_error_has_path_and_line(project: Path) -> None:
    text = HEAD + "environments:\n  s:\n    run:\n      hostname: ${HOSTNAME_FOR_TEST}\n"
    with pytest.raises(ConfigError) as caught:
        parse_matrix(text, project / "m.yaml", {})
    (issue,) = caught.value.issues
    assert issue.path == "environments.s.run.hostname"
    assert issue.line == 7
    assert issue.file == str(project / "m.yaml")
    assert "HOSTNAME_FOR_TEST" in issue.message
    assert caught.value.exit_code == 2


def test_profiles_are_interpolated_with_the_same_environment(project: Path) -> None:
    (project / "p.yaml").write_text("run:\n  hostname: ${HN:-from-default}\n  user: ${U}\n")
    text = HEAD + "environments:\n  s:\n    extends: p.yaml\n"
    m = parse_matrix(text, project / "m.yaml", {"U": "1000"})
    assert m.environments["s"].run.hostname == "from-default"
    assert m.environments["s"].run.user == "1000"


def test_unset_variable_in_a_profile_names_the_profile_file(project: Path) -> None:
    profile = project / "p.yaml"
    profile.write_text("# profile\nrun:\n  hostname: ${NOPE_IN_PROFILE}\n")
    with pytest.raises(ConfigError) as caught:
        parse_matrix(HEAD + "environments:\n  s:\n    extends: p.yaml\n", project / "m.yaml", {})
    (issue,) = caught.value.issues
    assert issue.file == str(profile) and issue.line == 3 and "NOPE_IN_PROFILE" in issue.message


def test_read_matrix_defaults_to_the_process_environment(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = project / "m.yaml"
    path.write_text(HEAD + "environments:\n  s:\n    run: {hostname: \"${PORTTEST_UNIT_HN}\"}\n")
    monkeypatch.setenv("PORTTEST_UNIT_HN", "from-os-environ")
    assert read_matrix(path).environments["s"].run.hostname == "from-os-environ"
    monkeypatch.delenv("PORTTEST_UNIT_HN")
    with pytest.raises(ConfigError):
        read_matrix(path)
    # an explicit mapping replaces os.environ entirely
    monkeypatch.setenv("PORTTEST_UNIT_HN", "ignored")
    assert read_matrix(path, env={"PORTTEST_UNIT_HN": "explicit"}).environments["s"].run.hostname == "explicit"
