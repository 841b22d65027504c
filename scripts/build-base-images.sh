#!/usr/bin/env bash
# Build the local base images that porttest's demo and tests use, on machines that cannot pull from a registry.
#   porttest-base/debian:bookworm  debootstrap minbase + python3, procps, iproute2 (stands in for python:3.12-slim)
#   porttest-base/busybox:latest   busybox-static only (about 2 MB, for fast tests)
#   porttest-base/busybox:arm64    the same for linux/arm64 (Debian's arm64 busybox-static), run under emulation
#   porttest-lab/redis:latest      service images built FROM the Debian base with Debian's packages (redis-server 7.0,
#   porttest-lab/postgres:latest   PostgreSQL 15) from tests/lab/images/*/Dockerfile; postgres takes 1.5-2 minutes
# Makes sure other CPUs' containers run here: binfmt_misc mounted, qemu-user-static's handlers registered (F flag).
# Idempotent: an image that already exists is kept. Set PORTTEST_REBUILD=1 to rebuild.
set -euo pipefail

DEBIAN_IMAGE=${PORTTEST_DEBIAN_IMAGE:-porttest-base/debian:bookworm}
BUSYBOX_IMAGE=${PORTTEST_BUSYBOX_IMAGE:-porttest-base/busybox:latest}
ARM64_IMAGE=${PORTTEST_ARM64_IMAGE:-porttest-base/busybox:arm64}
REDIS_IMAGE=${PORTTEST_REDIS_IMAGE:-porttest-lab/redis:latest}
POSTGRES_IMAGE=${PORTTEST_POSTGRES_IMAGE:-porttest-lab/postgres:latest}
LAB_IMAGES="$(cd "$(dirname "$0")/.." && pwd)/tests/lab/images"
BINFMT=/proc/sys/fs/binfmt_misc

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

apt_install() {  # apt_install PACKAGE...: waits for another apt's lock; updates the lists once if needed
  local apt=(apt-get -o DPkg::Lock::Timeout=300 -y -q)
  DEBIAN_FRONTEND=noninteractive "${apt[@]}" install "$@" >/dev/null 2>&1 \
    || { "${apt[@]}" update >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive "${apt[@]}" install "$@" >/dev/null; }
}

ensure_emulation() {  # qemu-aarch64 registered, enabled, with the F flag (so containers need no qemu of their own)
  [ "$(uname -m)" = aarch64 ] && return 0
  grep -qx enabled "$BINFMT/qemu-aarch64" 2>/dev/null && grep -q '^flags:.*F' "$BINFMT/qemu-aarch64" && return 0
  if [ "$(id -u)" != 0 ]; then  # not fatal here: the tests that need emulation skip, saying why
    echo "warning: no emulation of other CPUs, so no $ARM64_IMAGE; as root: mount -t binfmt_misc binfmt_misc" \
         "$BINFMT; apt-get install qemu-user-static binfmt-support" >&2
    return 1
  fi
  [ -e "$BINFMT/register" ] || mount -t binfmt_misc binfmt_misc "$BINFMT"
  dpkg -s qemu-user-static binfmt-support >/dev/null 2>&1 || { echo "installing qemu-user-static ..." >&2
    apt_install qemu-user-static binfmt-support; }
  grep -qx enabled "$BINFMT/qemu-aarch64" 2>/dev/null || update-binfmts --enable >/dev/null 2>&1 || true
  grep -qx enabled "$BINFMT/qemu-aarch64" 2>/dev/null \
    || { echo "qemu-aarch64 is not registered in $BINFMT (see update-binfmts --display)" >&2; exit 1; }
  echo "emulation registered: $(cd "$BINFMT" && echo qemu-* | wc -w) qemu handlers" >&2
}

lab_image() {  # lab_image NAME FOLDER: a service image from tests/lab/images/FOLDER, FROM the Debian base
  have_image "$1" && return 0
  local old said
  old=$(docker image inspect -f '{{.Id}}' "$1" 2>/dev/null || true)
  said=$(DOCKER_BUILDKIT=0 docker build -q ${PORTTEST_REBUILD:+--no-cache} --build-arg BASE_IMAGE="$DEBIAN_IMAGE" \
         -t "$1" "$LAB_IMAGES/$2" 2>&1) || { echo "$said" | tail -n 20 >&2; exit 1; }
  # a rebuild leaves the old image untagged: remove it (by its ID; only when nothing else uses it)
  if [ -n "$old" ] && [ "$old" != "$(docker image inspect -f '{{.Id}}' "$1")" ]; then
    docker rmi "$old" >/dev/null 2>&1 || true
  fi
  echo "built $1"
}

busybox_image() {  # busybox_image BUSYBOX_BINARY NAME [PLATFORM]: a rootfs of busybox and its applets as an image
  local root
  root=$(mktemp -d)
  trap 'rm -rf "$root"' EXIT
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,root,proc,sys,dev,var/tmp}
  cp "$1" "$root/bin/busybox"
  for applet in $("$root/bin/busybox" --list); do
    [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  chmod 1777 "$root/tmp" "$root/var/tmp"
  if [ -z "${3:-}" ]; then
    tar -C "$root" -c . | docker import \
      -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' -c 'CMD ["sh"]' - "$2" >/dev/null
  else  # `docker import --platform` needs an experimental engine; a build FROM scratch sets the platform anywhere
    local context="$root.context"
    mkdir -p "$context"
    tar -C "$root" -cf "$context/rootfs.tar" .
    printf 'FROM scratch\nADD rootfs.tar /\nENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nCMD ["sh"]\n' \
      >"$context/Dockerfile"
    local said
    said=$(DOCKER_BUILDKIT=0 docker build -q --platform "$3" -t "$2" "$context" 2>&1) || { echo "$said" >&2; exit 1; }
    rm -rf "$context"
  fi
  rm -rf "$root"; trap - EXIT
  echo "built $2${3:+ ($3)}"
}

if ! have_image "$BUSYBOX_IMAGE"; then
  need busybox busybox-static
  busybox_image "$(command -v busybox || echo /bin/busybox)" "$BUSYBOX_IMAGE"
fi

if ensure_emulation && ! have_image "$ARM64_IMAGE"; then
  dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
  deb=$(mktemp -d)
  chmod 755 "$deb"  # apt's _apt user downloads into it
  ( cd "$deb" && { apt-get download -q busybox-static:arm64 >/dev/null 2>&1 \
      || { apt-get -o DPkg::Lock::Timeout=300 update -q >/dev/null 2>&1 \
           && apt-get download -q busybox-static:arm64 >/dev/null; }; } )
  dpkg-deb -x "$deb"/busybox-static_*_arm64.deb "$deb/x"
  busybox_image "$deb/x/bin/busybox" "$ARM64_IMAGE" linux/arm64
  rm -rf "$deb"
  [ "$(docker run --rm --platform linux/arm64 "$ARM64_IMAGE" uname -m)" = aarch64 ] \
    || { echo "$ARM64_IMAGE does not run as aarch64" >&2; exit 1; }
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

lab_image "$REDIS_IMAGE" redis
lab_image "$POSTGRES_IMAGE" postgres
