#!/usr/bin/env bash
# The main job: a real 3-node sanpath cluster on this machine (network namespaces; a Consul server,
# tgtd and sanpathd per node; Ceph with a memstore OSD; an iSCSI client), then real work through the
# sanpath CLI: cluster settings, disks, which node serves each path, every path read by an iSCSI
# initiator, a rebalance with live progress, a node killed and its paths read again from other
# nodes, the node back. The cluster is left running; the end says how to use and stop it.
# Called by `npm run demo` after install-deps and the build.
#   SANPATH_DEV_CLUSTER_DIR      state folder (default .tmp/dev-cluster)
#   SANPATH_DEMO_KEEP_ON_FAILURE=1  leave the cluster up when a step fails (default: take it down)
set -Eeuo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export SANPATH_DEV_CLUSTER_DIR=${SANPATH_DEV_CLUSTER_DIR:-$root/.tmp/dev-cluster}
state=$SANPATH_DEV_CLUSTER_DIR
cli="$root/dist/src/cli/main.js"
cd "$root"
sanpath() { node "$cli" "$@"; }
step=0
say() {
  step=$((step + 1))
  printf '\n\033[1m== %d. %s\033[0m\n' "$step" "$*"
}
show() {
  printf '\033[2m$ %s\033[0m\n' "$*"
  "$@"
}
# A sanpath command this build has (the coordinator CLI came later than the disk commands).
have() { sanpath help "$1" >/dev/null 2>&1; }
# Reads `sanpath --output json paths list` on stdin; prints "IP NODE" of a disk's first path.
first_path_of() {
  node -e '
    const disk = process.argv[1];
    const { paths } = JSON.parse(require("fs").readFileSync(0, "utf8"));
    const p = paths.find((candidate) => candidate.diskName === disk);
    if (p !== undefined) console.log(`${p.ip} ${p.node}`);' "$1"
}
# Prints the node (other than node1) that serves the most paths.
busiest_node() {
  node -e '
    const { paths } = JSON.parse(require("fs").readFileSync(0, "utf8"));
    const count = new Map();
    for (const p of paths) if (p.node !== "" && p.node !== "node1") count.set(p.node, (count.get(p.node) ?? 0) + 1);
    const best = [...count].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0];
    console.log(best === undefined ? "node2" : best[0]);'
}

if [ -f "$state/state.json" ]; then
  echo "demo: a dev cluster is already running (state in $state):"
  deploy/dev-cluster status || true
  echo
  echo "Stop it first, then run the demo again:"
  echo "  deploy/dev-cluster down && npm run demo"
  exit 1
fi

on_failure() {
  local code=$?
  trap - ERR
  echo >&2
  echo "demo: step $step failed (exit $code)." >&2
  for log in "$state"/node*/sanpathd.log; do
    [ -f "$log" ] || continue
    echo "--- last lines of $log" >&2
    tail -n 5 "$log" | cut -c1-400 >&2
  done
  if [ "${SANPATH_DEMO_KEEP_ON_FAILURE:-0}" = "1" ]; then
    echo "demo: the cluster is left running for a look (deploy/dev-cluster status; stop: deploy/dev-cluster down)" >&2
  else
    echo "demo: taking the cluster down (set SANPATH_DEMO_KEEP_ON_FAILURE=1 to keep it)" >&2
    deploy/dev-cluster down >&2 || true
  fi
  exit "$code"
}
trap on_failure ERR

say "starting a 3-node cluster in network namespaces (tokens and mutual TLS on)"
show deploy/dev-cluster up
# SANPATH_SERVER (node1's admin socket), SANPATH_TOKEN_FILE, SANPATH_CA, SANPATH_CERT, SANPATH_KEY.
eval "$(deploy/dev-cluster env | grep '^export ')"
echo
echo "Every node serves mutual TLS from the cluster's own CA: node-to-node calls present node"
echo "certificates, and the CLI talks to node1's admin socket with the admin client certificate and"
echo "the admin token:"
echo "  SANPATH_SERVER=$SANPATH_SERVER"
echo "  SANPATH_TOKEN_FILE=$SANPATH_TOKEN_FILE"
echo "  SANPATH_CA=$SANPATH_CA SANPATH_CERT=$SANPATH_CERT SANPATH_KEY=$SANPATH_KEY"

say "cluster settings: the iSCSI subnets live on eth1 and eth2 of every node"
show sanpath cluster init --iqn-base iqn.2016-05.org.sanpath.dev --pool rbd \
  --subnet1 198.51.100.0/24 --subnet1-range 198.51.100.64-198.51.100.254 --subnet1-interface eth1 \
  --subnet2 203.0.113.0/24 --subnet2-range 203.0.113.64-203.0.113.254 --subnet2-interface eth2
show sanpath cluster info

say "adding disks (RBD images in Ceph; their paths are placed on the nodes by the coordinator)"
show sanpath disk add demo-db --size 100G --paths 4 --subnet both
show sanpath disk add demo-web --size 20G --paths 2 --subnet both
show sanpath disk add demo-logs --size 1T --paths 2 --subnet 1
show sanpath disk add demo-backup --size 500G --paths 1 --subnet 2
show sanpath disk list

say "which node serves each path"
coordinator=1
if have paths; then
  # Wait (at most 30 s) until the coordinator has placed every new path.
  for _ in $(seq 1 150); do
    if sanpath --output json paths list | node -e '
      const { paths } = JSON.parse(require("fs").readFileSync(0, "utf8"));
      process.exit(paths.length > 0 && paths.every((p) => p.node !== "") ? 0 : 1);'; then break; fi
    sleep 0.2
  done
  show sanpath paths list
else
  coordinator=0
  echo "[this build has no 'sanpath paths' (the coordinator CLI): showing each disk's paths instead]"
  show sanpath disk show demo-db
  show sanpath disk show demo-web
fi

say "every path read by an iSCSI initiator in the client namespace (iscsi-readcapacity16)"
show deploy/dev-cluster read --wait 30

if [ "$coordinator" -eq 1 ]; then
  say "a manual move, with live progress"
  read -r backup_ip backup_node < <(sanpath --output json paths list | first_path_of demo-backup)
  target=node1
  if [ "$backup_node" = node1 ]; then target=node2; fi
  echo "demo-backup's only path is on $backup_node; moving it to $target (CleanPath there, AcquirePath here):"
  show sanpath paths move "$backup_ip" --to "$target" --yes
  show deploy/dev-cluster read
else
  say "a manual move: skipped"
  echo "[this build has no coordinator CLI ('sanpath paths move', 'sanpath job watch'): nothing to show]"
fi

say "a node dies: its paths come back on the other nodes"
if [ "$coordinator" -eq 1 ]; then
  victim=$(sanpath --output json paths list | busiest_node)
else
  victim=node2
fi
echo "Killing $victim (sanpathd, its Consul server and tgtd SIGKILLed, its links cut: a power-off)."
echo "Its peers stop granting it the peer lease it renews every 250 ms. Once a majority proves that lease"
echo "over (1 s lease, about 1.2 s after the last renew: a live node would have torn its paths down"
echo "by then, so an IP is never up twice) the coordinator places its paths on the other nodes; the"
echo "shipped defaults, with no Consul lock-delay. Each path is re-read from the client until it answers:"
show deploy/dev-cluster kill "$victim" --reread 60
if [ "$coordinator" -eq 1 ]; then show sanpath paths list; fi
show deploy/dev-cluster status

say "the node comes back (empty: paths do not move back by themselves)"
show deploy/dev-cluster restart "$victim"
show deploy/dev-cluster status

if [ "$coordinator" -eq 1 ]; then
  say "a rebalance gives it paths again, with live progress"
  show sanpath paths rebalance --dry-run
  show sanpath paths rebalance --yes --detach
  show sanpath job watch
  show sanpath paths list
  show deploy/dev-cluster read
else
  say "rebalance: skipped"
  echo "[this build has no coordinator CLI ('sanpath paths rebalance', 'sanpath job watch'): nothing to show]"
fi

trap - ERR
cat <<MSG

The cluster is still running (state in $state). Point the sanpath CLI at it:
  eval "\$(deploy/dev-cluster env)"
which runs:
$(deploy/dev-cluster env | sed 's/^/  /')

Break it and watch it heal:
  deploy/dev-cluster status
  deploy/dev-cluster kill node3 --reread 60     # a node's death; its paths read again elsewhere
  deploy/dev-cluster restart node3
  deploy/dev-cluster partition node2            # node2 loses its peer lease and fences: its path IPs go away
  deploy/dev-cluster heal node2
  sanpath node drain node1                      # every path off node1, live progress
  sanpath node uncordon node1
Stop it (every process, namespace and the state folder):
  deploy/dev-cluster down
MSG
