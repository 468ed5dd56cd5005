#!/usr/bin/env bash
# Installs rclone from Debian's packages, when missing, for `npm run bench:peers` (skyplane beside
# rclone on the same emulators; nothing else needs it). apt needs root, as CI and this project's
# machines run; a user who is not root is told the command instead. Prints rclone's path.
set -euo pipefail
log() { echo "[setup-rclone] $*" >&2; }
if ! command -v rclone >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    log "rclone is missing: install it with 'sudo apt-get install rclone' (only npm run bench:peers needs it)"
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  # A fresh machine may have no package lists yet.
  if ! apt-cache show rclone >/dev/null 2>&1; then apt-get update -qq >&2; fi
  log "installing rclone from Debian's packages"
  apt-get install -y -qq rclone >&2
fi
command -v rclone
