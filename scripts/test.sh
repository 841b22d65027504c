#!/usr/bin/env bash
# All of porttest's checks: lint (ruff, import contracts), types, and on every Python that CI claims (pyproject's
# classifiers): unit and integration tests against real engines on 3.11, the unit tests on 3.12 and 3.13.
# TOXENV picks other tox environments (TOXENV=py313-unit ./scripts/test.sh); extra arguments go to tox, and those after
# `--` to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/dev-env.sh
./scripts/ensure-engine.sh
./scripts/build-base-images.sh
./scripts/install-test-tools.sh

PYTHONS=(3.11 3.12 3.13)

find_python() {  # find_python 3.12: a python3.12 that runs, on PATH or else pyenv's newest 3.12.x
  local minor=$1 exe dir versions=()
  if exe=$(command -v "python$minor") && "$exe" -c '' >/dev/null 2>&1; then
    echo "$exe"
    return 0
  fi
  # pyenv's shims answer only for the versions pyenv selects; the versions it installed answer directly.
  for dir in "${PYENV_ROOT:-$HOME/.pyenv}/versions/$minor".*; do
    [[ ${dir##*/} =~ ^${minor/./\\.}\.[0-9]+$ ]] && versions+=("$dir")
  done
  for dir in $(printf '%s\n' "${versions[@]}" | sort -r -V); do
    exe="$dir/bin/python$minor"
    if [ -x "$exe" ] && "$exe" -c '' >/dev/null 2>&1; then
      echo "$exe"
      return 0
    fi
  done
  return 1
}

interpreters=()
for minor in "${PYTHONS[@]}"; do
  if ! exe=$(find_python "$minor"); then
    echo "test.sh: no Python $minor (CI tests ${PYTHONS[*]}): install it (pyenv install $minor) or put" \
         "python$minor on PATH" >&2
    exit 1
  fi
  interpreters+=("$exe")
done

# --discover: tox tries these interpreters first; tox.ini fails an environment whose Python is missing.
exec .venv/bin/tox run --discover "${interpreters[@]}" -e "${TOXENV:-lint,type,py311,py312-unit,py313-unit}" "$@"
