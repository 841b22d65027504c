"""Baseline: time zone and locale, the settings that quietly change program output between machines."""

import re


def test_clock_gives_a_utc_offset(host):
    assert re.fullmatch(r"[+-]\d{4}", host.check_output("date +%z"))


def test_timezone_is_resolvable(host):
    tz = host.environment().get("TZ")
    if tz and not tz.startswith(":") and "/" in tz:
        assert host.file(f"/usr/share/zoneinfo/{tz}").exists, f"TZ={tz} has no zoneinfo file"
    else:
        assert host.check_output("date -u +%Y").isdigit()


def test_locale_variables_are_well_formed(host):
    env = host.environment()
    for name in ("LANG", "LC_ALL"):
        value = env.get(name)
        if value:
            assert re.fullmatch(r"[A-Za-z]+(_[A-Z]+)?(\.[A-Za-z0-9-]+)?(@\w+)?|C|POSIX", value), f"{name}={value}"
