"""PURE: the built-in probe script run inside each container, and the parser that turns its output into facts."""

from __future__ import annotations

import re
from typing import Any

# POSIX sh only; every line is `key=value`. Works on busybox and Debian; what an image lacks is simply absent.
# Environment variables are reduced to their NAMES inside the container: values never leave it.
# Files are read with the shell's own `read`, and one `id` (labels in the C locale) and one `uname` say what six and
# two would: every program started here costs an exec, which on a FUSE rootfs or under gVisor is the probe's main
# cost. `nproc` stays: it honours OMP_NUM_THREADS and, in newer coreutils, the cgroup's CPU quota.
PROBE = r"""
rd() { [ -r "$2" ] || return 0; v=; IFS= read -r v <"$2" || [ -n "$v" ] || return 0; echo "$1=$v"; }
echo "id=$(LC_ALL=C id 2>/dev/null)"
set -- $(uname -r -m 2>/dev/null); echo "kernel=${1-}"; echo "arch=${2-}"
rd proc_version /proc/version
if [ -r /etc/os-release ]; then
  while IFS= read -r l || [ -n "$l" ]; do case "$l" in *=*) echo "os_$l";; esac; done </etc/os-release
fi
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  echo "cgroup=2"
  rd mem_max /sys/fs/cgroup/memory.max; rd cpu_max /sys/fs/cgroup/cpu.max; rd pids_max /sys/fs/cgroup/pids.max
else
  echo "cgroup=1"
  rd mem_max /sys/fs/cgroup/memory/memory.limit_in_bytes
  rd cpu_quota /sys/fs/cgroup/cpu/cpu.cfs_quota_us; rd cpu_period /sys/fs/cgroup/cpu/cpu.cfs_period_us
  rd pids_max /sys/fs/cgroup/pids/pids.max
fi
if [ -r /proc/self/mounts ]; then while IFS= read -r l; do echo "mount=$l"; done </proc/self/mounts; fi
if [ -r /proc/self/status ]; then
  while IFS= read -r l; do
    case "$l" in
      CapEff:*) echo "capeff=${l#CapEff:}";; Seccomp:*) echo "seccomp=${l#Seccomp:}";;
      NoNewPrivs:*) echo "nnp=${l#NoNewPrivs:}";;
    esac
  done </proc/self/status
fi
echo "cpus=$(nproc 2>/dev/null || grep -c ^processor /proc/cpuinfo 2>/dev/null)"
if [ -r /proc/self/limits ]; then while IFS= read -r l; do echo "limit=$l"; done </proc/self/limits; fi
h=; [ -r /proc/sys/kernel/hostname ] && IFS= read -r h </proc/sys/kernel/hostname
[ -n "$h" ] || { [ -r /etc/hostname ] && IFS= read -r h </etc/hostname; }; echo "hostname=$h"
if [ -r /etc/resolv.conf ]; then while IFS= read -r l; do echo "resolv=$l"; done </etc/resolv.conf; fi
echo "tz=${TZ-}"; rd etc_timezone /etc/timezone
[ -L /etc/localtime ] && echo "localtime=$(readlink /etc/localtime 2>/dev/null)"
echo "lang=${LANG-}"; echo "lc_all=${LC_ALL-}"
awk 'BEGIN { for (k in ENVIRON) print "env_name=" k }' 2>/dev/null || env | while IFS='=' read -r k _; do
  case "$k" in *[!A-Za-z0-9_]*|'') ;; *) echo "env_name=$k";; esac
done
true
"""

CAPABILITIES = (
    "CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP LINUX_IMMUTABLE NET_BIND_SERVICE "
    "NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT "
    "SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP "
    "MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF CHECKPOINT_RESTORE"
).split()
SECCOMP_MODES = {"0": "disabled", "1": "strict", "2": "filter"}
_UNLIMITED = 1 << 62
_VIRTUAL_FS = {"proc", "sysfs", "cgroup", "cgroup2", "devpts", "mqueue", "securityfs", "debugfs", "tracefs"}
# Mounts the engine adds to every container; they say nothing about the environment's profile. Podman adds
# /run/.containerenv (its /.dockerenv).
_ENGINE_MOUNTS = {"/dev", "/dev/shm", "/dev/mqueue", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf",
                  "/run/.containerenv"}


def decode_capabilities(hex_mask: str) -> list[str]:
    """CapEff as capability names (CAP_ prefix dropped); unknown high bits appear as their bit number."""
    try:
        mask = int(hex_mask, 16)
    except ValueError:
        return []
    names = []
    for bit in range(64):
        if mask >> bit & 1:
            names.append(CAPABILITIES[bit] if bit < len(CAPABILITIES) else f"bit{bit}")
    return names


def _limit(text: str | None) -> int | None:
    if not text or text.strip() in ("max", "-1", ""):
        return None
    try:
        value = int(text.strip())
    except ValueError:
        return None
    return None if value >= _UNLIMITED or value < 0 else value


def _cpus(text: str | None) -> float | None:
    if not text:
        return None
    parts = text.split()
    if len(parts) != 2 or parts[0] in ("max", "-1"):
        return None
    try:
        return round(int(parts[0]) / int(parts[1]), 3)
    except (ValueError, ZeroDivisionError):
        return None


# A value runs to the next space outside parentheses: names (sssd, AD) may hold spaces, `groups=513(domain users)`.
_ID_FIELD = re.compile(r"(\w+)=((?:\([^)]*\)|[^\s(])*)")
_ID_ENTRY = re.compile(r"(\d+)(?:\((.*)\))?$")


def _id_fields(text: str) -> tuple[dict[str, str], list[str]]:
    """`id`'s one line (`uid=0(root) gid=0(root) groups=0(root),1(bin)`, the same on busybox) as the values that
    `id -u`, `id -g`, `id -un`, `id -gn` and `id -G` print, and the group names `id -Gn` prints (a list: a name
    may hold a space): effective IDs, and the number where a name is missing (as coreutils and busybox print it)."""
    fields = dict(_ID_FIELD.findall(text))
    entries: dict[str, tuple[str, str]] = {}
    for key in ("uid", "gid"):
        match = _ID_ENTRY.match(fields.get("e" + key) or fields.get(key) or "")
        if match:
            entries[key] = (match.group(1), match.group(2) or match.group(1))
    groups = [(m.group(1), m.group(2) or m.group(1))
              for m in (_ID_ENTRY.match(g) for g in fields.get("groups", "").split(",")) if m]
    if "gid" in entries:
        # `id -G` always leads with the group ID; busybox's `id` lists the kernel's groups as they are, which may
        # leave it out (or print no groups= at all).
        groups = [entries["gid"], *(group for group in groups if group[0] != entries["gid"][0])]
    out = {key: number for key, (number, _) in entries.items()}
    if "uid" in entries:
        out["user"] = entries["uid"][1]
    if "gid" in entries:
        out["group"] = entries["gid"][1]
    if groups:
        out["groups"] = " ".join(number for number, _ in groups)
    return out, [name for _, name in groups]


def parse_facts(output: str) -> dict[str, Any]:
    """Structured facts from the probe's `key=value` lines."""
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for line in output.splitlines():
        key, sep, value = line.partition("=")
        if not sep:
            continue
        if key in ("mount", "limit", "resolv", "env_name"):
            multi.setdefault(key, []).append(value)
        else:
            single.setdefault(key, value)
    id_fields, id_group_names = _id_fields(single.get("id", ""))
    for key, value in id_fields.items():
        single.setdefault(key, value)
    if "cpu_quota" in single and "cpu_period" in single:
        single.setdefault("cpu_max", f"{single['cpu_quota']} {single['cpu_period']}")
    facts: dict[str, Any] = {}
    facts["user"] = {
        "uid": _int(single.get("uid")), "gid": _int(single.get("gid")),
        "name": single.get("user") or None, "group": single.get("group") or None,
        "groups": [int(g) for g in single.get("groups", "").split() if g.isdigit()],
        "group_names": single["group_names"].split() if "group_names" in single else id_group_names,
    }
    facts["kernel"] = single.get("kernel") or None
    facts["arch"] = single.get("arch") or None
    facts["os"] = {k[3:].lower(): v.strip('"') for k, v in single.items()
                   if k.startswith("os_") and k[3:] in ("ID", "VERSION_ID", "PRETTY_NAME", "VERSION_CODENAME")}
    facts["limits"] = {
        "cgroup_version": _int(single.get("cgroup")),
        "memory_bytes": _limit(single.get("mem_max")),
        "cpus": _cpus(single.get("cpu_max")),
        "pids": _limit(single.get("pids_max")),
    }
    facts["filesystem"] = _mounts(multi.get("mount", []))
    security: dict[str, Any] = {}
    if "capeff" in single:
        security["capabilities"] = decode_capabilities(single["capeff"].strip())
    if "seccomp" in single:
        security["seccomp"] = SECCOMP_MODES.get(single["seccomp"].strip(), single["seccomp"].strip())
    if "nnp" in single:
        security["no_new_privs"] = single["nnp"].strip() == "1"
    facts["security"] = security
    facts["ulimits"] = _limits(multi.get("limit", []))
    facts["hostname"] = single.get("hostname") or None
    facts["resolv_conf"] = {
        "nameservers": [ln.split()[1] for ln in multi.get("resolv", []) if ln.startswith("nameserver") and
                        len(ln.split()) > 1],
        "search": [w for ln in multi.get("resolv", []) if ln.startswith("search") for w in ln.split()[1:]],
    }
    facts["timezone"] = {"TZ": single.get("tz") or None, "etc_timezone": single.get("etc_timezone") or None,
                         "localtime": single.get("localtime") or None}
    facts["locale"] = {"LANG": single.get("lang") or None, "LC_ALL": single.get("lc_all") or None}
    facts["cpu_count"] = _int(single.get("cpus"))
    facts["env_names"] = sorted(set(multi.get("env_name", [])))
    version = single.get("proc_version", "")
    facts["runtime"] = {"gvisor": facts["kernel"] == "4.4.0" and "#1 SMP Sun Jan 10 15:06:54 PST 2016" in version}
    return facts


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text not in (None, "") else None
    except ValueError:
        return None


def _mounts(lines: list[str]) -> dict[str, Any]:
    read_only = None
    writable, read_only_mounts = [], []
    for line in lines:
        parts = line.split()
        if len(parts) < 4:
            continue
        fstype, target, options = parts[2], parts[1], parts[3].split(",")
        if target == "/":
            read_only = "ro" in options
        elif (fstype in _VIRTUAL_FS or target in _ENGINE_MOUNTS or target.startswith(("/proc", "/sys", "/dev/pts"))
              or target.startswith("/.porttest")):  # porttest's own (a toolbox) is no fact of the environment
            continue
        elif "rw" in options:
            writable.append(target)
        elif "ro" in options:
            read_only_mounts.append(target)
    return {"rootfs_read_only": read_only, "writable_mounts": sorted(set(writable)),
            "read_only_mounts": sorted(set(read_only_mounts))}


def _limits(lines: list[str]) -> dict[str, str]:
    wanted = {"Max open files": "nofile", "Max processes": "nproc", "Max stack size": "stack",
              "Max core file size": "core", "Max locked memory": "memlock"}
    out = {}
    for line in lines:
        for label, name in wanted.items():
            if line.startswith(label):
                rest = line[len(label):].split()
                if len(rest) >= 2:
                    out[name] = f"{rest[0]}/{rest[1]}"
    return out


# Facts that can explain a behaviour difference; hostnames and the like differ everywhere and explain nothing.
# In order of how often they explain a difference; a failure message's own words move the matching ones first.
EXPLANATORY = (
    "filesystem.rootfs_read_only", "filesystem.read_only_mounts", "user.uid", "security.capabilities",
    "limits.memory_bytes", "limits.pids", "limits.cpus", "security.no_new_privs", "security.seccomp",
    "runtime.gvisor", "runtime.name", "kernel", "filesystem.writable_mounts", "user.gid", "user.name", "user.groups",
    "arch", "os.id", "os.version_id", "limits.cgroup_version", "ulimits.nofile", "ulimits.nproc", "timezone.TZ",
    "timezone.localtime", "locale.LANG", "locale.LC_ALL", "cpu_count", "env_names",
)

# The run options that set each fact: a "why?" line names the setting behind the fact, and where it was written.
SETTINGS = {
    "filesystem.rootfs_read_only": ("read_only",), "filesystem.writable_mounts": ("tmpfs", "volumes", "mounts"),
    "filesystem.read_only_mounts": ("files", "volumes", "mounts"),
    "user.uid": ("user",), "user.gid": ("user",), "user.groups": ("group_add", "user"),
    "security.capabilities": ("cap_drop", "cap_add", "privileged"), "security.no_new_privs": ("security_opt",),
    "security.seccomp": ("security_opt", "privileged"), "limits.memory_bytes": ("mem_limit",),
    "limits.pids": ("pids_limit",), "limits.cpus": ("cpus", "nano_cpus", "cpu_quota"),
    "runtime.name": ("runtime",), "runtime.gvisor": ("runtime",), "kernel": ("runtime",),
    "ulimits.nofile": ("ulimits",), "ulimits.nproc": ("ulimits",), "arch": ("platform",),
}

_KERNEL = ("kernel", "runtime.gvisor", "runtime.name")
# Words in a failure message that point at a fact.
CLUES = {
    "read-only file system": ("filesystem.rootfs_read_only", "filesystem.writable_mounts"),
    "permission denied": ("user.uid", "user.gid", "user.groups", "filesystem.rootfs_read_only",
                          "security.capabilities"),
    "operation not permitted": ("security.capabilities", "security.no_new_privs", "security.seccomp", "user.uid"),
    "killed": ("limits.memory_bytes",), "137": ("limits.memory_bytes",), "memory": ("limits.memory_bytes",),
    "can't fork": ("limits.pids", "ulimits.nproc"), "resource temporarily unavailable": ("limits.pids",),
    "too many open files": ("ulimits.nofile",), "timed out": ("limits.cpus",),
    # A sandboxed kernel (gVisor) refuses or lacks some system calls and reports its own kernel version.
    "function not implemented": _KERNEL, "invalid argument": _KERNEL, "kernel": _KERNEL, "uname": _KERNEL,
    "/proc/version": _KERNEL,
}


def quoted_keys(messages: dict[str, str], flat: dict[str, dict[str, Any]]) -> list[str]:
    """Explanatory fact keys whose value in an environment is quoted by that environment's failure message.

    `assert '4.4.0' == ...` under gVisor points at the kernel; short values (uid 0) would match anything."""
    found: dict[str, None] = {}
    for env, message in messages.items():
        for key in EXPLANATORY:
            value = flat.get(env, {}).get(key)
            if isinstance(value, (str, int)) and not isinstance(value, bool) and len(str(value)) >= 3 \
                    and str(value) in message:
                found.setdefault(key, None)
    return list(found)


def clue_keys(messages: list[str]) -> list[str]:
    """Fact keys that the failure messages hint at, most specific first."""
    found: dict[str, None] = {}
    for message in messages:
        lowered = message.lower()
        for word, keys in CLUES.items():
            if word in lowered:
                for key in keys:
                    found.setdefault(key, None)
    return list(found)


def flatten(facts: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted keys for nested facts: {"user": {"uid": 0}} -> {"user.uid": 0}."""
    out: dict[str, Any] = {}
    for key, value in facts.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, path + "."))
        else:
            out[path] = value
    return out


def fact_of(key: str, flat: dict[str, Any]) -> Any:
    """A fact as explanations compare and show it: the architecture with whether it is emulated ("aarch64
    (emulated)"); any other key as it is."""
    if key == "arch" and flat.get("arch") and flat.get("emulated"):
        return f"{flat['arch']} (emulated)"
    return flat.get(key)


def describe(key: str, value: Any) -> str:
    """A fact as a reader wants it: 'rootfs read-only', 'memory limit 256 MiB', 'uid 10001', 'aarch64 (emulated)'."""
    if key.startswith("services."):
        name, _, rest = key.removeprefix("services.").partition(".")
        if rest == "image":
            return f"service {name} image {value}" if value else f"no service {name}"
        shown = ", ".join(map(str, value)) if isinstance(value, list) else value
        return f"service {name} {rest.removeprefix('run.')} {shown}" if value is not None else \
            f"service {name} {rest.removeprefix('run.')} not set"
    if key == "filesystem.rootfs_read_only":
        return "rootfs read-only" if value else "rootfs writable"
    if key == "limits.memory_bytes":
        return "no memory limit" if value is None else f"memory limit {value / 2**20:g} MiB"
    if key == "limits.pids":
        return "no pids limit" if value is None else f"pids limit {value}"
    if key == "limits.cpus":
        return "no CPU limit" if value is None else f"CPU limit {value:g}"
    if key == "security.capabilities":
        return "capabilities: " + (", ".join(value) if value else "none")
    if key == "filesystem.writable_mounts":
        return "writable mounts: " + (", ".join(value) if value else "none")
    if key == "filesystem.read_only_mounts":
        return "read-only mounts: " + (", ".join(value) if value else "none")
    if key == "env_names":
        return "environment variables: " + (", ".join(value) if value else "none")
    if key == "runtime.gvisor":
        return "gVisor" if value else "not gVisor"
    if key == "runtime.name":
        return f"runtime {value}"
    if key == "arch" and value:
        return str(value)
    if isinstance(value, list):
        value = ", ".join(map(str, value)) or "none"
    return f"{key.split('.', 1)[-1] if key.startswith(('user.', 'os.')) else key} {value}"
