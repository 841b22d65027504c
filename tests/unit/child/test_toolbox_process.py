"""testinfra's host.process on the toolbox's busybox `ps`, which has no `time` column, read from its output."""

from __future__ import annotations

from typing import Any

import pytest

from porttest.child.toolbox_process import process_module

PS = {
    "ps -A -o comm,pid,args": "COMMAND          PID   COMMAND\n"
                              "httpd                1 /httpd -f -p 8080 -h /www\n"
                              "sh                   7 /.porttest-toolbox/sh\n"
                              "ps                  15 ps -A -o comm,pid,args\n",
    "ps -A -o comm,pid,user,args": "COMMAND PID USER COMMAND\nhttpd 1 nobody /httpd -f -p 8080 -h /www\n"
                                   "sh 7 nobody /.porttest-toolbox/sh\n",
    "ps -A -o pid,ppid": "PID PPID\n1 0\n7 0\n",
}


class _Host:
    """The commands testinfra's module sends, answered with busybox's output."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def check_output(self, command: str, *args: str) -> str:
        self.sent.append(command % args)
        return PS[command % args]


def test_processes_are_found_without_the_time_column() -> None:
    host = _Host()
    process: Any = process_module(host)
    server = process.get(comm="httpd")
    assert (server.pid, server.args) == (1, "/httpd -f -p 8080 -h /www")
    assert [p.pid for p in process.filter(user="nobody")] == [1, 7]
    assert server.ppid == 0  # read later, by PID
    assert all("time" not in sent for sent in host.sent)


def test_a_process_gone_before_an_attribute_is_read_says_so() -> None:
    host = _Host()
    process: Any = process_module(host)
    ps = process.get(comm="ps")
    with pytest.raises(RuntimeError, match="pid 15 does not exist"):
        _ = ps.ppid
