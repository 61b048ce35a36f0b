#!/usr/bin/env bash
# Set up the project's Python environment in .venv from the pinned lock file.
# Idempotent: a second call returns at once unless requirements.lock changed or
# the clone moved (a venv holds absolute paths: its scripts' shebangs and the
# editable install would run the old folder's code).
set -euo pipefail
cd "$(dirname "$0")/.."
here=$(pwd -P)
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
stamp=.venv/.installed-$(sha256sum requirements.lock pyproject.toml | sha256sum | cut -c1-16)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$here" ]; then
    exit 0
fi
made_for=$(cat .venv/.installed-* 2>/dev/null | head -n 1 || true)
if [ -n "$made_for" ] && [ "$made_for" != "$here" ]; then
    echo ".venv was made for $made_for, not $here (a copied or moved clone): rebuilding it"
    rm -rf .venv
fi
"$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -r requirements.lock
.venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
rm -f .venv/.installed-*
echo "$here" > "$stamp"
echo "environment ready: .venv (activate with 'source .venv/bin/activate')"
