#!/usr/bin/env bash
# Installs the system libraries RaftLab links (Debian): liblmdb-dev, libleveldb-dev,
# librocksdb-dev, libsqlite3-dev.
# Does nothing when they are already there.
set -euo pipefail
packages=(liblmdb-dev libleveldb-dev librocksdb-dev libsqlite3-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${missing[@]}"
