#!/usr/bin/env bash
# The demo on a fresh machine: engine, local base image, a second engine over TLS (the "cloud"), then
# `porttest run matrix.yaml`. Extra arguments go to porttest (e.g. --json results.json).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/dev-env.sh
./scripts/ensure-engine.sh
./scripts/build-base-images.sh
# No registry here: the demo image builds FROM the local base instead of python:3.12-slim.
export BASE_IMAGE=${BASE_IMAGE:-porttest-base/debian:bookworm}
if [ -z "${PORTTEST_CLOUD_HOST:-}" ]; then
  lab_env=$(mktemp)
  .venv/bin/python scripts/lab.py start --env-file "$lab_env"
  trap '.venv/bin/python scripts/lab.py stop --env-file "$lab_env"; rm -f "$lab_env"' EXIT
  set -a; . "$lab_env"; set +a
fi
set +e
.venv/bin/porttest run matrix.yaml "$@"
rc=$?
exit $rc
