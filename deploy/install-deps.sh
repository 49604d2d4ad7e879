#!/usr/bin/env bash
# Installs everything sanpath needs on a fresh Debian 12 machine. Idempotent: a second run only
# checks and finishes in seconds.
#   system: consul (Debian 11 package, unpacked, never added to the machine's apt sources),
#           tgt + tgt-rbd, libiscsi-bin, iproute2, iputils-arping, nftables (the dev cluster's
#           Consul and peer cuts, inside its namespaces only), ceph-mon, ceph-osd,
#           ceph-common, librbd-dev, librados-dev
#   npm:    the project's dependencies (npm ci), which also builds the native addons (native/binding.gyp:
#           sanpath_rbd over librbd, sanpath_net over the kernel's netlink and packet sockets)
# Flags: --system-only, --npm-only
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
tools="$root/.tools"
want_system=1
want_npm=1
for arg in "$@"; do
  case "$arg" in
    --system-only) want_npm=0 ;;
    --npm-only) want_system=0 ;;
    -h | --help)
      sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "install-deps: unknown argument '$arg' (allowed: --system-only, --npm-only)" >&2
      exit 2
      ;;
  esac
done

log() { printf 'install-deps: %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

debian_packages=(tgt tgt-rbd libiscsi-bin iproute2 iputils-arping nftables ceph-mon ceph-osd ceph-common
  librbd-dev librados-dev openssh-server openssh-client prometheus chromium)

missing_debian_packages() {
  local pkg
  for pkg in "${debian_packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
      printf '%s\n' "$pkg"
    fi
  done
}

install_debian_packages() {
  local missing
  mapfile -t missing < <(missing_debian_packages)
  if [ "${#missing[@]}" -eq 0 ]; then
    log "Debian packages present"
    return
  fi
  log "installing ${missing[*]}"
  as_root apt-get update -qq
  # ceph packages start daemons through invoke-rc.d in postinst on some setups: forbid it.
  local policy=/usr/sbin/policy-rc.d created_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
    as_root chmod +x "$policy"
    created_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
  [ "$created_policy" -eq 1 ] && as_root rm -f "$policy"
  log "Debian packages installed"
}

# Debian 12 has no consul; Debian 11 has 1.8.7. Fetch that .deb through a private apt
# configuration (same mirror as the machine's own Debian source) and unpack the static binary.
install_consul() {
  local dest="$tools/bin/consul"
  if [ -x "$dest" ] && "$dest" version >/dev/null 2>&1; then
    log "consul present ($("$dest" version | head -n1))"
    return
  fi
  local mirror
  mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  if [ -z "$mirror" ]; then
    mirror=$(awk '$1 == "deb" && $3 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  fi
  if [ -z "$mirror" ]; then
    log "cannot find the machine's Debian mirror in /etc/apt/sources.list(.d)"
    exit 1
  fi
  local work="$tools/apt-bullseye"
  mkdir -p "$work/sources" "$work/lists/partial" "$work/cache/archives/partial" "$tools/bin"
  cat >"$work/sources/bullseye.sources" <<SRC
Types: deb
URIs: $mirror
Suites: bullseye
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  : >"$work/empty.list"
  local opts=(-o "Dir::Etc::SourceParts=$work/sources" -o "Dir::Etc::SourceList=$work/empty.list"
    -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache"
    -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache=" -o "APT::Sandbox::User=root")
  log "fetching consul from Debian 11"
  apt-get "${opts[@]}" update -qq
  (cd "$work" && apt-get "${opts[@]}" download consul >/dev/null)
  local deb
  deb=$(ls "$work"/consul_*.deb | head -n1)
  rm -rf "$work/unpacked"
  dpkg-deb -x "$deb" "$work/unpacked"
  install -m 0755 "$work/unpacked/usr/bin/consul" "$dest"
  rm -rf "$work/unpacked"
  log "consul installed at $dest ($("$dest" version | head -n1))"
}

install_npm() {
  cd "$root"
  local stamp="node_modules/.sanpath-install-stamp"
  local sum
  sum=$(cat package.json package-lock.json native/binding.gyp native/src/* 2>/dev/null | sha256sum | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ] && [ -f native/build/Release/sanpath_rbd.node ] &&
    [ -f native/build/Release/sanpath_net.node ]; then
    log "npm dependencies present"
    return
  fi
  log "installing npm dependencies (and building the native addons)"
  # `npm install` installs the locked versions and leaves package-lock.json as it is, because the
  # lock file lists every platform's optional packages (test/unit/deploy-package-lock.test.ts): a
  # lock file without them is rewritten here, and a fresh clone is no longer clean after set-up.
  npm install --no-audit --no-fund
  sum=$(cat package.json package-lock.json native/binding.gyp native/src/* 2>/dev/null | sha256sum | cut -d' ' -f1)
  printf '%s' "$sum" >"$stamp"
}

if [ "$want_system" -eq 1 ]; then
  install_debian_packages
  install_consul
fi
if [ "$want_npm" -eq 1 ]; then
  install_npm
fi
log "done"
