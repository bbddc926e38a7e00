#!/usr/bin/env bash
# Runs a command inside the project's environment, creating it first if needed:
#   tools/run_in_env.sh python tools/train.py CONFIG ...
# The clone is put on PYTHONPATH, so no install step is needed in the shared environment.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=$("$here/tools/setup_env.sh" | tail -n 1)
export PATH="$venv/bin:$PATH"
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
exec "$@"
