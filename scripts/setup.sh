#!/usr/bin/env bash
# Sets up a fresh clone: npm packages, the compiled project, the Pulumi engine and the storage emulators
# (built once, cached outside the clone), the Python side's venv (.venv in the clone, made by
# scripts/setup-python.sh), moto in .venv-moto and a Node tarball of this machine's Node for the boot
# rehearsal, and rclone for `npm run bench:peers` (Debian's package; a machine without
# it still builds and tests). Safe to run again: every step reuses what is already there.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ ! -d node_modules/@pulumi/pulumi ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
bash scripts/setup-pulumi.sh >/dev/null
bash scripts/setup-emulators.sh >/dev/null
bash scripts/setup-python.sh >/dev/null
bash scripts/setup-moto.sh >/dev/null
bash scripts/setup-node-tarball.sh >/dev/null
bash scripts/setup-rclone.sh >/dev/null || echo "[setup] no rclone: npm run bench:peers will say so" >&2
npm run --silent build
echo "[setup] ready: the engine is in $(bash scripts/setup-pulumi.sh 2>/dev/null)" >&2
