#!/usr/bin/env bash
# The main job, single-node edition: a development sanpathd (its own Consul dev agent, the file
# image store), then real work through the sanpath CLI. It leaves the node running and says how
# to use and stop it. Called by `npm run demo` after install-deps and the build.
#   SANPATH_DEMO_LISTEN   where sanpathd listens (default 127.0.0.1:7410)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
listen=${SANPATH_DEMO_LISTEN:-127.0.0.1:7410}
state="$root/.tmp/demo"
mkdir -p "$state"
sanpathd=(node "$root/dist/src/server/main.js")
sanpath() { node "$root/dist/src/cli/main.js" --server "$listen" "$@"; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if [ -f "$state/sanpathd.pid" ] && kill -0 "$(cat "$state/sanpathd.pid")" 2>/dev/null; then
  echo "demo: a demo sanpathd is already running (pid $(cat "$state/sanpathd.pid")); stop it with:"
  echo "  kill $(cat "$state/sanpathd.pid")"
  exit 1
fi

say "starting sanpathd --dev on $listen (it starts its own Consul dev agent)"
"${sanpathd[@]}" --dev --listen "$listen" >"$state/sanpathd.log" 2>&1 &
pid=$!
echo "$pid" >"$state/sanpathd.pid"
for _ in $(seq 1 100); do
  if sanpath health >/dev/null 2>&1; then break; fi
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "demo: sanpathd exited during start-up; its log:" >&2
    tail -n 20 "$state/sanpathd.log" >&2
    exit 1
  fi
  sleep 0.2
done
sanpath health

say "cluster settings (dev mode stores sample iSCSI subnets)"
sanpath cluster show

say "adding disks"
suffix=$(date +%H%M%S)
sanpath disk add "demo-db-$suffix" --size 100G --paths 2 --subnet both
sanpath disk add "demo-web-$suffix" --size 20G --paths 1
sanpath disk add "demo-logs-$suffix" --size 1T --paths 4 --subnet 1

say "disks"
sanpath disk list

say "one disk in detail"
sanpath disk show "demo-db-$suffix"

say "a bad request is refused with the field and the rule, and leaves nothing behind"
sanpath disk add "bad/name" --size 10G || true
sanpath disk add "too-many-ips" --size 10G --paths 3 --ip 198.51.100.200 || true

say "scripts get JSON"
sanpath --output json disk show "demo-web-$suffix"

cat <<MSG

sanpathd is still running (pid $pid, log $state/sanpathd.log). Try:
  node dist/src/cli/main.js --server $listen --help
  node dist/src/cli/main.js --server $listen disk list
  node_modules/.bin/buf curl --protocol grpc --http2-prior-knowledge --list-methods http://$listen
Stop it (its Consul agent and data go with it):
  kill $pid
MSG
