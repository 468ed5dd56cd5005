#!/usr/bin/env bash
# Makes the Python side's virtual environment, .venv in the checkout (Python 3.11): the pinned
# python/requirements-*.txt (tools: pytest, ruff, mypy; and what other parts add), then the packages
# of python/ installed editable, so that they find the Node side in this checkout. Safe to run again:
# a venv whose requirements have not changed since it was made is kept as it is.
# SKYPLANE_PYTHON names the interpreter (default python3.11, else a python3 that is 3.11).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VENV=.venv
# The packages installed from the checkout (editable), in order.
PACKAGES=(python python/airflow-provider)
REQUIREMENTS=(python/requirements-*.txt)

python=${SKYPLANE_PYTHON:-}
if [ -z "$python" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null &&
      [ "$("$candidate" -c 'import sys; print(sys.version_info[:2] == (3, 11))')" = True ]; then
      python=$(command -v "$candidate")
      break
    fi
  done
fi
if [ -z "$python" ]; then
  echo "[setup-python] no Python 3.11 found: install it (apt-get install python3.11, or pyenv) or set SKYPLANE_PYTHON" >&2
  exit 1
fi

# What the venv is made of: a change to any of it makes the venv again.
want=$({ "$python" --version; cat "${REQUIREMENTS[@]}"; for p in "${PACKAGES[@]}"; do cat "$p/pyproject.toml"; done; } | sha256sum | cut -d' ' -f1)
stamp=$VENV/.skyplane-setup
if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  echo "$VENV"
  exit 0
fi

rm -rf "$VENV"
"$python" -m venv "$VENV"
pip=("$VENV/bin/python" -m pip --disable-pip-version-check --no-input --quiet)
requirement_args=()
for r in "${REQUIREMENTS[@]}"; do requirement_args+=(-r "$r"); done
"${pip[@]}" install "${requirement_args[@]}"
# The build backend comes from the pinned set above, not from an isolated build environment.
package_args=()
for p in "${PACKAGES[@]}"; do package_args+=(-e "./$p"); done
"${pip[@]}" install --no-build-isolation --no-deps "${package_args[@]}"
echo "$want" >"$stamp"
echo "$VENV"
