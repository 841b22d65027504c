#!/usr/bin/env bash
# Create .venv with porttest (editable) and the dev tools, once; later calls only check it.
# The tools are pyproject.toml's dependency groups (PEP 735): `pip install --group` needs pip 25.1 or newer.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/porttest ] || [ ! -x .venv/bin/tox ] || [ pyproject.toml -nt .venv/.installed ]; then
  "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade 'pip>=25.1' >/dev/null
  .venv/bin/python -m pip install -q -e . --group dev
  touch .venv/.installed
fi
