#!/usr/bin/env bash
# Writes stacks/Pulumi.<route>.yaml: the reviewed topology of a route, planned by `skyplane plan`.
#   bash scripts/plan-stack.sh aws:us-east-1 gcp:us-central1-a [plan options...]
# The file's first line records the command, so test/stacks.test.ts can plan it again and tell when
# the planner and a reviewed topology disagree.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: $0 SRC-REGION DST-REGIONS [skyplane plan options]" >&2; exit 2; }
route=$(node -e 'const {routeStackName}=require("./dist/planner/topology");
  console.log(routeStackName(process.argv[1], process.argv[2].split(",")))' "$1" "$2")
file="stacks/Pulumi.$route.yaml"
clouds=$(node -e 'const t=JSON.parse(process.argv[1]);
  console.log([...new Set(t.gateways.map((g)=>g.provider))].filter((p)=>p!=="local").join(" "))' \
  "$(node dist/cli/main.js plan "$@" --format json)")
{
  echo "# skyplane plan $* --format yaml"
  echo "# The reviewed topology of $route. Before \`pulumi up --stack $route\`, set the dataplane secrets once:"
  echo "#   pulumi config set --secret skyplane:token \"\$(openssl rand -base64 32)\" --stack $route"
  echo "#   pulumi config set --secret skyplane:key \"\$(openssl rand -base64 32)\" --stack $route"
  if [ -n "$clouds" ]; then
    echo "# and what its clouds ($clouds) need, under skyplane:cloud (stacks/README.md lists every key), e.g."
    echo "#   pulumi config set --path 'skyplane:cloud.clientCidr' \"\$(curl -s https://checkip.amazonaws.com)/32\" --stack $route"
  fi
  echo "config:"
  echo "  skyplane:topology:"
  node dist/cli/main.js plan "$@" --format yaml | sed 's/^/    /'
} >"$file"
echo "$file"
