#!/usr/bin/env bash
# The main job on the embedded local cloud: makes a sample dataset in a bucket of local:east and copies
# it to a bucket of local:west through gateways provisioned as a Pulumi stack, then tears them down.
# SKYPLANE_DEMO_MIB sets the dataset's size (default 512).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
skyplane() { node dist/cli/main.js "$@"; }

mib="${SKYPLANE_DEMO_MIB:-512}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/sample/logs" "$work/sample/blobs"
# One large object (multipart), incompressible blobs, and compressible logs.
head -c "$((mib / 2))M" /dev/urandom > "$work/sample/large.bin"
for i in $(seq 1 16); do head -c "$((mib * 1024 / 64))K" /dev/urandom > "$work/sample/blobs/blob-$i.bin"; done
for i in $(seq 1 16); do yes "$(date -u +%FT%TZ) gateway-$i INFO chunk moved ok" | head -c "$((mib * 1024 / 64))K" > "$work/sample/logs/app-$i.log" || [ $? -eq 141 ]; done  # yes ends on SIGPIPE
: > "$work/sample/empty-marker"

skyplane mb local://demo-east --region local:east
skyplane mb local://demo-west --region local:west
echo "== uploading the sample dataset from this machine to local://demo-east"
skyplane cp "$work/sample" local://demo-east/sample -r -y
echo "== copying local://demo-east/sample to local://demo-west/sample through provisioned gateways"
skyplane cp local://demo-east/sample local://demo-west/sample -r -y
echo "== stacks (the gateways were torn down)"
skyplane stacks
