"""porttest.reporters.junit, markdown, html and github: pure renderers over hand-built RunResults (no engine)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
from junitparser import Error, Failure, JUnitXml, Skipped, TestSuite

from porttest.reporters import github, html, junit, markdown
from porttest.results.facts import parse_facts
from porttest.results.model import EnvironmentResult, ImageIdentity, RunResult, ShipRecord, TestRecord, assemble

IMAGE_ID = "sha256:" + "0123456789ab" + "c" * 52
DIGEST = "sha256:" + "d" * 64
IMAGE = ImageIdentity(ref="shop/api:1.4.2", id=IMAGE_ID, digest=DIGEST)

T_SAME = "suites/baseline/test_os.py::test_os_release"
T_ROOTFS = "suites/baseline/test_fs.py::TestWrites::test_tmp_and_app_writable[/app]"
T_USER = "suites/baseline/test_user.py::test_runs_as_root"
ROOTFS_MESSAGE = "OSError: [Errno 30] Read-only file system: '/app/x'\n  raised in write_probe() | <lambda>"

# What the probe prints in a plain local container (root, writable rootfs, no limits) ...
LOCAL_PROBE = """\
uid=0
gid=0
user=root
group=root
groups=0
group_names=root
kernel=6.1.0-18-amd64
arch=x86_64
proc_version=Linux version 6.1.0-18-amd64 (debian-kernel@lists.debian.org) #1 SMP Debian 6.1.76-1
os_PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
os_ID=debian
os_VERSION_ID="12"
os_VERSION_CODENAME=bookworm
cgroup=2
mem_max=max
cpu_max=max 100000
pids_max=max
mount=overlay / overlay rw,relatime,lowerdir=/var/lib/docker/overlay2/l/A 0 0
mount=proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
capeff=\t00000000a80425fb
seccomp=\t2
nnp=\t0
limit=Max open files            1048576              1048576              files
limit=Max processes             unlimited            unlimited            processes
hostname=4f1c2a9e7b10
resolv=nameserver 127.0.0.11
tz=
lang=C.UTF-8
lc_all=
cpus=8
env_name=PATH
env_name=HOME
env_name=HOSTNAME
"""
# ... and in the staging profile (uid 10001, read-only rootfs with a /tmp tmpfs, no capabilities, 256 MiB, 256 pids).
STAGING_PROBE = (LOCAL_PROBE
                 .replace("uid=0\ngid=0\nuser=root\ngroup=root\ngroups=0\ngroup_names=root",
                          "uid=10001\ngid=10001\nuser=\ngroup=\ngroups=10001\ngroup_names=")
                 .replace("overlay / overlay rw,", "overlay / overlay ro,")
                 .replace("mount=proc", "mount=tmpfs /tmp tmpfs rw,nosuid,nodev 0 0\nmount=proc")
                 .replace("mem_max=max", "mem_max=268435456").replace("pids_max=max", "pids_max=256")
                 .replace("capeff=\t00000000a80425fb", "capeff=\t0000000000000000")
                 .replace("hostname=4f1c2a9e7b10", "hostname=9a8b7c6d5e4f")
                 .replace("env_name=HOSTNAME", "env_name=HOSTNAME\nenv_name=APP_ENV"))
LOCAL_FACTS = parse_facts(LOCAL_PROBE)
STAGING_FACTS = parse_facts(STAGING_PROBE)

LOCAL_ENGINE = {"kind": "docker", "version": "24.0.7", "endpoint": "unix:///var/run/docker.sock"}
CLOUD_ENGINE = {"kind": "docker", "version": "20.10.24", "endpoint": "tcp://127.0.0.1:23760"}


def env(name: str, *tests: tuple[str, str] | tuple[str, str, str], facts: dict[str, object] | None = None,
        **extra: object) -> EnvironmentResult:
    records = tuple(TestRecord(id=t[0], outcome=t[1], duration=0.25, message=t[2] if len(t) > 2 else None,
                               detail=("Traceback...\n" + t[2]) if len(t) > 2 else None) for t in tests)
    extra.setdefault("engine", LOCAL_ENGINE)
    extra.setdefault("ship", ShipRecord(mode="present"))
    return EnvironmentResult(name=name, status="ok", image_id=IMAGE_ID, tests=records, facts=facts or {},
                             duration=3.5, **extra)


def build(*environments: EnvironmentResult) -> RunResult:
    return assemble(IMAGE, {e.name: e for e in environments}, run_id="run-42", started_at="2024-05-01T10:00:00Z",
                    porttest_version="0.1.0", duration=7.5)


@pytest.fixture
def parity() -> RunResult:
    return build(env("local", (T_SAME, "passed"), (T_USER, "passed"), facts=LOCAL_FACTS),
                 env("cloud", (T_SAME, "passed"), (T_USER, "passed"), facts=LOCAL_FACTS, engine=CLOUD_ENGINE,
                     ship=ShipRecord(mode="load", seconds=1.5, bytes=1000)))


@pytest.fixture
def diverged() -> RunResult:
    return build(env("local", (T_SAME, "passed"), (T_ROOTFS, "passed"), (T_USER, "passed"), facts=LOCAL_FACTS),
                 env("staging", (T_SAME, "passed"), (T_ROOTFS, "failed", ROOTFS_MESSAGE),
                     (T_USER, "failed", "AssertionError: assert 10001 == 0"), facts=STAGING_FACTS))


@pytest.fixture
def errored() -> RunResult:
    broken = EnvironmentResult(name="cloud", status="error", phase="ship", engine=CLOUD_ENGINE,
                               error="cannot load image sha256:0123 into tcp://127.0.0.1:23760: EOF, connection reset",
                               hint="check the engine's disk space: docker -H tcp://127.0.0.1:23760 system df")
    return build(env("local", (T_SAME, "passed"), (T_USER, "skipped", "no sudo in image"), facts=LOCAL_FACTS),
                 broken)


def test_fixtures_are_what_they_claim(parity: RunResult, diverged: RunResult, errored: RunResult) -> None:
    assert (parity.verdict, diverged.verdict, errored.verdict) == ("parity", "diverged", "error")
    assert STAGING_FACTS["filesystem"]["rootfs_read_only"] is True
    assert [row.id for row in diverged.divergent] == [T_ROOTFS, T_USER]
    assert any("rootfs read-only" in line for line in diverged.divergent[0].explanation)


# ---------------------------------------------------------------- JUnit


def _suites(xml_text: str, tmp_path: Path) -> dict[str, TestSuite]:
    path = tmp_path / "junit.xml"
    path.write_text(xml_text, encoding="utf-8")
    document = JUnitXml.fromfile(str(path))
    return {suite.name: suite for suite in document}


def _props(suite: TestSuite) -> dict[str, str]:
    return {p.name: p.value for p in suite.properties()}  # type: ignore[no-untyped-call]


def test_junit_one_testsuite_per_environment_with_properties(diverged: RunResult, tmp_path: Path) -> None:
    suites = _suites(junit.render(diverged), tmp_path)
    assert list(suites) == ["local", "staging"]
    props = _props(suites["staging"])
    assert props["image.ref"] == "shop/api:1.4.2"
    assert props["image.id"] == IMAGE_ID
    assert props["image.digest"] == DIGEST
    assert props["environment.image_id"] == IMAGE_ID
    assert props["environment.image_matches"] == "true"
    assert props["engine.kind"] == "docker"
    assert props["engine.version"] == "24.0.7"
    assert props["engine.endpoint"] == "unix:///var/run/docker.sock"
    assert props["ship.mode"] == "present"
    assert props["environment.status"] == "ok"
    assert props["porttest.verdict"] == "diverged"
    assert set(_props(suites["local"])) == set(props)  # the same names in every suite


def test_junit_cases_counts_and_failure_message(diverged: RunResult, tmp_path: Path) -> None:
    suites = _suites(junit.render(diverged), tmp_path)
    staging = suites["staging"]
    assert (staging.tests, staging.failures, staging.errors, staging.skipped) == (3, 2, 0, 0)
    assert (suites["local"].tests, suites["local"].failures) == (3, 0)
    cases = {case.name: case for case in staging}
    rootfs = cases["test_tmp_and_app_writable[/app]"]
    assert rootfs.classname == "suites.baseline.test_fs.TestWrites"
    assert rootfs.time == pytest.approx(0.25)
    [failure] = rootfs.result
    assert isinstance(failure, Failure)
    assert failure.message == ROOTFS_MESSAGE  # newlines, `|` and `<` survive the round trip
    assert "Traceback" in (failure.text or "")
    assert cases["test_os_release"].classname == "suites.baseline.test_os"
    assert cases["test_os_release"].is_passed


def test_junit_divergent_cases_carry_the_explanation(diverged: RunResult) -> None:
    root = ET.fromstring(junit.render(diverged))
    outs = [case.findtext("system-out") or "" for case in root.iter("testcase")
            if case.get("name") == "test_tmp_and_app_writable[/app]"]
    assert len(outs) == 2  # in both environments' suites
    assert all("staging: failed" in out and "rootfs read-only" in out for out in outs)
    same = [case for case in root.iter("testcase") if case.get("name") == "test_os_release"]
    assert all(case.find("system-out") is None for case in same)


def test_junit_environment_in_error_is_one_error_case(errored: RunResult, tmp_path: Path) -> None:
    suites = _suites(junit.render(errored), tmp_path)
    cloud = suites["cloud"]
    assert (cloud.tests, cloud.errors) == (1, 1)
    [case] = list(cloud)
    assert case.name == "ship"
    [error] = case.result
    assert isinstance(error, Error)
    assert "cannot load image" in (error.message or "")
    assert "hint: check the engine's disk space" in (error.text or "")
    assert _props(cloud)["environment.status"] == "error"
    assert _props(cloud)["engine.endpoint"] == "tcp://127.0.0.1:23760"
    local = {case.name: case for case in suites["local"]}
    [skipped] = local["test_runs_as_root"].result
    assert isinstance(skipped, Skipped) and skipped.message == "no sudo in image"


def test_junit_survives_control_characters_and_markup(tmp_path: Path) -> None:
    nasty = "\x1b[31mred\x1b[0m & <b>\"quoted\"</b> \x00 ]]> end"
    result = build(env("local", (T_SAME, "passed")), env("staging", (T_SAME, "failed", nasty)))
    suites = _suites(junit.render(result), tmp_path)
    [failure] = next(iter(suites["staging"])).result
    assert failure.message == "\\x1b[31mred\\x1b[0m & <b>\"quoted\"</b> \\x00 ]]> end"


def test_junit_missing_test_is_skipped_not_dropped(tmp_path: Path) -> None:
    result = build(env("local", (T_SAME, "passed"), (T_USER, "passed")), env("staging", (T_SAME, "passed")))
    suites = _suites(junit.render(result), tmp_path)
    cases = {case.name: case for case in suites["staging"]}
    [skipped] = cases["test_runs_as_root"].result
    assert isinstance(skipped, Skipped)
    assert skipped.message == "not run in staging (ran in local)"


@pytest.mark.parametrize(("node_id", "expected"), [
    ("suites/a/test_x.py::test_y", ("suites.a.test_x", "test_y", "suites/a/test_x.py")),
    ("test_x.py::TestA::TestB::test_y[a::b-c/d]", ("test_x.TestA.TestB", "test_y[a::b-c/d]", "test_x.py")),
    ("weird", ("", "weird", "")),
])
def test_junit_names_follow_pytest(node_id: str, expected: tuple[str, str, str]) -> None:
    assert junit.split_node_id(node_id) == expected


# ---------------------------------------------------------------- Markdown


def test_markdown_verdict_identity_and_environments(diverged: RunResult) -> None:
    text = markdown.render(diverged)
    assert text.startswith("## ")
    assert "**verdict: diverged**" in text and "exit code **3**" in text
    assert f"`{IMAGE_ID}`" in text and f"`{DIGEST}`" in text and "`shop/api:1.4.2`" in text
    assert "every environment that ran used this very image" in text
    staging = next(line for line in text.splitlines() if line.startswith("| **staging**"))
    assert "docker 24.0.7" in staging and "0123456789ab" in staging and "present" in staging
    assert "1 passed, 2 failed" in staging


def test_markdown_matrix_marks_divergent_rows(diverged: RunResult) -> None:
    lines = markdown.render(diverged).splitlines()
    header = lines.index("| | test | local | staging |")
    same = next(line for line in lines[header:] if T_SAME in line)
    rootfs = next(line for line in lines[header:] if T_ROOTFS in line)
    assert same.startswith("|  | ") and same.count("✅ passed") == 2
    assert rootfs.startswith(f"| {markdown.DIVERGENT_MARK} |")
    assert rootfs.endswith("| ✅ passed | ❌ failed |")


def test_markdown_divergences_show_messages_and_explanation(diverged: RunResult) -> None:
    text = markdown.render(diverged)
    section = text.split("### Divergences", 1)[1].split("### Facts that differ", 1)[0]
    assert f"#### ≠ `{T_ROOTFS}`" in section
    # One table cell: `|` escaped, `<` as an entity, the newline folded (the one-line form).
    assert ("| staging | ❌ failed | OSError: [Errno 30] Read-only file system: '/app/x' raised in write_probe() "
            "\\| &lt;lambda&gt; |") in section
    assert "| local | ✅ passed |  |" in section
    assert "- staging: rootfs read-only; local: rootfs writable" in section
    assert "<details><summary>staging: full message</summary>" in section  # the multi-line original


def test_markdown_table_rows_keep_their_column_count(diverged: RunResult) -> None:
    tables: list[list[str]] = [[]]
    for line in markdown.render(diverged).splitlines():
        if line.startswith("|"):
            tables[-1].append(line)
        elif tables[-1]:
            tables.append([])
    tables = [t for t in tables if t]
    assert len(tables) >= 5  # environments, matrix, two divergences, facts
    for table in tables:
        widths = {len(re.findall(r"(?<!\\)\|", line)) for line in table}
        assert len(widths) == 1, table


def test_markdown_facts_that_differ(diverged: RunResult) -> None:
    facts = markdown.render(diverged).split("### Facts that differ", 1)[1]
    rows = {line.split(" | ")[0].strip("| `"): line for line in facts.splitlines() if line.startswith("| `")}
    assert rows["user.uid"].endswith("| 0 | 10001 |")
    assert rows["filesystem.rootfs_read_only"].endswith("| no | yes |")
    assert rows["limits.memory_bytes"].endswith("| unlimited | 256 MiB |")
    assert rows["env_names"].endswith("| HOME, HOSTNAME, PATH | APP_ENV, HOME, HOSTNAME, PATH |")
    assert "hostname" not in rows  # differs, but explains nothing
    assert "kernel" not in rows  # the same everywhere


def test_markdown_cell_escaping() -> None:
    assert markdown.cell("a|b\nc<d>&") == "a\\|b<br>c&lt;d&gt;&amp;"
    assert markdown.code("x`y", in_table=True) == "`` x`y ``"
    assert markdown.code("a|b", in_table=True) == "`a\\|b`"
    assert markdown.code("a|b") == "`a|b`"


def test_markdown_parity_and_error(parity: RunResult, errored: RunResult) -> None:
    text = markdown.render(parity)
    assert "**verdict: parity**" in text and "exit code **0**" in text
    assert "### Divergences" not in text and "### Facts that differ" not in text
    assert "load 1.0 kB in 1.5s" in text
    text = markdown.render(errored)
    cloud = next(line for line in text.splitlines() if line.startswith("| **cloud**"))
    assert "**error** (ship)" in cloud
    assert "during ship: cannot load image" in cloud and "<br>hint: check the engine" in cloud


def test_markdown_long_runs_keep_the_interesting_rows() -> None:
    many = [(f"t.py::test_{i}", "passed") for i in range(20)]
    result = build(env("a", *many, (T_USER, "passed")), env("b", *many, (T_USER, "failed", "boom")))
    text = markdown.render(result, max_rows=10)
    assert "t.py::test_3`" not in text and T_USER in text
    assert "20 tests that passed in every environment are not listed" in text


# ---------------------------------------------------------------- HTML


class _Cells(HTMLParser):
    """Collects the grid's cells and rows, and every src/href attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[dict[str, str | None]] = []
        self.rows: list[dict[str, str | None]] = []
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.in_grid = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"] or "")
        if tag == "table":
            self.in_grid = a.get("id") == "grid"
        self.links += [v or "" for k, v in attrs if k in ("src", "href", "action", "srcset", "poster")]
        if self.in_grid and tag == "td" and "cell" in (a.get("class") or "").split():
            self.cells.append(a)
        if self.in_grid and tag == "tr" and a.get("data-test"):
            self.rows.append(a)

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self.in_grid = False


def _parse(text: str) -> _Cells:
    parser = _Cells()
    parser.feed(text)
    return parser


def test_html_is_self_contained(diverged: RunResult, errored: RunResult) -> None:
    for result in (diverged, errored):
        page = html.render(result)
        assert "http://" not in page and "https://" not in page
        assert "src=" not in page and "@import" not in page and "url(" not in page
        assert _parse(page).links == ["data:,"]  # the empty favicon, so the browser asks for nothing
        assert "default-src &#x27;none&#x27;" in page  # a CSP that forbids every load
        assert "<style>" in page and "<script>" in page


def test_html_external_looking_content_is_only_text() -> None:
    message = 'see https://evil.example/x <img src="http://evil.example/y.png"> <script>alert(1)</script>'
    result = build(env("local", (T_SAME, "passed")), env("staging", (T_SAME, "failed", message)))
    page = html.render(result)
    parser = _parse(page)
    assert parser.links == ["data:,"]
    assert "<img" not in page and "<script>alert" not in page
    assert "&lt;img src=&quot;http://evil.example/y.png&quot;&gt;" in page


def test_html_grid_cells_classes_and_data(diverged: RunResult) -> None:
    parser = _parse(html.render(diverged))
    cells = {(c["data-test"], c["data-env"]): c for c in parser.cells}
    assert len(cells) == len(parser.cells) == 6
    assert set(cells) == {(t, e) for t in (T_SAME, T_ROOTFS, T_USER) for e in ("local", "staging")}
    assert cells[(T_ROOTFS, "staging")]["class"] == "cell outcome-failed"
    assert cells[(T_ROOTFS, "staging")]["data-message"] == ROOTFS_MESSAGE
    assert cells[(T_ROOTFS, "local")]["class"] == "cell outcome-passed"
    assert cells[(T_ROOTFS, "local")]["data-message"] == "passed"
    rows = {r["data-test"]: r for r in parser.rows}
    assert rows[T_ROOTFS]["class"] == "divergent" and rows[T_USER]["class"] == "divergent"
    assert rows[T_SAME]["class"] == "same"
    assert "rootfs read-only" in (rows[T_ROOTFS]["data-explanation"] or "")
    assert {"grid", "detail", "facts", "verdict", "identity"} <= parser.ids


def test_html_identity_and_facts(diverged: RunResult) -> None:
    page = html.render(diverged)
    assert 'data-verdict="diverged"' in page and 'data-exit-code="3"' in page
    assert page.count(IMAGE_ID) >= 3  # the image, and each environment's image id
    assert DIGEST in page and "shop/api:1.4.2" in page
    facts = page.split('id="facts"', 1)[1]
    uid = re.search(r'<tr class="([^"]*)" data-fact="user.uid">(.*?)</tr>', facts)
    assert uid and uid.group(1) == "differs explanatory"
    assert '<td data-env="local">0</td><td data-env="staging">10001</td>' in uid.group(2)
    hostname = re.search(r'<tr class="([^"]*)" data-fact="hostname">', facts)
    assert hostname and hostname.group(1) == "differs"
    kernel = re.search(r'<tr class="([^"]*)" data-fact="kernel">', facts)
    assert kernel and kernel.group(1) == "same explanatory"


def test_html_environment_error_is_shown(errored: RunResult) -> None:
    page = html.render(errored)
    assert '<div class="env-error" data-env="cloud" data-phase="ship">' in page
    assert "cannot load image" in page and "hint: check the engine&#x27;s disk space" in page
    parser = _parse(page)
    assert {c["data-env"] for c in parser.cells} == {"local"}  # no outcomes for the environment in error
    assert 'class="cell outcome-skipped"' in page


def test_html_escapes_test_ids_and_env_names() -> None:
    weird = 'suites/t.py::test_x["<b>&\'"]'
    result = build(env("local", (weird, "passed")), env("st<g>", (weird, "error", "E & <oops>")))
    page = html.render(result)
    assert "<b>" not in page and "<oops>" not in page
    cells = {c["data-env"]: c for c in _parse(page).cells}
    assert cells["st<g>"]["data-test"] == weird
    assert cells["st<g>"]["class"] == "cell outcome-error"
    assert cells["st<g>"]["data-message"] == "E & <oops>"


# ---------------------------------------------------------------- GitHub annotations


def test_annotations_divergence_and_escaping(diverged: RunResult) -> None:
    lines = github.annotations(diverged)
    assert len(lines) == 2
    rootfs = lines[0]
    assert rootfs.startswith(f"::error title=porttest divergence::{T_ROOTFS}: failed in staging; passed in local%0A")
    assert "staging: OSError: [Errno 30] Read-only file system: '/app/x'%0A  raised in write_probe()" in rootfs
    assert "rootfs read-only" in rootfs
    assert "\n" not in rootfs and "\r" not in rootfs
    assert lines[1].startswith(f"::error title=porttest divergence::{T_USER}: failed in staging; passed in local")


def test_annotations_environment_error(errored: RunResult) -> None:
    [line] = github.annotations(errored)
    assert line.startswith("::error title=porttest environment error::cloud: error during ship: cannot load image")
    assert "connection reset%0Ahint: check the engine's disk space" in line


def test_annotations_none_for_parity(parity: RunResult) -> None:
    assert github.annotations(parity) == []


def test_annotation_escaping_rules() -> None:
    assert github.escape_data("100% done\r\nnext: a,b") == "100%25 done%0D%0Anext: a,b"
    assert github.escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    assert github.command("error", "m%", title="x: y, z") == "::error title=x%3A y%2C z::m%25"
    result = build(env("local", ("t.py::test_[50%]", "passed")),
                   env("staging", ("t.py::test_[50%]", "failed", "line1\r\nline2")))
    [line] = github.annotations(result)
    assert "t.py::test_[50%25]" in line and "line1%0D%0Aline2" in line


def test_engine_image_and_ship_facts_read_as_one_line_each() -> None:
    from porttest.reporters.common import engine_facts, image_facts, ship_text

    engine = {"kind": "docker", "version": "20.10.24", "os": "Debian GNU/Linux 12", "arch": "x86_64",
              "kernel": "6.1.0", "cgroup_version": "1", "default_runtime": "runc",
              "runtimes": ["io.containerd.runc.v2", "runc", "runsc"]}
    assert engine_facts(engine) == ("docker 20.10.24, Debian GNU/Linux 12, x86_64, kernel 6.1.0, cgroup v1, "
                                    "runtimes runc/runsc (default runc)")
    assert engine_facts({}) == "-"
    image = ImageIdentity(ref="x", id="sha256:1", architecture="amd64", os="linux", size=117_200_000,
                          layers=("sha256:a", "sha256:b"))
    assert image_facts(image) == "linux/amd64, 2 layers, 117.2 MB"
    assert ship_text(ShipRecord(mode="load", seconds=2.44, bytes=48_000_000)) == "load 48.0 MB in 2.4s"
    assert ship_text(ShipRecord(mode="present", seconds=0.3)) == "present"
    assert ship_text(None) == "-"


def test_markdown_and_html_show_the_image_facts_and_verify_hooks() -> None:
    from porttest.results.model import VerifyRecord

    image = ImageIdentity(ref="shop/api:1", id="sha256:" + "1" * 64, digest="sha256:" + "d" * 64,
                          repo_digests=("r.example/shop/api@sha256:" + "d" * 64, "mirror/shop/api@sha256:" + "d" * 64),
                          architecture="arm64", os="linux", size=2_000_000, layers=("sha256:" + "a" * 64,),
                          verify=(VerifyRecord(name="trivy", command="trivy image shop/api:1", exit_code=0,
                                               passed=True),))
    env = EnvironmentResult(name="local", status="ok", image_id=image.id,
                            engine={"kind": "podman", "version": "4.3.1", "cgroup_version": "2", "runtimes": ["crun"]})
    result = assemble(image, {"local": env})
    md = markdown.render(result)
    assert "linux/arm64, 1 layer, 2.0 MB" in md and "sha256:" + "a" * 64 in md
    assert "mirror/shop/api@" in md and "verify trivy: ✅ passed" in md and "podman 4.3.1" in md
    page = html.render(result)
    assert 'id="image-layers"' in page and "sha256:" + "a" * 64 in page and "mirror/shop/api@" in page
    assert "verify-passed" in page and "cgroup v2" in page
