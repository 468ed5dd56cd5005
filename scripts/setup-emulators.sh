#!/usr/bin/env bash
# Builds or installs the storage emulators the tests and `npm run emulators` use, once, into a cache
# outside the clone: gofakes3 (S3) and fake-gcs-server (GCS) from the Go module proxy, Azurite (Azure
# Blob) from npm at 3.35.0, the last release that runs on Node 20. Prints the cache folder.
set -euo pipefail
GOFAKES3_VERSION="v1.2.0"
FAKE_GCS_VERSION="v1.55.1"
AZURITE_VERSION="3.35.0"
CACHE_ROOT="${SKYPLANE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/skyplane}"
ROOT="$CACHE_ROOT/emulators"
log() { echo "[setup-emulators] $*" >&2; }
mkdir -p "$ROOT/bin"
export GOTOOLCHAIN=local CGO_ENABLED=0
if [ ! -x "$ROOT/bin/gofakes3-$GOFAKES3_VERSION" ]; then
  log "building gofakes3 $GOFAKES3_VERSION"
  GOBIN="$ROOT/bin/tmp" go install "github.com/johannesboyne/gofakes3/cmd/gofakes3@$GOFAKES3_VERSION" >&2
  mv "$ROOT/bin/tmp/gofakes3" "$ROOT/bin/gofakes3-$GOFAKES3_VERSION"
fi
if [ ! -x "$ROOT/bin/fake-gcs-server-$FAKE_GCS_VERSION" ]; then
  log "building fake-gcs-server $FAKE_GCS_VERSION"
  GOBIN="$ROOT/bin/tmp" go install "github.com/fsouza/fake-gcs-server@$FAKE_GCS_VERSION" >&2
  mv "$ROOT/bin/tmp/fake-gcs-server" "$ROOT/bin/fake-gcs-server-$FAKE_GCS_VERSION"
fi
rm -rf "$ROOT/bin/tmp"
ln -sf "gofakes3-$GOFAKES3_VERSION" "$ROOT/bin/gofakes3"
ln -sf "fake-gcs-server-$FAKE_GCS_VERSION" "$ROOT/bin/fake-gcs-server"
if [ ! -f "$ROOT/azurite-$AZURITE_VERSION/node_modules/azurite/package.json" ]; then
  log "installing azurite $AZURITE_VERSION"
  mkdir -p "$ROOT/azurite-$AZURITE_VERSION"
  npm install --no-save --no-audit --no-fund --prefix "$ROOT/azurite-$AZURITE_VERSION" "azurite@$AZURITE_VERSION" >&2
fi
ln -sfn "azurite-$AZURITE_VERSION" "$ROOT/azurite"
echo "$ROOT"
