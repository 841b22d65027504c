"""porttest.config.run_options: the run: profile is the Docker SDK's containers.run() keywords (no engine)."""

from __future__ import annotations

import re
import textwrap

import pytest
from docker.models import containers as sdk
from pydantic import ValidationError

from porttest.config.run_options import KNOWN_RUN_NAMES, MANAGED_KWARGS, SDK_RUN_KWARGS, RunOptions

SDK_LISTS = frozenset(sdk.RUN_CREATE_KWARGS) | frozenset(sdk.RUN_HOST_CONFIG_KWARGS)


def documented_run_keywords() -> frozenset[str]:
    """The keyword names the installed SDK documents for ContainerCollection.run(): the `name (type):` and `name:`
    lines at the Args section's own indentation (their continuation lines sit deeper). Python 3.13's compiler strips
    a docstring's common indentation, older ones keep it: dedenting the section reads both the same way."""
    doc = sdk.ContainerCollection.run.__doc__ or ""
    args = textwrap.dedent(doc.split("Args:\n", 1)[1].split("Returns:", 1)[0])
    return frozenset(re.findall(r"^([a-z_]+)(?: \(|:)", args, re.MULTILINE))


def test_the_docstring_parser_finds_the_sdk_keywords() -> None:
    names = documented_run_keywords()
    assert len(names) > 80
    assert {"image", "command", "mem_limit", "read_only", "ports", "volumes", "remove", "stream"} <= names


def test_sdk_run_kwargs_is_a_superset_of_the_sdk_lists() -> None:
    missing = SDK_LISTS - SDK_RUN_KWARGS
    assert not missing, f"the SDK gained run() keywords porttest does not know: {sorted(missing)}"


def test_the_run_only_keywords_are_known() -> None:
    # keywords that run()/create() translate themselves rather than passing through the two lists
    assert {"ports", "volumes", "network", "remove", "stdout", "stderr", "stream"} <= SDK_RUN_KWARGS


def test_extras_beyond_the_sdk_lists_are_few() -> None:
    extras = SDK_RUN_KWARGS - SDK_LISTS
    assert len(extras) <= 10, sorted(extras)


def test_every_extra_name_is_accepted_by_the_installed_sdk() -> None:
    stale = (SDK_RUN_KWARGS - SDK_LISTS) - documented_run_keywords()
    assert not stale, f"not run() keywords in the installed SDK: {sorted(stale)}"


def test_every_documented_run_keyword_is_known() -> None:
    missing = documented_run_keywords() - SDK_RUN_KWARGS
    assert not missing, f"run() keywords porttest does not know: {sorted(missing)}"


def test_sdk_run_kwargs_equals_the_sdk() -> None:
    run_only = documented_run_keywords() - SDK_LISTS
    expected = SDK_LISTS | run_only
    assert expected == SDK_RUN_KWARGS


def test_every_accepted_name_survives_the_sdk_translation() -> None:
    """Each name a user may write under run: must get through docker's create-argument translation."""
    refused = {}
    for name in sorted(KNOWN_RUN_NAMES - {"cpus"}):
        try:
            sdk._create_container_args({"image": "x", "version": "1.43", name: None})
        except TypeError as exc:
            refused[name] = str(exc)
    assert not refused, refused


def test_managed_kwargs_are_sdk_names_and_not_user_settable() -> None:
    assert MANAGED_KWARGS <= SDK_RUN_KWARGS
    assert not (MANAGED_KWARGS & KNOWN_RUN_NAMES)
    assert {"detach", "name", "remove", "auto_remove"} <= MANAGED_KWARGS


def test_every_typed_field_is_an_sdk_name_except_cpus() -> None:
    assert set(RunOptions.model_fields) - SDK_RUN_KWARGS == {"cpus"}


def test_design_doc_run_keys_are_known() -> None:
    named = ["user", "read_only", "tmpfs", "cap_drop", "cap_add", "mem_limit", "pids_limit", "environment", "runtime",
             "network_mode", "security_opt", "ulimits", "hostname", "ports", "command", "cpus"]
    assert set(named) <= KNOWN_RUN_NAMES


# ---------------------------------------------------------------------------------------------------- sdk_kwargs()


def test_cpus_becomes_nano_cpus() -> None:
    assert RunOptions(cpus=0.5).sdk_kwargs() == {"nano_cpus": 500_000_000}
    assert RunOptions(cpus=1.5).sdk_kwargs() == {"nano_cpus": 1_500_000_000}
    assert RunOptions(cpus=0.001).sdk_kwargs() == {"nano_cpus": 1_000_000}
    assert isinstance(RunOptions(cpus=0.5).sdk_kwargs()["nano_cpus"], int)


def test_none_is_dropped() -> None:
    assert RunOptions().sdk_kwargs() == {}
    kwargs = RunOptions(user="1000", read_only=False, hostname=None).sdk_kwargs()
    assert kwargs == {"user": "1000", "read_only": False}  # False is kept, None is not


def test_ulimits_drop_a_missing_hard_limit() -> None:
    run = RunOptions(ulimits=[{"name": "nofile", "soft": 1024}, {"name": "nproc", "soft": 10, "hard": 20}])
    assert run.sdk_kwargs() == {"ulimits": [{"name": "nofile", "soft": 1024},
                                            {"name": "nproc", "soft": 10, "hard": 20}]}


def test_cap_drop_string_becomes_a_list_and_user_int_a_string() -> None:
    kwargs = RunOptions(cap_drop="ALL", cap_add="NET_BIND_SERVICE", user=10001).sdk_kwargs()
    assert kwargs == {"cap_drop": ["ALL"], "cap_add": ["NET_BIND_SERVICE"], "user": "10001"}


def test_untyped_sdk_names_pass_through() -> None:
    assert RunOptions(cpuset_mems="0", mem_swappiness=0).sdk_kwargs() == {"cpuset_mems": "0", "mem_swappiness": 0}


def test_staging_profile_is_accepted_by_the_sdk_translation() -> None:
    run = RunOptions(user="10001:10001", read_only=True, tmpfs={"/tmp": ""}, cap_drop=["ALL"], mem_limit="256m",
                     pids_limit=256, environment={"APP_ENV": "staging"}, runtime="runc", cpus=0.5,
                     security_opt=["no-new-privileges:true"], ulimits=[{"name": "nofile", "soft": 1024}])
    create = sdk._create_container_args({**run.sdk_kwargs(), "image": "sha256:abc", "version": "1.43"})
    host = create["host_config"]
    assert host["ReadonlyRootfs"] is True
    assert host["Memory"] == 256 * 1024 * 1024
    assert host["NanoCpus"] == 500_000_000
    assert host["PidsLimit"] == 256
    assert host["CapDrop"] == ["ALL"]
    assert host["Runtime"] == "runc"
    assert create["user"] == "10001:10001"


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"detach": True}, "managed by porttest"),
        ({"name": "x"}, "managed by porttest"),
        ({"remove": True}, "managed by porttest"),
        ({"bogus_option": 1}, "not a Docker SDK"),
        ({"cpus": 0.5, "nano_cpus": 5}, "either `cpus` or `nano_cpus`"),
        ({"cpus": 0}, "greater than 0"),
        ({"pids_limit": -2}, "greater than or equal to -1"),
        ({"mem_limit": "lots"}, "mem_limit"),
        ({"read_only": "yes please"}, "read_only"),
        ({"ulimits": [{"name": "nofile"}]}, "soft"),
        ({"ulimits": [{"name": "nofile", "soft": 1, "extra": 2}]}, "extra"),
    ],
)
def test_invalid_run_options(kwargs: dict[str, object], needle: str) -> None:
    with pytest.raises(ValidationError) as caught:
        RunOptions(**kwargs)
    assert needle in str(caught.value)


def test_run_options_are_frozen() -> None:
    run = RunOptions(user="1")
    with pytest.raises(ValidationError):
        run.user = "2"  # type: ignore[misc]
