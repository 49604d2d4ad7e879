#!/usr/bin/env bash
# The main job, single-node edition: a development sanpathd (its own Consul dev agent, the file
# image store), then real work through the sanpath CLI. It leaves the node running and says how
# to use and stop it. Called by `npm run demo` after install-deps and the build.
# It runs with security on: mutual TLS from a cluster CA made here (openssl) and an admin token
# (the server's token file keeps its SHA-256 only); every write goes to the audit log.
#   SANPATH_DEMO_LISTEN   where sanpathd listens (default 127.0.0.1:7410)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
listen=${SANPATH_DEMO_LISTEN:-127.0.0.1:7410}
state="$root/.tmp/demo"
mkdir -p "$state"
sanpathd=(node "$root/dist/src/server/main.js")
pki="$state/pki"
# The CLI authenticates with the admin token and the admin certificate (never a token on the command line).
sanpath() {
  SANPATH_TOKEN_FILE="$state/admin.token" SANPATH_CA="$pki/ca.crt" SANPATH_CERT="$pki/demo-admin.crt" \
    SANPATH_KEY="$pki/demo-admin.key" node "$root/dist/src/cli/main.js" --server "$listen" "$@"
}
sanpath_local() { node "$root/dist/src/cli/main.js" "$@"; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if [ -f "$state/sanpathd.pid" ] && kill -0 "$(cat "$state/sanpathd.pid")" 2>/dev/null; then
  echo "demo: a demo sanpathd is already running (pid $(cat "$state/sanpathd.pid")); stop it with:"
  echo "  kill $(cat "$state/sanpathd.pid")"
  exit 1
fi

say "security: a cluster CA, a node and an admin certificate, an admin token"
rm -rf "$pki" "$state/tokens.json" "$state/admin.token" "$state/audit.log"
host=${listen%:*}
if [[ $host =~ ^[0-9.]+$ ]]; then where=(--ip "$host"); else where=(--dns "$host"); fi
sanpath_local cert ca --dir "$pki" >/dev/null
sanpath_local cert node demo-node --dir "$pki" "${where[@]}" >/dev/null
sanpath_local cert client demo-admin --role admin --dir "$pki" >/dev/null
sanpath_local token create --name demo-admin --role admin --write "$state/tokens.json" --save "$state/admin.token"
ls "$pki"

say "starting sanpathd --dev on $listen (its own Consul dev agent; mutual TLS, tokens, audit log)"
SANPATH_TLS_CA="$pki/ca.crt" SANPATH_TLS_CERT="$pki/demo-node.crt" SANPATH_TLS_KEY="$pki/demo-node.key" \
  "${sanpathd[@]}" --dev --listen "$listen" --node-name demo-node \
  --auth-token-file "$state/tokens.json" --audit-file "$state/audit.log" >"$state/sanpathd.log" 2>&1 &
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

say "no client certificate: refused at the TLS handshake; a viewer token may read but not write"
SANPATH_TOKEN_FILE="$state/admin.token" sanpath_local --server "$listen" --ca "$pki/ca.crt" disk list || true
sanpath_local token create --name demo-viewer --role viewer --write "$state/tokens.json" \
  --save "$state/viewer.token.$suffix" >/dev/null
sleep 2.5 # sanpathd re-reads the token file within 2 s
SANPATH_TOKEN="$(cat "$state/viewer.token.$suffix")" sanpath disk delete "demo-web-$suffix" --yes || true
sanpath_local token revoke "$state/tokens.json" --name demo-viewer >/dev/null
rm -f "$state/viewer.token.$suffix"

say "the audit log: one JSON line per write, with the caller (secrets removed)"
tail -n 3 "$state/audit.log"

cat <<MSG

sanpathd is still running (pid $pid, log $state/sanpathd.log, audit $state/audit.log). Try:
  export SANPATH_SERVER=$listen SANPATH_TOKEN_FILE=$state/admin.token
  export SANPATH_CA=$pki/ca.crt SANPATH_CERT=$pki/demo-admin.crt SANPATH_KEY=$pki/demo-admin.key
  node dist/src/cli/main.js --help
  node dist/src/cli/main.js disk list
  node_modules/.bin/buf curl --protocol grpc --cacert \$SANPATH_CA --cert \$SANPATH_CERT --key \$SANPATH_KEY --list-methods https://$listen
Stop it (its Consul agent and data go with it):
  kill $pid
MSG
