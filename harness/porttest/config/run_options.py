"""The `run:` profile: Docker SDK containers.run() keyword names, typed where porttest relies on them."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# The SDK's containers.run() keywords (docker.models.containers RUN_CREATE_KWARGS, RUN_HOST_CONFIG_KWARGS and the
# ones run() translates itself). A unit test keeps this list in step with the installed SDK.
SDK_RUN_KWARGS = frozenset(
    """command detach domainname entrypoint environment healthcheck hostname image labels mac_address name
    network_disabled platform stdin_open stop_signal tty use_config_proxy user working_dir auto_remove blkio_weight
    blkio_weight_device cap_add cap_drop cgroup_parent cgroupns cpu_count cpu_percent cpu_period cpu_quota
    cpu_rt_period cpu_rt_runtime cpu_shares cpuset_cpus cpuset_mems device_cgroup_rules device_read_bps
    device_read_iops device_requests device_write_bps device_write_iops devices dns dns_opt dns_search extra_hosts
    group_add init init_path ipc_mode isolation kernel_memory links log_config lxc_conf mem_limit mem_reservation
    mem_swappiness memswap_limit mounts nano_cpus network_mode oom_kill_disable oom_score_adj pid_mode pids_limit
    privileged publish_all_ports read_only restart_policy runtime security_opt shm_size storage_opt sysctls tmpfs
    ulimits userns_mode uts_mode version volume_driver volumes_from ports volumes network networking_config
    remove stdout stderr stream""".split()
)

# Keywords porttest sets itself: a container must stay detached, named and labelled by porttest, and removable.
MANAGED_KWARGS = frozenset(
    "detach name image stdin_open tty auto_remove remove stdout stderr stream version restart_policy".split()
)

_BYTES = re.compile(r"^\d+(\.\d+)?\s*[bkmgBKMG]?[bB]?$")
ByteSize = Annotated[int, Field(ge=0)] | Annotated[str, Field(pattern=_BYTES.pattern)]


class Ulimit(BaseModel):
    """One ulimit, as the SDK's docker.types.Ulimit takes it."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    soft: int
    hard: int | None = None


class RunOptions(BaseModel):
    """Options for containers.create(); unknown names are refused with a suggestion."""

    model_config = ConfigDict(frozen=True, extra="allow")

    command: str | list[str] | None = None
    entrypoint: str | list[str] | None = None
    user: str | int | None = None
    working_dir: str | None = None
    hostname: str | None = None
    domainname: str | None = None
    environment: dict[str, str | int | float | bool] | list[str] | None = None
    labels: dict[str, str] | None = None
    read_only: bool | None = None
    tmpfs: dict[str, str] | list[str] | None = None
    cap_add: list[str] | None = None
    cap_drop: list[str] | None = None
    security_opt: list[str] | None = None
    privileged: bool | None = None
    init: bool | None = None
    runtime: str | None = None
    platform: str | None = None
    network_mode: str | None = None
    network: str | None = None
    ipc_mode: str | None = None
    pid_mode: str | None = None
    uts_mode: str | None = None
    userns_mode: str | None = None
    mem_limit: ByteSize | None = None
    mem_reservation: ByteSize | None = None
    memswap_limit: ByteSize | None = None
    shm_size: ByteSize | None = None
    pids_limit: Annotated[int, Field(ge=-1)] | None = None
    cpus: Annotated[float, Field(gt=0, le=1024)] | None = Field(
        None, description="porttest extra: CPUs as a fraction (0.5), turned into nano_cpus"
    )
    nano_cpus: Annotated[int, Field(gt=0)] | None = None
    cpu_shares: Annotated[int, Field(ge=0)] | None = None
    cpu_period: Annotated[int, Field(ge=0)] | None = None
    cpu_quota: int | None = None
    cpuset_cpus: str | None = None
    ulimits: list[Ulimit] | None = None
    sysctls: dict[str, str | int] | None = None
    group_add: list[str | int] | None = None
    dns: list[str] | None = None
    dns_search: list[str] | None = None
    dns_opt: list[str] | None = None
    extra_hosts: dict[str, str] | list[str] | None = None
    ports: dict[str, int | str | list[Any] | tuple[Any, ...] | None] | None = None
    volumes: dict[str, Any] | list[str] | None = None
    devices: list[str] | None = None
    healthcheck: dict[str, Any] | None = None
    stop_signal: str | None = None
    oom_kill_disable: bool | None = None
    oom_score_adj: int | None = None

    @field_validator("cap_add", "cap_drop", mode="before")
    @classmethod
    def _caps_as_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("user", mode="after")
    @classmethod
    def _user_as_text(cls, value: str | int | None) -> str | None:
        return None if value is None else str(value)

    @model_validator(mode="after")
    def _known_names(self) -> RunOptions:
        for name in self.model_extra or {}:
            if name in MANAGED_KWARGS:
                raise ValueError(f"`{name}` is managed by porttest and cannot be set")
            if name not in SDK_RUN_KWARGS:
                raise ValueError(f"`{name}` is not a Docker SDK containers.run() option")
        if self.cpus is not None and self.nano_cpus is not None:
            raise ValueError("give either `cpus` or `nano_cpus`, not both")
        return self

    def sdk_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for containers.create(), with porttest's extras translated."""
        out: dict[str, Any] = {}
        for name, value in self.model_dump(exclude_none=True).items():
            if name == "cpus":
                out["nano_cpus"] = round(value * 1e9)
            elif name == "ulimits":
                out["ulimits"] = [{k: v for k, v in u.items() if v is not None} for u in value]
            else:
                out[name] = value
        return out


KNOWN_RUN_NAMES = frozenset(set(RunOptions.model_fields) | (SDK_RUN_KWARGS - MANAGED_KWARGS))
