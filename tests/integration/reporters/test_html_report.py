"""The HTML report in a real headless Chromium: the grid, the divergence marks and the click-to-detail panel.

No engine is needed: the RunResult is built here. Chromium loads the file with ``#click=<test>|<env>``, which the
page's inline JS turns into a click on that cell; ``--dump-dom`` then shows the DOM after the click. The screenshot
lands in tmp; it is copied to docs/html-report.png (the README's picture) when that file is missing or when
PORTTEST_UPDATE_SCREENSHOTS=1.
"""

from __future__ import annotations

import os
import shutil
import signal
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import pytest

from porttest.reporters import html
from porttest.results.facts import parse_facts
from porttest.results.model import EnvironmentResult, ImageIdentity, RunResult, ShipRecord, TestRecord, assemble

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
SCREENSHOT = REPO / "docs" / "html-report.png"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
TIMEOUT = 90

IMAGE_ID = "sha256:3f5a1c9e0b7d" + "4e2a" * 13
IMAGE = ImageIdentity(ref="shop/api:1.4.2", id=IMAGE_ID, digest="sha256:" + "9c" * 32)
T_OS = "suites/baseline/test_os.py::test_os_release"
T_USER = "suites/baseline/test_user.py::test_app_user_exists"
T_ROOTFS = "suites/baseline/test_fs.py::TestWrites::test_app_dir_writable[/app/cache]"
T_TMP = "suites/baseline/test_fs.py::TestWrites::test_app_dir_writable[/tmp]"
T_PORT = "suites/http/test_http.py::test_listens_on_8080"
T_HEALTH = "suites/http/test_http.py::test_health_endpoint"
T_KERNEL = "tests/portability/test_syscalls.py::test_io_uring_available"
T_SUDO = "suites/hardening/test_hardening.py::test_no_sudo"
ROOTFS_MESSAGE = ("PermissionError: [Errno 13] Permission denied: '/app/cache/probe'\n"
                  "assert host.run('touch /app/cache/probe').rc == 0")
KERNEL_MESSAGE = "OSError: [Errno 38] Function not implemented: io_uring_setup"

PROBE = """\
uid=0
gid=0
user=root
group=root
groups=0
group_names=root
kernel=6.1.0-18-amd64
arch=x86_64
os_ID=debian
os_VERSION_ID="12"
cgroup=2
mem_max=max
cpu_max=max 100000
pids_max=max
mount=overlay / overlay rw,relatime 0 0
capeff=\t00000000a80425fb
seccomp=\t2
nnp=\t0
limit=Max open files            1048576              1048576              files
hostname=4f1c2a9e7b10
lang=C.UTF-8
cpus=8
env_name=PATH
env_name=HOME
"""
STAGING = (PROBE.replace("uid=0\ngid=0\nuser=root\ngroup=root\ngroups=0", "uid=10001\ngid=10001\nuser=\ngroup=\n"
                         "groups=10001")
           .replace("overlay / overlay rw,", "overlay / overlay ro,")
           .replace("mem_max=max", "mem_max=268435456").replace("pids_max=max", "pids_max=256")
           .replace("capeff=\t00000000a80425fb", "capeff=\t0000000000000000").replace("nnp=\t0", "nnp=\t1")
           .replace("hostname=4f1c2a9e7b10", "hostname=staging-1"))
GVISOR = (PROBE.replace("kernel=6.1.0-18-amd64", "kernel=4.4.0")
          .replace("hostname=4f1c2a9e7b10", "hostname=gvisor-1"))


def _env(name: str, outcomes: dict[str, str], facts: str, messages: dict[str, str] | None = None,
         **extra: object) -> EnvironmentResult:
    messages = messages or {}
    tests = tuple(TestRecord(id=test, outcome=outcome, duration=0.05 + 0.01 * i, message=messages.get(test),
                             detail=("Traceback (most recent call last):\n  ...\n" + messages[test])
                             if test in messages else None)
                  for i, (test, outcome) in enumerate(outcomes.items()))
    return EnvironmentResult(name=name, status="ok", image_id=IMAGE_ID, tests=tests, facts=parse_facts(facts),
                             duration=4.2, **extra)


def _result() -> RunResult:
    everywhere = {T_OS: "passed", T_USER: "passed", T_ROOTFS: "passed", T_TMP: "passed", T_PORT: "passed",
                  T_HEALTH: "passed", T_KERNEL: "passed", T_SUDO: "skipped"}
    skip = {T_SUDO: "sudo is not installed in this image"}
    local = _env("local", everywhere, PROBE, skip, ship=ShipRecord(mode="present"),
                 engine={"kind": "docker", "version": "24.0.7", "endpoint": "unix:///var/run/docker.sock"})
    staging = _env("staging", {**everywhere, T_ROOTFS: "failed"}, STAGING, {**skip, T_ROOTFS: ROOTFS_MESSAGE},
                   ship=ShipRecord(mode="present"),
                   engine={"kind": "docker", "version": "24.0.7", "endpoint": "unix:///var/run/docker.sock"})
    gvisor = _env("gvisor", {**everywhere, T_KERNEL: "failed"}, GVISOR, {**skip, T_KERNEL: KERNEL_MESSAGE},
                  ship=ShipRecord(mode="load", seconds=2.4, bytes=48_000_000),
                  engine={"kind": "docker", "version": "24.0.7", "endpoint": "tcp://127.0.0.1:23760"})
    return assemble(IMAGE, {e.name: e for e in (local, staging, gvisor)}, run_id="20240501-100000-7f3a",
                    started_at="2024-05-01T10:00:00Z", porttest_version="0.1.0", duration=11.8)


class _Dom(HTMLParser):
    """The grid's cells and rows, and the text inside elements with an id."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[dict[str, str]] = []
        self.rows: list[dict[str, str]] = []
        self.attrs: dict[str, dict[str, str]] = {}
        self.text: dict[str, str] = {}
        self._stack: list[str | None] = []
        self._table: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if "id" in a:
            self.attrs[a["id"]] = a
        if tag == "table":
            self._table = a.get("id")
        if self._table == "grid" and tag == "td" and "cell" in a.get("class", "").split():
            self.cells.append(a)
        if self._table == "grid" and tag == "tr" and "data-test" in a:
            self.rows.append(a)
        if tag not in self.VOID:
            self._stack.append(a.get("id"))

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None
        if tag not in self.VOID and self._stack:
            self._stack.pop()

    def handle_data(self, data: str) -> None:
        for element_id in self._stack:
            if element_id:
                self.text[element_id] = self.text.get(element_id, "") + data


def _chromium(*args: str, user_data: Path) -> str:
    """Run headless Chromium once; on a hang kill its whole process group (it was started as its leader)."""
    assert CHROMIUM
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-default-apps", "--no-default-browser-check", "--hide-scrollbars",
               f"--user-data-dir={user_data}", *args]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"chromium did not finish within {TIMEOUT}s: {' '.join(command)}")
    assert proc.returncode == 0, f"chromium exited {proc.returncode}:\n{err[-2000:]}"
    return out


def _url(page: Path, test: str, env: str) -> str:
    return page.as_uri() + "#click=" + quote(test, safe="") + "|" + quote(env, safe="")


def _dump(page: Path, test: str, env: str, tmp_path: Path) -> _Dom:
    profile = tmp_path / f"profile-{len(list(tmp_path.iterdir()))}"
    dom = _Dom()
    dom.feed(_chromium("--dump-dom", _url(page, test, env), user_data=profile))
    return dom


@pytest.fixture
def page(tmp_path: Path) -> Path:
    if CHROMIUM is None:
        pytest.skip("no chromium binary (apt-get install chromium)")
    path = tmp_path / "report.html"
    path.write_text(html.render(_result()), encoding="utf-8")
    return path


def test_grid_and_divergence_marks_in_the_browser(page: Path, tmp_path: Path) -> None:
    dom = _dump(page, T_ROOTFS, "staging", tmp_path)
    cells = {(c["data-test"], c["data-env"]): c for c in dom.cells}
    assert len(dom.cells) == 8 * 3
    assert set(cells) == {(t, e) for t in (T_OS, T_USER, T_ROOTFS, T_TMP, T_PORT, T_HEALTH, T_KERNEL, T_SUDO)
                          for e in ("local", "staging", "gvisor")}
    assert cells[(T_ROOTFS, "staging")]["class"].split()[:2] == ["cell", "outcome-failed"]
    assert cells[(T_KERNEL, "gvisor")]["class"] == "cell outcome-failed"
    assert cells[(T_ROOTFS, "local")]["class"] == "cell outcome-passed"
    assert cells[(T_SUDO, "gvisor")]["class"] == "cell outcome-skipped"
    rows = {r["data-test"]: r["class"] for r in dom.rows}
    assert {t for t, cls in rows.items() if cls == "divergent"} == {T_ROOTFS, T_KERNEL}
    assert all(cls == "same" for t, cls in rows.items() if t not in (T_ROOTFS, T_KERNEL))
    assert dom.attrs["verdict"]["data-verdict"] == "diverged"
    assert dom.attrs["verdict"]["data-exit-code"] == "3"


def test_hash_click_shows_the_message_in_the_detail_panel(page: Path, tmp_path: Path) -> None:
    dom = _dump(page, T_ROOTFS, "staging", tmp_path)
    selected = [c for c in dom.cells if "selected" in c["class"].split()]
    assert [(c["data-test"], c["data-env"]) for c in selected] == [(T_ROOTFS, "staging")]
    assert dom.attrs["detail"]["data-test"] == T_ROOTFS
    assert dom.attrs["detail"]["data-env"] == "staging"
    assert dom.text["detail-message"] == ROOTFS_MESSAGE
    assert dom.text["detail-env"] == "staging"
    assert dom.text["detail-outcome"] == "failed"
    assert "hidden" not in dom.attrs["detail-body"].get("class", "")
    assert "hidden" in dom.attrs["detail-empty"]["class"]
    assert "staging: rootfs read-only" in dom.text["detail-explanation"]


def test_clicking_a_passed_cell_says_passed(page: Path, tmp_path: Path) -> None:
    dom = _dump(page, T_KERNEL, "local", tmp_path)
    assert dom.text["detail-message"] == "passed"
    assert dom.text["detail-outcome"] == "passed"
    assert "gvisor: kernel 4.4.0" in dom.text["detail-explanation"]
    dom = _dump(page, T_KERNEL, "gvisor", tmp_path)
    assert dom.text["detail-message"] == KERNEL_MESSAGE


def test_without_a_hash_nothing_is_selected(page: Path, tmp_path: Path) -> None:
    dom = _Dom()
    dom.feed(_chromium("--dump-dom", page.as_uri(), user_data=tmp_path / "profile-plain"))
    assert not [c for c in dom.cells if "selected" in c["class"].split()]
    assert dom.text["detail-empty"].strip() == "Click a cell to see its message."


def test_screenshot(page: Path, tmp_path: Path) -> None:
    shot = tmp_path / "html-report.png"
    _chromium(f"--screenshot={shot}", "--window-size=1280,900", _url(page, T_ROOTFS, "staging"),
              user_data=tmp_path / "profile-shot")
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1280, 900)
    if not SCREENSHOT.exists() or os.environ.get("PORTTEST_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)
