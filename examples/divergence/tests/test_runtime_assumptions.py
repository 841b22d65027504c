"""Assumptions an app often makes without noticing; staging's profile breaks two of them."""


def test_can_write_cache_under_var_tmp(host):
    """Writing outside /tmp works on a laptop and fails on a read-only rootfs."""
    result = host.run("echo cached > /var/tmp/porttest-cache")
    assert result.rc == 0, result.stderr


def test_can_hold_300mb_in_memory(host):
    """A 300 MB in-memory cache fits on a laptop, not under a 256m memory limit."""
    result = host.run("python3 -c 'b = bytearray(300 * 1024 * 1024); print(len(b))'")
    assert result.rc == 0, f"exit {result.rc} {result.stderr.strip()}"


def test_can_write_tmp(host):
    """/tmp is a tmpfs in staging, so this one holds everywhere."""
    assert host.run("echo ok > /tmp/porttest-probe").rc == 0
