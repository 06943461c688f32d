#!/usr/bin/env bash
# Installs what building and testing RaftLab needs (Debian), doing nothing
# for what is already there:
# - the system libraries RaftLab links: liblmdb-dev, libleveldb-dev,
#   librocksdb-dev, libsqlite3-dev;
# - for the DynamoDB API tests (scripts/test-dynamodb.sh): python3 with venv,
#   and boto3 and the AWS CLI from PyPI in a virtualenv, .build/dynamodb-clients
#   (a virtualenv because Debian's python3 refuses system-wide pip installs).
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(liblmdb-dev libleveldb-dev librocksdb-dev libsqlite3-dev)
command -v python3 >/dev/null 2>&1 || packages+=(python3)
# Debian splits venv and ensurepip out of python3.
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || packages+=(python3-venv)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${missing[@]}"
fi

# Pinned, so every run tests against the same clients (awscli pins the botocore that boto3 also uses).
clients=(boto3==1.43.11 awscli==1.45.11)
venv=.build/dynamodb-clients
if ! "$venv/bin/python" -c 'import boto3, awscli' >/dev/null 2>&1; then
  echo "installing ${clients[*]} into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "${clients[@]}"
fi
