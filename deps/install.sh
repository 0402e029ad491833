#!/usr/bin/env bash
# Installs the Debian 12 packages dynis needs to build, test and benchmark, and only those that
# are missing: a second run costs a dpkg query and nothing else.
set -euo pipefail

PKGS=(
  build-essential pkg-config
  libuv1-dev librocksdb-dev libxxhash-dev   # the server
  libssl-dev                                # libcrypto: HMAC-SHA256 peer authentication
  libhiredis-dev catch2                     # tests and tools
  clang-14 libclang-rt-14-dev               # libFuzzer target (make fuzz)
  redis-server redis-tools python3-redis    # reference server and real clients
  iproute2 nftables                         # chaos suite: ip netns, veths, link cuts
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
# Debian starts the packaged redis-server as a service; dynis's tests and benchmarks start
# their own on free ports, so a system instance on 6379 would only get in `make run`'s way.
if command -v systemctl >/dev/null 2>&1; then
  $SUDO systemctl disable --now redis-server >/dev/null 2>&1 || true
fi
