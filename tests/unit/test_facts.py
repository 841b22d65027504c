"""The probe parser: engine-added mounts are not part of an environment's profile."""

from __future__ import annotations

from harness.facts import parse_facts

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
    assert docker_fs == {"rootfs_read_only": True, "writable_mounts": ["/tmp"]}
    assert podman_fs == {"rootfs_read_only": True, "writable_mounts": ["/data", "/tmp"]}
