#!/usr/bin/env bash
# The Python side's lint (part of `npm run lint`): ruff (rules and formatting) and mypy --strict, from
# the venv that scripts/setup-python.sh makes. Each Python part adds its folders to the lists below.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VENV=.venv
# Folders ruff checks (each with its ruff settings in the nearest pyproject.toml).
RUFF_DIRS=(python examples/ml-staging)
# What mypy --strict checks, each on its own.
MYPY_TARGETS=(python/skyplane python/tests)

if [ ! -x "$VENV/bin/ruff" ] || [ ! -x "$VENV/bin/mypy" ]; then
  echo "error: no Python venv with ruff and mypy at $VENV: run 'npm run setup' (it runs scripts/setup-python.sh)" >&2
  exit 1
fi
"$VENV/bin/ruff" check "${RUFF_DIRS[@]}"
"$VENV/bin/ruff" format --check "${RUFF_DIRS[@]}"
# One run per target: test folders of different parts each have a conftest module of their own.
for target in "${MYPY_TARGETS[@]}"; do
  "$VENV/bin/mypy" --strict --config-file python/pyproject.toml "$target"
done
# The Airflow provider and the ML example, each with its own settings (their untyped clients) and its
# folder as the root its tests import from.
(cd python/airflow-provider && "../../$VENV/bin/mypy" --strict skyplane_provider example_dags tests ../testing)
(cd examples/ml-staging && "../../$VENV/bin/mypy" --strict .)
