#!/usr/bin/env bash
# Debian packages that integration tests use for real: chromium (HTML report in a browser), shellcheck (actionlint
# checks the workflows' scripts with it), runsc (gVisor, the runtimes tests). Installed only when missing; needs root
# (CI runs as root).
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || missing+=(chromium)
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
command -v runsc >/dev/null 2>&1 || missing+=(runsc)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "missing ${missing[*]}: install them (apt-get install ${missing[*]}) or their tests will skip" >&2
  exit 0
fi
echo "installing ${missing[*]} ..." >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 \
  || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null; }
