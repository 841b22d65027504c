"""PURE: a pod's and its container's securityContext, merged as Kubernetes merges them, as Docker run options."""

from __future__ import annotations

from typing import Any

from porttest.config.descriptors.kubernetes_fields import PRIVILEGED_HINT, Context, is_empty
from porttest.config.yaml_source import Path_

SAFE_SYSCTLS = frozenset("""kernel.shm_rmid_forced net.ipv4.ip_local_port_range net.ipv4.tcp_syncookies
    net.ipv4.ping_group_range net.ipv4.ip_unprivileged_port_start net.ipv4.ip_local_reserved_ports
    net.ipv4.tcp_keepalive_time net.ipv4.tcp_fin_timeout net.ipv4.tcp_keepalive_intvl
    net.ipv4.tcp_keepalive_probes""".split())
_POD_SC = {"runAsUser", "runAsGroup", "runAsNonRoot", "supplementalGroups", "supplementalGroupsPolicy", "fsGroup",
           "fsGroupChangePolicy", "seccompProfile", "appArmorProfile", "seLinuxOptions", "seLinuxChangePolicy",
           "sysctls", "windowsOptions"}
_CONTAINER_SC = {"runAsUser", "runAsGroup", "runAsNonRoot", "readOnlyRootFilesystem", "allowPrivilegeEscalation",
                 "capabilities", "privileged", "procMount", "seccompProfile", "appArmorProfile", "seLinuxOptions",
                 "windowsOptions"}


def security(ctx: Context, spec: dict[str, Any], spec_path: Path_, main: dict[str, Any], cpath: Path_,
              allow_privileged: bool) -> None:
    """Pod and container securityContext, merged as Kubernetes merges them: the container's value wins."""
    merged: dict[str, tuple[Any, Path_]] = {}
    for owner, path, known in ((spec, spec_path, _POD_SC), (main, cpath, _CONTAINER_SC)):
        for key, value in (ctx.at(owner, "securityContext", path, "mapping") or {}).items():
            if key in known:
                merged[key] = (value, (*path, "securityContext", key))
            else:
                ctx.skip((*path, "securityContext", key), "unknown field")

    def get(key: str, kind: str) -> tuple[Any, Path_]:
        value, path = merged.get(key, (None, ()))
        return ctx.typed(value, path, kind), path

    user, user_path = get("runAsUser", "integer")
    group, group_path = get("runAsGroup", "integer")
    if user is not None:
        ctx.put(("run", "user"), f"{user}:{group}" if group is not None else str(user), user_path)
    elif group is not None:
        ctx.skip(group_path, "runAsGroup without runAsUser: Docker's user option needs the user, so the image's "
                             "user keeps its own group")
    if get("runAsNonRoot", "boolean")[0]:
        if ctx.service is None:
            ctx.put(("run_as_non_root",), True, merged["runAsNonRoot"][1])
        else:
            ctx.skip(merged["runAsNonRoot"][1], "porttest checks runAsNonRoot for the image under test only, not "
                                                "for the images of the pod's other containers")
    # An explicit false is written too: the manifest is the later layer, and a profile before it must not win.
    read_only = get("readOnlyRootFilesystem", "boolean")[0]
    if read_only is not None:
        ctx.put(("run", "read_only"), bool(read_only), merged["readOnlyRootFilesystem"][1])
    escalation = get("allowPrivilegeEscalation", "boolean")[0]
    if escalation is not None:
        ctx.add(("run", "security_opt"), f"no-new-privileges:{'false' if escalation else 'true'}",
                merged["allowPrivilegeEscalation"][1])
    groups, groups_path = get("supplementalGroups", "list")
    for i, gid in enumerate(groups or []):
        ctx.add(("run", "group_add"), str(gid), (*groups_path, i))
    fs_group, fs_path = get("fsGroup", "integer")
    if fs_group is not None:
        ctx.add(("run", "group_add"), str(fs_group), fs_path)
        ctx.note(fs_path, "fsGroup joins the groups; volume ownership is not changed (emptyDir tmpfs is mode 1777)")
    caps, caps_path = get("capabilities", "mapping")
    for key, value in (caps or {}).items():
        if key in ("add", "drop"):
            for i, cap in enumerate(ctx.typed(value, (*caps_path, key), "list") or []):
                name = str(cap).upper()
                if name.startswith("CAP_"):  # containerd prefixes CAP_ again: on a cluster this name fails
                    ctx.note((*caps_path, key, i), f"{cap}: Kubernetes names capabilities without CAP_ "
                                                   f"(write {name[4:]}); a cluster's runtime would refuse {cap}")
                ctx.add(("run", f"cap_{key}"), name, (*caps_path, key, i))
        else:
            ctx.skip((*caps_path, key), "unknown field")
    if get("privileged", "boolean")[0]:
        if allow_privileged:
            ctx.put(("run", "privileged"), True, merged["privileged"][1])
        else:
            ctx.fail(merged["privileged"][1], "the container is privileged", PRIVILEGED_HINT)
    seccomp, seccomp_path = get("seccompProfile", "mapping")
    kind = (seccomp or {}).get("type")
    if seccomp is None:
        ctx.note(cpath, "no seccompProfile: a cluster runs the pod Unconfined unless the kubelet sets "
                        "--seccomp-default; Docker applies its default profile")
    elif kind == "Unconfined":
        ctx.add(("run", "security_opt"), "seccomp=unconfined", seccomp_path)
    elif kind != "RuntimeDefault":
        ctx.skip(seccomp_path, f"seccomp profile {kind} {seccomp.get('localhostProfile', '')} lives on the node")
    for key, default in (("appArmorProfile", "RuntimeDefault"), ("procMount", "Default")):
        value, path = merged.get(key, (None, ()))
        kind = value.get("type") if isinstance(value, dict) else value
        if value is not None and kind != default:
            ctx.skip(path, "not reproduced on Docker")
    for key in ("seLinuxOptions", "seLinuxChangePolicy", "windowsOptions", "supplementalGroupsPolicy",
                "fsGroupChangePolicy"):
        value, path = merged.get(key, (None, ()))
        if not is_empty(value) and value != "Merge":
            ctx.skip(path, "not reproduced on Docker")
    _sysctls(ctx, merged.get("sysctls"), allow_privileged)


def _sysctls(ctx: Context, found: tuple[Any, Path_] | None, allow_privileged: bool) -> None:
    if found is None:
        return
    for i, entry in enumerate(ctx.typed(found[0], found[1], "list") or []):
        path = (*found[1], i)
        name, value = (entry.get("name"), entry.get("value")) if isinstance(entry, dict) else (None, None)
        if not isinstance(name, str) or value is None:
            ctx.fail(path, "a sysctl has a name and a value")
        elif name in SAFE_SYSCTLS or allow_privileged:
            ctx.put(("run", "sysctls", name), str(value), path)
        else:
            ctx.fail(path, f"sysctl {name} is not in Kubernetes' safe set", PRIVILEGED_HINT)
