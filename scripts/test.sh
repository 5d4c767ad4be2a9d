#!/usr/bin/env bash
# Run the whole test suite: create .venv, install the project with its dev group, lint, pytest.
# Uses the Redis/PostgreSQL named by SWISPER_TEST_REDIS_URL / SWISPER_TEST_DATABASE_URL when set
# (.ci/run sets them); otherwise the tests start throwaway servers of their own.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q -U pip
.venv/bin/python -m pip install -q -e . --group dev
.venv/bin/ruff check .
.venv/bin/ruff format --check .
# pytest exits 5 when it collects no test: set -e turns that into a failure, as it should.
exec .venv/bin/python -m pytest "$@"
