"""ship modes and image.verify in matrix.yaml: shorthands, the registry form, and located errors (no engine)."""

from __future__ import annotations

from pathlib import Path

from porttest.config.models import ShipViaRegistry
from tests.unit.config.test_config import issues_of, load, matrix_file, only, project

__all__ = ["project"]  # the fixture, shared with test_config


def test_ship_modes_by_name_and_registry_push(project: Path) -> None:
    m = load(project, """
        environments:
          a: {ship: pull}
          b: {ship: {registry: {push: "127.0.0.1:5000/shop/api"}}}
          c: {}
    """)
    a, b, c = (m.environments[n] for n in "abc")
    assert (a.ship_mode, a.push_to) == ("pull", None)
    assert isinstance(b.ship, ShipViaRegistry)
    assert (b.ship_mode, b.push_to) == ("registry", "127.0.0.1:5000/shop/api")
    assert (c.ship_mode, c.push_to) == ("auto", None)


def test_unknown_ship_mode_names_the_choices_on_its_line(project: Path) -> None:
    path = matrix_file(project, "environments:\n  a: {}\n  b: {ship: regsitry}\n")
    issue = only(issues_of(path), "environments.b.ship")
    assert issue.line == 6 and "unknown ship mode" in issue.message and "'regsitry'" in issue.message
    assert issue.hint is not None and "registry: {push:" in issue.hint and "pull" in issue.hint


def test_registry_push_must_be_a_repository_without_tag(project: Path) -> None:
    path = matrix_file(project, "environments:\n  b: {ship: {registry: {push: '127.0.0.1:5000/shop:1'}}}\n")
    issues = issues_of(path)
    issue = only(issues, "environments.b.ship.registry.push")
    assert issue.message.startswith("not a repository name") and "without tag" in (issue.hint or "")
    assert [i.path for i in issues] == ["environments.b.ship.registry.push"]  # no noise from the string form


def test_registry_without_push_says_what_to_add(project: Path) -> None:
    path = matrix_file(project, "environments:\n  b:\n    ship:\n      registry: {}\n")
    issue = only(issues_of(path), "environments.b.ship.registry.push")
    assert issue.hint == "add `push:`"


def test_verify_hooks_as_strings_or_mappings(project: Path) -> None:
    head = ("version: 1\nimage:\n  ref: shop/api:1\n  verify:\n    - cosign verify {ref}\n"
            "    - {command: 'trivy image {id}', name: trivy, timeout: 30}\nsuites: [suites/baseline]\n")
    m = load(project, "environments: {local: {}}\n", head=head)
    first, second = m.image.verify
    assert (first.command, first.name, first.timeout) == ("cosign verify {ref}", None, 600.0)
    assert (second.command, second.name, second.timeout) == ("trivy image {id}", "trivy", 30.0)


def test_verify_hook_with_a_misspelt_key_is_located(project: Path) -> None:
    head = "version: 1\nimage:\n  ref: shop/api:1\n  verify:\n    - {cmd: x}\nsuites: [suites/baseline]\n"
    issues = issues_of(matrix_file(project, "environments: {local: {}}\n", head=head))
    issue = only(issues, "image.verify[0].cmd")
    assert issue.line == 5 and issue.hint == "did you mean `command`?"


def test_a_misspelt_registry_key_and_a_number_get_the_ship_hints(project: Path) -> None:
    path = matrix_file(project, "environments:\n  a: {ship: {registri: {push: '127.0.0.1:5000/a/b'}}}\n"
                                "  b: {ship: 5}\n")
    issues = issues_of(path)
    assert only(issues, "environments.a.ship.registri").hint == "did you mean `registry`?"
    number = only(issues, "environments.b.ship")
    assert number.message.startswith("unknown ship mode") and "registry: {push:" in (number.hint or "")


def test_a_nul_character_in_a_profile_is_located_in_the_profile(project: Path) -> None:
    (project / "p.yaml").write_text('run: {hostname: "a\\0b"}\n')
    issues = issues_of(matrix_file(project, "environments:\n  a: {extends: p.yaml}\n"))
    issue = only(issues, "run.hostname")
    assert issue.message == "contains a NUL character" and issue.file.endswith("p.yaml") and issue.line == 1
