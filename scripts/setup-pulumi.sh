#!/usr/bin/env bash
# Makes the Pulumi engine (CLI + Node.js language host) available at the pinned version, in a cache
# outside the clone keyed by version, and prints the cache's bin directory on stdout.
#
# Order: a cache built earlier; a `pulumi` on PATH that reports the pinned version; the official
# installer where the internet is reachable; otherwise a build from the Go module proxy.
#
# Why a Go build: the CLI is not on npm (the `pulumi` npm package downloads it at first use) nor in
# Debian, and @pulumi/pulumi 3.248.0 is the last release that runs on Node 20, so the engine must be
# that exact version too. pkg/v3 has `replace` lines, so `go install pkg@v3.248.0` is refused; a small
# wrapper module that requires it builds instead.
set -euo pipefail

PULUMI_VERSION="3.248.0"
# The Node.js language host is its own, never-tagged Go module: this is the pseudo-version of the commit
# tagged pkg/v3.248.0 (dc7edd58bc13, committed 2026-06-24 18:00:30 UTC). The proxy serves it under this
# name only, not under the bare commit hash.
LANGHOST_VERSION="v3.0.0-20260624180030-dc7edd58bc13"

CACHE_ROOT="${SKYPLANE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/skyplane}"
ROOT="$CACHE_ROOT/pulumi-$PULUMI_VERSION"
BIN="$ROOT/bin"
PROJECT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

log() { echo "[setup-pulumi] $*" >&2; }

reports_pinned_version() { # $1: a pulumi binary
  [ -x "$1" ] && [ "$(PULUMI_SKIP_UPDATE_CHECK=true "$1" version 2>/dev/null)" = "v$PULUMI_VERSION" ]
}

# The dynamic-provider plugin ships inside the npm package, not as a `bin` entry: it must sit next to
# the CLI (the engine looks for bundled plugins beside its own executable).
install_dynamic_provider_plugin() {
  local src="$PROJECT_DIR/node_modules/@pulumi/pulumi/pulumi-resource-pulumi-nodejs"
  if [ -f "$src" ]; then
    install -m 755 "$src" "$BIN/pulumi-resource-pulumi-nodejs"
  else
    log "node_modules/@pulumi/pulumi is missing: run 'npm ci' first, then this script again"
    return 1
  fi
}

use_path_pulumi() {
  local found
  found="$(command -v pulumi 2>/dev/null)" || return 1
  reports_pinned_version "$found" || { log "ignoring $found: not v$PULUMI_VERSION"; return 1; }
  local dir; dir="$(dirname "$(readlink -f "$found")")"
  mkdir -p "$BIN"
  ln -sf "$(readlink -f "$found")" "$BIN/pulumi"
  if [ -x "$dir/pulumi-language-nodejs" ]; then ln -sf "$dir/pulumi-language-nodejs" "$BIN/"; fi
  log "using $found"
}

use_official_installer() {
  [ "${SKYPLANE_PULUMI_BUILD:-}" = "1" ] && return 1
  command -v curl >/dev/null || return 1
  curl -fsS --max-time 5 -o /dev/null https://get.pulumi.com/install.sh 2>/dev/null || return 1
  log "installing v$PULUMI_VERSION with the official installer"
  local tmp; tmp="$(mktemp -d)"
  curl -fsSL https://get.pulumi.com/install.sh -o "$tmp/install.sh"
  sh "$tmp/install.sh" --version "$PULUMI_VERSION" --install-root "$ROOT" --no-edit-path >&2
  rm -rf "$tmp"
}

GO_BUILD_FLAGS=(-trimpath -tags osusergo,grpcnotrace
  -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION")

write_wrapper_module() { # $1: folder
  mkdir -p "$1"
  cat > "$1/go.mod" <<GOMOD
module skyplane.local/pulumi-engine

go 1.25.11

replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e

require (
	github.com/pulumi/pulumi/pkg/v3 v$PULUMI_VERSION
	github.com/pulumi/pulumi/sdk/v3 v$PULUMI_VERSION
)

tool github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
GOMOD
}

# Minimal version selection could raise pkg or sdk above the pin through another requirement.
check_no_drift() {
  local got
  got="$(go list -m -f '{{.Version}}' github.com/pulumi/pulumi/pkg/v3 github.com/pulumi/pulumi/sdk/v3 | sort -u)"
  [ "$got" = "v$PULUMI_VERSION" ] || { log "version drift: resolved $got"; return 1; }
}

build_from_go_modules() {
  command -v go >/dev/null || { log "no Go toolchain: install Go >= 1.25.11 and run this again"; return 1; }
  log "building pulumi v$PULUMI_VERSION from Go modules into $BIN (first run only; takes minutes)"
  export GOFLAGS="-mod=mod" GOTOOLCHAIN=local CGO_ENABLED=0
  mkdir -p "$BIN"
  write_wrapper_module "$ROOT/src/cli"
  (
    cd "$ROOT/src/cli"
    go mod tidy >&2
    check_no_drift
    go build "${GO_BUILD_FLAGS[@]}" -o "$BIN/pulumi.tmp" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi >&2
    # Renamed last so that an interrupted build is never taken for a finished one.
    mv "$BIN/pulumi.tmp" "$BIN/pulumi"
  )
  # The language host runs the project folder (`pulumi up --stack <route>` by hand); the Automation
  # API's inline programs do not need it. Some module proxies do not serve the official one.
  write_wrapper_module "$ROOT/src/langhost"
  if (
    cd "$ROOT/src/langhost"
    go get -tool "github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3@$LANGHOST_VERSION" >&2 &&
      go mod tidy >&2 && check_no_drift &&
      go build "${GO_BUILD_FLAGS[@]}" -o "$BIN/pulumi-language-nodejs" \
        github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3 >&2
  ); then
    log "built the official pulumi-language-nodejs"
  else
    log "the module proxy does not serve the official Node.js language host; building skyplane's own"
  fi
}

# skyplane's own Node.js language host (scripts/language-host), where the official one is missing.
# A build of it is stamped with a hash of its sources, so that a cached one is rebuilt when they change;
# the official host (no stamp, and not ours) is kept as it is.
build_own_language_host() {
  local src="$PROJECT_DIR/scripts/language-host" host="$BIN/pulumi-language-nodejs" stamp
  stamp=$(cat "$src/go.mod" "$src/go.sum" "$src"/*.go | sha256sum | cut -d' ' -f1)
  if [ -x "$host" ]; then
    grep -q "usage: pulumi-language-nodejs ENGINE_ADDRESS" "$host" || return 0
    [ "$(cat "$host.sha256" 2>/dev/null)" = "$stamp" ] && return 0
  fi
  command -v go >/dev/null || { log "no Go toolchain: 'pulumi up' by hand will not work (the library does)"; return 0; }
  (
    cd "$src"
    GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0 go build "${GO_BUILD_FLAGS[@]}" \
      -o "$host.tmp" . >&2
    mv "$host.tmp" "$host"
    echo "$stamp" >"$host.sha256"
  ) && log "built skyplane's pulumi-language-nodejs"
}

if reports_pinned_version "$BIN/pulumi"; then
  log "cached engine in $BIN"
elif use_path_pulumi; then :
elif use_official_installer && reports_pinned_version "$BIN/pulumi"; then :
else
  build_from_go_modules
fi

reports_pinned_version "$BIN/pulumi" || { log "the engine in $BIN does not report v$PULUMI_VERSION"; exit 1; }
build_own_language_host
[ "${SKYPLANE_SKIP_NODE_PLUGIN:-}" = "1" ] || install_dynamic_provider_plugin
echo "$BIN"
