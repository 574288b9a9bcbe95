#!/usr/bin/env bash
# Set everything up and open JupyterLab on the notebooks, which read the sample images in
# data/ with no network. Extra arguments go to jupyter lab (e.g. --no-browser --port 8899).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
extra=()
[ "$(id -u)" -eq 0 ] && extra+=(--allow-root)  # e.g. inside a container
exec .venv/bin/jupyter lab --notebook-dir=notebooks "${extra[@]}" "$@"
