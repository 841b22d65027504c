"""Compose's value formats (durations, sizes, ports, ulimits, tmpfs) and porttest's `run:` normalised to the SDK's."""

from __future__ import annotations

from typing import Any

import pytest

from porttest.config.descriptors.compose_values import (
    Problem,
    normalise_run,
    parse_bytes,
    parse_duration,
    parse_port,
    ports_dict,
    sdk_bytes,
    split_entry,
    tmpfs_dict,
    ulimits_list,
)
from porttest.config.run_options import RunOptions

S = 10**9


@pytest.mark.parametrize(
    ("text", "nanoseconds"),
    [
        ("30s", 30 * S),
        ("1m30s", 90 * S),
        ("1h2m3.5s", 3723 * S + S // 2),
        ("1h5m30s20ms", 3930 * S + 20 * 10**6),
        ("500ms", 500 * 10**6),
        ("1500ms", 1500 * 10**6),
        ("250us", 250_000),
        ("250µs", 250_000),
        ("7ns", 7),
        ("0", 0),
        ("0s", 0),
        ("1.5h", 5400 * S),
        (".5s", S // 2),
        ("10s1m", 70 * S),  # Go's ParseDuration takes the parts in any order
        (" 30s ", 30 * S),
    ],
)
def test_parse_duration(text: str, nanoseconds: int) -> None:
    assert parse_duration(text) == nanoseconds


@pytest.mark.parametrize("text", ["", "30", "soon", "1d", "-5s", "1m 30s", "s", "1.s", 30, None, "1h2"])
def test_parse_duration_refuses(text: Any) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("512m", 512 * 2**20),
        ("512M", 512 * 2**20),
        ("1g", 2**30),
        ("1gb", 2**30),
        ("1GB", 2**30),
        ("1024kb", 2**20),
        ("2048k", 2**21),
        ("2b", 2),
        ("300", 300),
        ("1.5g", 3 * 2**29),
        ("512Mi", 512 * 2**20),
        ("512MiB", 512 * 2**20),
        ("2t", 2 * 2**40),
        ("64 m", 64 * 2**20),
        (1024, 1024),
        (-1, -1),
    ],
)
def test_parse_bytes(text: Any, size: int) -> None:
    assert parse_bytes(text) == size


@pytest.mark.parametrize("text", ["", "lots", "12x", "1i", "m", "1.2.3g", True, None, 1.5, "-5m"])
def test_parse_bytes_refuses(text: Any) -> None:
    with pytest.raises(ValueError, match="not a byte size"):
        parse_bytes(text)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("512m", "512m"), ("1gb", "1gb"), ("1.5g", "1.5g"), ("300", "300"), (" 64m ", "64m"),
     ("512Mi", 512 * 2**20), ("2t", 2 * 2**40), (1024, 1024)],
)
def test_sdk_bytes_keeps_what_the_sdk_parses(value: Any, expected: Any) -> None:
    assert sdk_bytes(value) == expected


def test_sdk_bytes_agrees_with_the_sdk() -> None:
    from docker.utils import parse_bytes as sdk_parse_bytes

    for text in ("512m", "1gb", "1.5g", "300", "2b", "1024kb", "64M"):
        assert sdk_parse_bytes(sdk_bytes(text)) == parse_bytes(text)


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("8080:80", [("80/tcp", 8080)]),
        ("80", [("80/tcp", None)]),
        (80, [("80/tcp", None)]),
        ("127.0.0.1:8080:80", [("80/tcp", ("127.0.0.1", 8080))]),
        ("127.0.0.1:8443:443/udp", [("443/udp", ("127.0.0.1", 8443))]),
        ("127.0.0.1::5000", [("5000/tcp", ("127.0.0.1", None))]),
        ("6060:6060/udp", [("6060/udp", 6060)]),
        ("9999:9999/sctp", [("9999/sctp", 9999)]),
        ("3000-3001", [("3000/tcp", None), ("3001/tcp", None)]),
        ("9090-9091:8080-8081", [("8080/tcp", 9090), ("8081/tcp", 9091)]),
        ("8000-9000:80", [("80/tcp", "8000-9000")]),
        ("::1:6000:6000", [("6000/tcp", ("::1", 6000))]),
        ("[::1]:6001:6001", [("6001/tcp", ("::1", 6001))]),
        ({"target": 80, "published": 8080}, [("80/tcp", 8080)]),
        ({"target": 80, "published": "8080", "host_ip": "127.0.0.1", "protocol": "tcp", "mode": "host",
          "name": "web", "app_protocol": "http"}, [("80/tcp", ("127.0.0.1", 8080))]),
        ({"target": 53, "protocol": "udp"}, [("53/udp", None)]),
        ({"target": 443, "published": "8443-8450"}, [("443/tcp", "8443-8450")]),
    ],
)
def test_parse_port(item: Any, expected: list[tuple[str, Any]]) -> None:
    assert parse_port(item) == expected


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("http", "not a port number"),
        ("8080:http", "not a port number"),
        ("70000:80", "not a port number"),
        ("0", "not a port number"),
        ("8080:80/icmp", "unknown protocol"),
        ("9090-9092:8080-8081", "ranges differ"),
        ("90-80", "runs backwards"),
        ("", "not a port mapping"),
        ([80], "not a port mapping"),
        ({"published": 8080}, "needs `target`"),
        ({"target": 80, "bogus": 1}, "unknown key"),
        ("[::1:6001", "not a port mapping"),
    ],
)
def test_parse_port_refuses(item: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_port(item)


def test_ports_dict_gathers_several_bindings_of_one_port_and_drops_repeats() -> None:
    assert ports_dict(["8080:80", "8081:80", "8080:80", "127.0.0.1:8082:80", "53:53/udp"]) == {
        "80/tcp": [8080, 8081, ("127.0.0.1", 8082)], "53/udp": 53}
    assert ports_dict("8080:80") == {"80/tcp": 8080}


def test_ports_dict_is_what_the_sdk_turns_into_port_bindings() -> None:
    from docker.utils import convert_port_bindings

    bindings = convert_port_bindings(ports_dict(["8080:80", "127.0.0.1:8443:443/udp", "9000", "127.0.0.1::5000"]))
    assert bindings == {
        "80/tcp": [{"HostIp": "", "HostPort": "8080"}],
        "443/udp": [{"HostIp": "127.0.0.1", "HostPort": "8443"}],
        "9000/tcp": [{"HostIp": "", "HostPort": ""}],
        "5000/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}],
    }


def test_ulimits_list() -> None:
    assert ulimits_list({"nofile": 20000, "nproc": {"soft": 1024, "hard": 4096}, "core": "0"}) == [
        {"name": "nofile", "soft": 20000, "hard": 20000},
        {"name": "nproc", "soft": 1024, "hard": 4096},
        {"name": "core", "soft": 0, "hard": 0},
    ]
    # the SDK's Ulimit model takes the result
    assert RunOptions(ulimits=ulimits_list({"nofile": 20000})).sdk_kwargs()["ulimits"] == [
        {"name": "nofile", "soft": 20000, "hard": 20000}]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"nofile": {"soft": 1}}, "give both `soft` and `hard`"),
        ({"nofile": {"soft": 1, "hard": 2, "max": 3}}, "unknown key"),
        ({"nofile": {"soft": 10, "hard": 2}}, "above hard limit"),
        ({"nofile": "many"}, "not a number"),
        ([{"name": "nofile"}], "is a mapping"),
    ],
)
def test_ulimits_list_refuses(value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ulimits_list(value)


def test_tmpfs_dict() -> None:
    assert tmpfs_dict("/run") == {"/run": ""}
    assert tmpfs_dict(["/tmp", "/data:mode=755,uid=1009,gid=1009"]) == {
        "/tmp": "", "/data": "mode=755,uid=1009,gid=1009"}
    with pytest.raises(ValueError, match="absolute path"):
        tmpfs_dict(["tmp"])


@pytest.mark.parametrize(
    ("item", "hosts", "expected"),
    [("A=1", False, ("A", "1")), ("A=", False, ("A", "")), ("A", False, ("A", None)), ("A=b=c", False, ("A", "b=c")),
     ("somehost=162.242.195.82", True, ("somehost", "162.242.195.82")),
     ("somehost:162.242.195.82", True, ("somehost", "162.242.195.82")), ("myhostv6:::1", True, ("myhostv6", "::1"))],
)
def test_split_entry(item: str, hosts: bool, expected: tuple[str, str | None]) -> None:
    assert split_entry(item, hosts) == expected


# ---------------------------------------------------------------------------------------- normalise_run (part 4)


def test_normalise_run_turns_compose_formats_into_the_sdks() -> None:
    run = {
        "healthcheck": {"test": "curl -f http://localhost", "interval": "30s", "timeout": "1m30s",
                        "start_period": "500ms", "retries": 3},
        "ports": ["8080:80", "127.0.0.1:9113:9113"],
        "ulimits": {"nofile": 20000, "nproc": {"soft": 1024, "hard": 4096}},
        "mem_limit": "512Mi",
        "memswap_limit": "2t",
        "read_only": True,
    }
    out, problems = normalise_run(run)
    assert problems == []
    assert out == {
        "healthcheck": {"test": "curl -f http://localhost", "interval": 30 * S, "timeout": 90 * S,
                        "start_period": 500 * 10**6, "retries": 3},
        "ports": {"80/tcp": 8080, "9113/tcp": ("127.0.0.1", 9113)},
        "ulimits": [{"name": "nofile", "soft": 20000, "hard": 20000}, {"name": "nproc", "soft": 1024, "hard": 4096}],
        "mem_limit": 512 * 2**20,
        "memswap_limit": 2 * 2**40,
        "read_only": True,
    }
    assert run["ports"] == ["8080:80", "127.0.0.1:9113:9113"]  # the input is left as it was
    RunOptions.model_validate(out)


def test_normalise_run_takes_one_port_as_a_string() -> None:
    assert normalise_run({"ports": "8080:80"})[0]["ports"] == {"80/tcp": 8080}


def test_normalise_run_passes_the_sdks_own_forms_unchanged() -> None:
    run = {
        "healthcheck": {"test": ["CMD", "true"], "interval": 30 * S, "timeout": 5 * S},
        "ports": {"80/tcp": 8080, "443/tcp": ("127.0.0.1", 8443), "53/udp": [53, 5353]},
        "ulimits": [{"name": "nofile", "soft": 1024, "hard": 2048}],
        "mem_limit": "512m",
        "shm_size": 67108864,
        "mem_reservation": "1gb",
    }
    out, problems = normalise_run(run)
    assert problems == []
    assert out == run


def test_normalise_run_returns_problems_with_their_paths() -> None:
    out, problems = normalise_run({
        "healthcheck": {"interval": "soon", "timeout": "5s"},
        "ports": ["8080:http"],
        "ulimits": {"nofile": {"soft": 1}},
        "mem_limit": "lots",
    })
    assert [p.path for p in problems] == [("healthcheck", "interval"), ("ports",), ("ulimits",), ("mem_limit",)]
    assert all(isinstance(p, Problem) and p.hint for p in problems)
    _path, message, hint = problems[0]  # plain (path, message, hint) tuples
    assert "not a duration: 'soon'" in message and "1m30s" in (hint or "")
    assert out["healthcheck"]["timeout"] == 5 * S  # what could be read still is


def test_normalise_run_leaves_an_empty_run_alone() -> None:
    assert normalise_run({}) == ({}, [])
