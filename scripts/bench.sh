#!/usr/bin/env bash
# The main job: the default benchmark comparison of every backend, built in
# release mode (debug builds run 3-4x slower and would misstate every figure).
# Installs the system libraries first if they are missing. Extra arguments go
# to `raftlab bench`, e.g.  scripts/bench.sh --backend lmdb,leveldb --duration 10
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
env -u _ swift build -c release --product raftlab
exec .build/release/raftlab bench "$@"
