#!/usr/bin/env bash
# Build the local base images that porttest's demo and tests use, on machines that cannot pull from a registry.
#   porttest-base/debian:bookworm  debootstrap minbase + python3, procps, iproute2 (stands in for python:3.12-slim)
#   porttest-base/busybox:latest   busybox-static only (about 2 MB, for fast tests)
# Idempotent: an image that already exists is kept. Set PORTTEST_REBUILD=1 to rebuild.
set -euo pipefail

DEBIAN_IMAGE=${PORTTEST_DEBIAN_IMAGE:-porttest-base/debian:bookworm}
BUSYBOX_IMAGE=${PORTTEST_BUSYBOX_IMAGE:-porttest-base/busybox:latest}

have_image() { [ -z "${PORTTEST_REBUILD:-}" ] && docker image inspect "$1" >/dev/null 2>&1; }

need() {  # need CMD PACKAGE: install a Debian package when its command is missing
  command -v "$1" >/dev/null 2>&1 && return 0
  [ -x "/usr/sbin/$1" ] || [ -x "/bin/$1" ] && return 0
  echo "installing $2 ..." >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null; }
}

debian_mirror() {
  local url
  url=$(grep -h -E '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null \
        | grep -o -E 'https?://[^ ]*/debian/?( |$)' | grep -v -- '-security' | head -n 1 | tr -d ' ' || true)
  echo "${url:-http://deb.debian.org/debian}"
}

if ! have_image "$BUSYBOX_IMAGE"; then
  need busybox busybox-static
  bb=$(command -v busybox || echo /bin/busybox)
  root=$(mktemp -d)
  trap 'rm -rf "$root"' EXIT
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,root,proc,sys,dev,var/tmp}
  cp "$bb" "$root/bin/busybox"
  for applet in $("$root/bin/busybox" --list); do
    [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  chmod 1777 "$root/tmp" "$root/var/tmp"
  tar -C "$root" -c . | docker import \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' -c 'CMD ["sh"]' - "$BUSYBOX_IMAGE" >/dev/null
  rm -rf "$root"; trap - EXIT
  echo "built $BUSYBOX_IMAGE"
fi

if ! have_image "$DEBIAN_IMAGE"; then
  need debootstrap debootstrap
  root=$(mktemp -d)
  trap 'rm -rf "$root"' EXIT
  debootstrap --variant=minbase --include=python3,procps,iproute2 bookworm "$root" "$(debian_mirror)" >/tmp/porttest-debootstrap.log 2>&1 \
    || { tail -n 20 /tmp/porttest-debootstrap.log >&2; exit 1; }
  tar -C "$root" --exclude='./var/cache/apt/archives/*.deb' --exclude='./var/lib/apt/lists/*' -c . | docker import \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' -c 'ENV LANG=C.UTF-8' -c 'CMD ["bash"]' \
    - "$DEBIAN_IMAGE" >/dev/null
  rm -rf "$root"; trap - EXIT
  echo "built $DEBIAN_IMAGE"
fi
