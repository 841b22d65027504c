#!/usr/bin/env bash
# All of porttest's checks: lint, types, unit tests and integration tests against real engines.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/dev-env.sh
./scripts/ensure-engine.sh
./scripts/build-base-images.sh
./scripts/install-test-tools.sh
exec .venv/bin/tox run -e lint,type,py311 "$@"
