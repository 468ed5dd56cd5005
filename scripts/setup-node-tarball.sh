#!/usr/bin/env bash
# Packs this machine's Node into the layout of an official release tarball (node-vX-linux-x64.tar.xz:
# one top folder with bin/node), with a SHASUMS256.txt beside it as nodejs.org publishes, into
# skyplane's cache. The boot rehearsal (test/integration/cloud-boot.test.ts) serves it to the boot script
# in place of the pinned official tarball, which this machine cannot download. Reproducible: fixed
# mtimes, owner and order, so the same node gives the same sha256. Prints the folder.
set -euo pipefail
CACHE_ROOT="${SKYPLANE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/skyplane}"
ROOT="$CACHE_ROOT/node-tarball"
log() { echo "[setup-node-tarball] $*" >&2; }
NODE="$(command -v node)"
VERSION="$("$NODE" --version)"
case "$(uname -m)" in
  x86_64) ARCH=x64 ;;
  aarch64) ARCH=arm64 ;;
  *) log "no Node release layout for $(uname -m)"; exit 1 ;;
esac
NAME="node-$VERSION-linux-$ARCH"
if [ ! -f "$ROOT/$NAME.tar.xz" ] || ! grep -q " $NAME.tar.xz\$" "$ROOT/SHASUMS256.txt" 2>/dev/null; then
  log "packing $NODE ($VERSION) as $NAME.tar.xz"
  mkdir -p "$ROOT"
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/$NAME/bin"
  cp "$(readlink -f "$NODE")" "$work/$NAME/bin/node"
  chmod 0755 "$work/$NAME/bin/node"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$work" -cf - "$NAME" |
    xz -T1 -3 >"$ROOT/$NAME.tar.xz.tmp"
  mv "$ROOT/$NAME.tar.xz.tmp" "$ROOT/$NAME.tar.xz"
  (cd "$ROOT" && sha256sum "$NAME.tar.xz" >SHASUMS256.txt)
fi
echo "$ROOT"
