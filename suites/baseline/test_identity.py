"""Baseline: what the container is and who runs in it. Holds on any sane Linux image."""

import re


def test_kernel_is_linux(host):
    assert host.system_info.type == "linux"


def test_passwd_and_group_exist(host):
    assert host.file("/etc/passwd").is_file
    assert host.file("/etc/group").is_file


def test_root_account_is_uid_0(host):
    assert host.user("root").uid == 0


def test_current_uid_is_numeric(host):
    assert re.fullmatch(r"\d+", host.check_output("id -u"))


def test_exec_user_matches_main_process_user(host):
    """Commands run as the container's configured user, like the main process (PID 1)."""
    status = host.file("/proc/1/status").content_string
    uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
    assert uid_line.split()[1] == host.check_output("id -u")


def test_main_process_is_running(host):
    assert host.file("/proc/1/cmdline").exists
    assert host.run("test -r /proc/1/status").rc == 0
