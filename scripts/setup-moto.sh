#!/usr/bin/env bash
# Installs moto's server mode (S3, Secrets Manager, STS and EC2 emulated) into .venv-moto inside the clone,
# from the pinned scripts/requirements-moto.txt, for the boot rehearsal (test/integration/cloud-boot.test.ts).
# Reinstalls only when the pins change. Prints the server's path.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV=.venv-moto
REQS=scripts/requirements-moto.txt
log() { echo "[setup-moto] $*" >&2; }
PYTHON="${PYTHON:-python3.11}"
if ! command -v "$PYTHON" >/dev/null; then
  log "no $PYTHON on PATH: install Python 3.11 (or set PYTHON) and run again"
  exit 1
fi
stamp="$VENV/.requirements.sha256"
want=$(sha256sum "$REQS" | cut -d' ' -f1)
if [ ! -x "$VENV/bin/moto_server" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "installing moto into $VENV"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQS" >&2
  echo "$want" >"$stamp"
fi
echo "$PWD/$VENV/bin/moto_server"
