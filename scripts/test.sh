#!/usr/bin/env bash
# The test command: installs what the tests need if missing (system libraries;
# boto3 and the AWS CLI in .build/dynamodb-clients), builds, runs every test.
#
#     scripts/test.sh
#
# Longer simulation soak: RAFTLAB_SIM_SEEDS=100000 scripts/test.sh --filter Simulation
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# env -u _: a changed environment between SwiftPM calls re-evaluates every manifest.
env -u _ swift build --build-tests
if [ $# -gt 0 ]; then
  exec env -u _ swift test --skip-build "$@"
fi
# Steps. The seeded simulation keeps both cores busy on threads of its
# own, the end-to-end suite and the short chaos run (20 s of kill, pause and
# partition on leveldb, checked for linearizability) run clusters of node
# processes, and the storage conformance kit syncs to disk without pause on
# every backend (crash probes included), and the fuzz campaigns run node
# clusters under restarts; on a 2-core machine any of these
# loads would starve the timing-sensitive tests (elections, client retries)
# that run beside them, so each runs alone.
env -u _ swift test --skip-build --skip EndToEnd --skip Simulation --skip StorageTests --skip ChaosRun --skip CampaignTests
env -u _ swift test --skip-build --filter StorageTests
env -u _ swift test --skip-build --filter Simulation
env -u _ swift test --skip-build --filter EndToEnd
env -u _ swift test --skip-build --filter ChaosRun
# A short seeded fuzz campaign at the API edge on memory, leveldb and lmdb
# (raftlab fuzz: limits, malformed requests, restarts; every answer a
# well-formed 2xx/4xx, the cluster still writing, replicas' digests equal).
env -u _ swift test --skip-build --filter CampaignTests
# The DynamoDB API with the real boto3 and AWS CLI against live clusters (lmdb, leveldb).
scripts/test-dynamodb.sh
