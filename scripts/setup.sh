#!/usr/bin/env bash
# Create .venv and install imgexplore into it. Usage: scripts/setup.sh [--test]
#   --test  also install the test extras and the system packages the tests use.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "imgexplore needs Python 3.11 or newer (found: $("$PYTHON" --version 2>&1))" >&2
  exit 1
fi

if [ "$want_test" = 1 ]; then
  bash scripts/system-packages.sh
elif ! command -v docker-registry >/dev/null; then
  # notebook 01 pulls local images from a throwaway registry; without one it uses its own
  # read-only server (no schema 1 conversion), so this is worth a try but never required
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    bash scripts/system-packages.sh docker-registry || echo "note: docker-registry not installed; notebook 01 will use its own read-only server" >&2
  else
    echo "note: apt-get install docker-registry lets notebook 01 show a real registry (schema 1 included)" >&2
  fi
fi

# What is installed is recorded with the project's dependency list: a later run with the
# same list (and an importable package) installs nothing and says nothing.
stamp=.venv/.imgexplore-installed
wanted="$(sha256sum pyproject.toml | cut -d' ' -f1) test=$want_test"
# The package is byte-compiled at every run (only modules changed since, as after a git pull):
# where PYTHONDONTWRITEBYTECODE is set, each command would otherwise compile them again.
compile() { .venv/bin/python -m compileall -q imgexplore >/dev/null; }
if [ -x .venv/bin/python ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ] \
  && .venv/bin/python -c 'import imgexplore' 2>/dev/null; then
  compile
  exit 0
fi
# the test install also covers the plain one
if [ "$want_test" = 0 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "${wanted% *} test=1" ] \
  && .venv/bin/python -c 'import imgexplore' 2>/dev/null; then
  compile
  exit 0
fi

if [ ! -x .venv/bin/python ]; then
  echo "creating the virtual environment .venv"
  "$PYTHON" -m venv .venv || {
    echo "could not create a virtual environment; on Debian/Ubuntu: apt-get install python3-venv" >&2
    exit 1
  }
fi
echo "installing imgexplore and its packages into .venv (the first time takes a few minutes)"
export PYTHONWARNINGS=ignore  # setuptools' deprecation notices about the build, not about us
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
if [ "$want_test" = 1 ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[test]"
else
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e .
fi
compile
echo "$wanted" > "$stamp"
