#!/usr/bin/env bash
# Set up the project's Python environment in .venv from the pinned lock file.
# Idempotent: a second call returns at once unless requirements.lock changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
stamp=.venv/.installed-$(sha256sum requirements.lock pyproject.toml | sha256sum | cut -c1-16)
if [ -f "$stamp" ]; then
    exit 0
fi
"$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -r requirements.lock
.venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
rm -f .venv/.installed-*
touch "$stamp"
echo "environment ready: .venv (activate with 'source .venv/bin/activate')"
