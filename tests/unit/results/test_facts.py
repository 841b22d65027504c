"""The probe parser: engine-added mounts are not part of an environment's profile."""

from __future__ import annotations

from porttest.results.facts import parse_facts

# /proc/self/mounts lines as Docker and podman (4.3, runc) show them for the same read-only profile.
DOCKER = """mount=overlay / overlay ro,relatime 0 0
mount=tmpfs /tmp tmpfs rw,nosuid,nodev 0 0
mount=/dev/vda /etc/hosts ext4 rw,relatime 0 0
"""
PODMAN = """mount=overlay / overlay ro,relatime 0 0
mount=tmpfs /tmp tmpfs rw,nosuid,nodev 0 0
mount=tmpfs /run/.containerenv tmpfs rw,nosuid,nodev 0 0
mount=tmpfs /etc/hosts tmpfs rw,nosuid,nodev 0 0
mount=/dev/vda /data ext4 rw,relatime 0 0
"""


def test_podman_containerenv_is_an_engine_mount() -> None:
    docker_fs = parse_facts(DOCKER)["filesystem"]
    podman_fs = parse_facts(PODMAN)["filesystem"]
    assert docker_fs == {"rootfs_read_only": True, "writable_mounts": ["/tmp"], "read_only_mounts": []}
    assert podman_fs == {"rootfs_read_only": True, "writable_mounts": ["/data", "/tmp"], "read_only_mounts": []}


def test_read_only_mounts_are_the_environments_own_not_the_kernels_or_porttests() -> None:
    # A Kubernetes service-account volume, a configMap bind, /proc masks, /sys and porttest's own toolbox.
    fs = parse_facts("""mount=overlay / overlay rw,relatime 0 0
mount=/dev/vda /run/secrets/kubernetes.io/serviceaccount ext4 ro,relatime 0 0
mount=/dev/vda /etc/app ext4 ro,relatime 0 0
mount=proc /proc/bus proc ro,relatime 0 0
mount=sysfs /sys sysfs ro,nosuid 0 0
mount=tmpfs /proc/acpi tmpfs ro,relatime 0 0
mount=/dev/vda /.porttest-toolbox ext4 ro,relatime 0 0
""")["filesystem"]
    assert fs == {"rootfs_read_only": False, "writable_mounts": [],
                  "read_only_mounts": ["/etc/app", "/run/secrets/kubernetes.io/serviceaccount"]}


def test_one_id_line_gives_what_six_id_calls_give() -> None:
    user = parse_facts("id=uid=0(root) gid=0(root) groups=0(root),1(bin),27(sudo)\n")["user"]
    assert user == {"uid": 0, "gid": 0, "name": "root", "group": "root", "groups": [0, 1, 27],
                    "group_names": ["root", "bin", "sudo"]}
    # No names: coreutils and busybox print the number in `id -un` / `id -Gn`. busybox lists the kernel's groups as
    # they are: the group ID may come later, be missing, or there may be no groups= at all; `id -G` leads with it.
    user = parse_facts("id=uid=1000 gid=1234 groups=27(video),1234\n")["user"]
    assert user == {"uid": 1000, "gid": 1234, "name": "1000", "group": "1234", "groups": [1234, 27],
                    "group_names": ["1234", "video"]}
    assert parse_facts("id=uid=1000 gid=1234 groups=27(video)\n")["user"]["groups"] == [1234, 27]
    assert parse_facts("id=uid=1000 gid=1234(app)\n")["user"]["group_names"] == ["app"]
    # setuid: the effective IDs, as `id -u` prints them; an SELinux context is not a group.
    user = parse_facts("id=uid=0(root) gid=0(root) euid=1000(app) groups=0(root) context=u:r:t:s0\n")["user"]
    assert (user["uid"], user["name"], user["groups"]) == (1000, "app", [0])
    assert parse_facts("id=\n")["user"] == {"uid": None, "gid": None, "name": None, "group": None, "groups": [],
                                            "group_names": []}
    # Directory services (sssd, AD) give names with spaces; `id` prints them as they are.
    user = parse_facts("id=uid=1000(ad user) gid=513(domain users) groups=513(domain users),27(sudo)\n")["user"]
    assert user == {"uid": 1000, "gid": 513, "name": "ad user", "group": "domain users", "groups": [513, 27],
                    "group_names": ["domain users", "sudo"]}


def test_cgroup_v1_quota_from_its_own_lines() -> None:
    facts = parse_facts("cgroup=1\ncpu_quota=50000\ncpu_period=100000\ncpus=3\n")
    assert facts["limits"]["cpus"] == 0.5 and facts["cpu_count"] == 3
    assert parse_facts("cpu_quota=-1\ncpu_period=100000\n")["limits"]["cpus"] is None
