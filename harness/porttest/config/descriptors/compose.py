"""PURE: a Compose service as a porttest environment profile (`extends: {compose: FILE, service: NAME}`).

The file is read as Compose reads it (YAML 1.2, anchors and `<<` merges, Compose's interpolation on values, the
service's `extends` chain merged by Compose's rules), then each service key becomes a porttest key: `run` takes the
Docker SDK's containers.run() names, an enabled healthcheck adds `wait_for: {healthcheck: true}`.

Decisions: binds become run.volumes "ABS:TARGET:MODE" (relative to the folder of the file that wrote them); named
and anonymous volumes become a fresh anonymous volume (run.mounts), so a read-only root keeps its writable data
folders, with a warning that a named volume's data is not shared; tmpfs mounts join run.tmpfs. Privileged mode,
host namespaces, devices, dangerous capabilities and host paths are refused unless `allow_privileged`, by the
matrix's own rule. Keys that porttest does not translate (build, image, networks, restart, secrets, ...) are warned
about, each with its line. The services it depends on (depends_on, links) become the environment's `services`,
each translated by the same code (compose_services).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from porttest.config.descriptors import Translation
from porttest.config.descriptors.compose_env import compose_environment, interpolate, read_dotenv
from porttest.config.descriptors.compose_extends import Notes, Service, load_compose, resolve_service
from porttest.config.descriptors.compose_keys import (
    Out,
    blkio,
    command,
    deploy,
    environment,
    healthcheck,
    mapping_list,
    scalar_text,
    volumes,
)
from porttest.config.descriptors.compose_services import services
from porttest.config.descriptors.compose_values import (
    BYTES_HINT,
    PORT_HINT,
    ULIMIT_HINT,
    as_bool,
    as_int,
    parse_duration,
    ports_dict,
    sdk_bytes,
    tmpfs_dict,
    ulimits_list,
)
from porttest.config.models import dangerous_options
from porttest.config.run_options import RunOptions
from porttest.config.yaml_source import Located
from porttest.errors import ConfigError

__all__ = ["compose_environment", "interpolate", "load_compose", "read_dotenv", "translate"]


def _text(value: Any) -> str:
    if value is None or isinstance(value, dict | list):
        raise ValueError("expected a string")
    return scalar_text(value)


def _texts(value: Any) -> list[str]:
    return [_text(v) for v in value] if isinstance(value, list) else [_text(value)]


def _texts_map(value: Any) -> dict[str, str]:
    return {k: "" if v is None else _text(v) for k, v in mapping_list(value, "this key")}


def _hosts(value: Any) -> list[str]:
    out = []
    for host, ips in mapping_list(value, "extra_hosts", hosts=True):
        for ip in ips if isinstance(ips, list) else [ips]:
            if ip is None:
                raise ValueError(f"{host}: give the address, HOST=IP")
            out.append(f"{host}:{_text(ip).removeprefix('[').removesuffix(']')}")
    return out


def _oom_score(value: Any) -> int:
    score = as_int(value)
    if not -1000 <= score <= 1000:
        raise ValueError(f"{score} is outside -1000..1000")
    return score


def _cpus(value: Any) -> float:
    cpus = float(value) if isinstance(value, int | float | str) and not isinstance(value, bool) else -1.0
    if cpus < 0:
        raise ValueError(f"expected a number of CPUs such as 0.5, got {value!r}")
    return cpus


def _microseconds(value: Any) -> int:
    return as_int(value) if isinstance(value, int) or str(value).strip().isdigit() else parse_duration(value) // 1000


def _cgroup(value: Any) -> str:
    if value not in ("host", "private"):
        raise ValueError("`cgroup` is host or private")
    return str(value)


# Compose key -> (run key, converter): the keys that only need a rename or a canonical form.
_SIMPLE: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "user": ("user", _text), "working_dir": ("working_dir", _text), "hostname": ("hostname", _text),
    "domainname": ("domainname", _text), "runtime": ("runtime", _text), "platform": ("platform", _text),
    "stop_signal": ("stop_signal", _text), "mac_address": ("mac_address", _text),
    "isolation": ("isolation", _text), "cgroup_parent": ("cgroup_parent", _text), "cpuset": ("cpuset_cpus", _text),
    "userns_mode": ("userns_mode", _text), "network_mode": ("network_mode", _text), "ipc": ("ipc_mode", _text),
    "pid": ("pid_mode", _text), "uts": ("uts_mode", _text), "cgroup": ("cgroupns", _cgroup),
    "read_only": ("read_only", as_bool), "init": ("init", as_bool), "privileged": ("privileged", as_bool),
    "oom_kill_disable": ("oom_kill_disable", as_bool), "oom_score_adj": ("oom_score_adj", _oom_score),
    "cpu_shares": ("cpu_shares", as_int), "cpu_period": ("cpu_period", as_int), "cpu_quota": ("cpu_quota", as_int),
    "cpu_count": ("cpu_count", as_int), "cpu_percent": ("cpu_percent", as_int),
    "mem_swappiness": ("mem_swappiness", as_int), "pids_limit": ("pids_limit", as_int), "cpus": ("cpus", _cpus),
    "cpu_rt_period": ("cpu_rt_period", _microseconds), "cpu_rt_runtime": ("cpu_rt_runtime", _microseconds),
    "mem_limit": ("mem_limit", sdk_bytes), "mem_reservation": ("mem_reservation", sdk_bytes),
    "memswap_limit": ("memswap_limit", sdk_bytes), "shm_size": ("shm_size", sdk_bytes),
    "cap_add": ("cap_add", _texts), "cap_drop": ("cap_drop", _texts), "security_opt": ("security_opt", _texts),
    "group_add": ("group_add", _texts), "dns": ("dns", _texts), "dns_search": ("dns_search", _texts),
    "dns_opt": ("dns_opt", _texts), "device_cgroup_rules": ("device_cgroup_rules", _texts),
    "devices": ("devices", _texts), "labels": ("labels", _texts_map), "sysctls": ("sysctls", _texts_map),
    "storage_opt": ("storage_opt", _texts_map), "extra_hosts": ("extra_hosts", _hosts),
    "ports": ("ports", ports_dict), "ulimits": ("ulimits", ulimits_list), "tmpfs": ("tmpfs", tmpfs_dict),
}
_HINTS = {"ports": PORT_HINT, "ulimits": ULIMIT_HINT, "mem_limit": BYTES_HINT, "mem_reservation": BYTES_HINT,
          "memswap_limit": BYTES_HINT, "shm_size": BYTES_HINT}
# Namespaces shared with another service or container: that one is not run.
_JOINS = ("network_mode", "ipc", "pid")

# Compose key -> why porttest does not translate it.
_SKIPPED = {
    "build": "porttest runs the matrix's image, not one that Compose builds",
    "image": "porttest runs the matrix's image",
    "restart": "porttest starts the container once and removes it",
    "networks": "porttest puts the container and its services on one network of the environment's own: Compose "
                "networks, their aliases and their isolation are not reproduced",
    "secrets": "Compose secrets are not mounted; map the value into run.environment or run.volumes",
    "configs": "Compose configs are not mounted; bind the file with run.volumes",
    "logging": "porttest reads the container's logs through the engine's default log driver",
    "profiles": "profiles choose which services Compose starts; porttest runs this one",
    "scale": "porttest runs one container per environment",
    "container_name": "porttest names its containers itself",
    "expose": "exposed ports only document the service; nothing is published",
    "external_links": "containers outside this environment are not reached",
    "volumes_from": "the volumes of other containers are not shared here",
    "pull_policy": "porttest ships the image itself (see `ship:`)",
    "stop_grace_period": "porttest stops the container itself",
    "stdin_open": "porttest manages the container's stdin",
    "tty": "porttest manages the container's terminal",
    "credential_spec": "Windows containers only",
    "attach": "porttest reads the logs itself",
    "annotations": "the Docker SDK does not pass annotations",
    "gpus": "GPUs are not requested",
    "label_file": "labels from files are not read; write them under `labels`",
    "develop": "Compose Watch is a development loop",
    "post_start": "lifecycle hooks are not run",
    "pre_stop": "lifecycle hooks are not run",
    "models": "AI models are not provisioned",
    "provider": "provider services are not run",
    "use_api_socket": "the engine's socket is never given to the container",
}
# Run keys the matrix refuses without allow_privileged (models.dangerous_options), and the two it does not know.
_GATED = ("privileged", "network_mode", "pid_mode", "ipc_mode", "uts_mode", "userns_mode", "cap_add",
          "security_opt", "devices", "volumes", "mounts")
_PRIVILEGED_HINT = ("porttest never weakens isolation unless the matrix says `allow_privileged: true` at the top "
                    "level")


def translate(doc: Located, *, service: str, env: Mapping[str, str], project_dir: Path,
              allow_privileged: bool = False) -> Translation:
    """The environment profile for `service` of the Compose file `doc` (see the module docstring).

    `env` holds the variables to interpolate with (the shell's environment over the project's .env:
    compose_environment()). ConfigError, located in the Compose file(s), when the file or a value is wrong."""
    notes = Notes(doc.file, issues=list(doc.issues))
    resolved = resolve_service(doc, service, env, notes)
    if resolved is None or notes.issues:
        raise ConfigError(notes.issues)
    out = _service(resolved, notes, env, project_dir, allow_privileged, tested=True)
    found, lines = services(doc, resolved, notes, env, lambda dependency: _service(
        dependency, notes, env, project_dir, allow_privileged, tested=False))
    if notes.issues:
        raise ConfigError(notes.issues)
    profile: dict[str, Any] = {"run": out.run}
    if out.wait_for:
        profile["wait_for"] = out.wait_for
    if found:
        profile["services"] = found
    return Translation(profile, doc.file, {**out.lines, **lines}, tuple(notes.warnings),
                       frozenset(notes.secret_values))


def _service(service: Service, notes: Notes, env: Mapping[str, str], project_dir: Path, allow_privileged: bool,
             tested: bool) -> Out:
    """One service's keys as run options and wait_for: the tested one's, or a dependency's (whose image and build
    compose_services reads)."""
    out = Out(service, notes, env, project_dir)
    out.lines[("run",)] = out.line(())
    data = service.data
    later: list[str] = [k for k in ("environment", "env_file", "deploy") if k in data]  # after the keys they meet
    for key in [k for k in data if k not in later] + later:
        if tested or key not in ("image", "build", "ports"):
            _translate_key(out, key, data[key], later)
        elif key == "ports":
            out.skip((key,), "a service is reached by its name on the environment's network, so nothing is published "
                             "(a fixed host port would collide between environments that run side by side)")
    _refuse_dangerous(out, allow_privileged)
    return out


def _translate_key(out: Out, key: str, value: Any, later: list[str]) -> None:
    path = (key,)
    if key in ("depends_on", "links", "extends"):
        return  # compose_services follows the dependencies; resolve_service merged `extends`
    if key in _JOINS and isinstance(value, str) and value.startswith(("service:", "container:")):
        out.skip(path, f"{value} joins a namespace of another container, which is not run")
    elif key in _SIMPLE:
        run_key, convert = _SIMPLE[key]
        if value is None:
            return
        try:
            out.set(run_key, convert(value), path)
        except (TypeError, ValueError) as exc:
            out.fail(path, f"cannot read `{key}`: {exc}", _HINTS.get(key))
    elif key in ("environment", "env_file"):
        if key == later[0]:
            environment(out)
    elif key in ("entrypoint", "command"):
        command(out, key, value)
    elif key == "healthcheck":
        healthcheck(out, value)
    elif key == "volumes":
        volumes(out, value)
    elif key == "deploy":
        deploy(out, value)
    elif key == "blkio_config":
        blkio(out, value)
    elif key in _SKIPPED:
        out.skip(path, _SKIPPED[key])
    else:
        out.skip(path, "an extension field (x-), ignored" if key.startswith("x-") else "not a Compose service key")


def _refuse_dangerous(out: Out, allow_privileged: bool) -> None:
    """The matrix's own rule for options that weaken isolation, located at the Compose key that set them."""
    try:
        found = dangerous_options(RunOptions.model_validate({k: out.run[k] for k in _GATED if k in out.run}))
    except ValidationError:
        found = []  # the loader reports malformed values when it validates the profile
    if out.run.get("cgroupns") == "host":
        found.append(("cgroupns", "the container shares the host's cgroup namespace"))
    if out.run.get("device_cgroup_rules"):
        found.append(("device_cgroup_rules", "device cgroup rules let the container reach host devices"))
    for key, what in found:
        if not allow_privileged:
            out.fail(out.sources[key], f"refused: {what}", _PRIVILEGED_HINT)
