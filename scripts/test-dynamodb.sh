#!/usr/bin/env bash
# The DynamoDB API tests with the real clients: boto3 (client and resource) and
# the AWS CLI against a live 3-node `raftlab server` on each backend named
# (default: lmdb leveldb), then boto3 with SigV4 authentication on.
#
#     scripts/test-dynamodb.sh [BACKEND...]
#
# Needs a built raftlab (RAFTLAB_BIN, else .build/debug/raftlab or .build/release/raftlab)
# and the clients scripts/install-deps.sh puts in .build/dynamodb-clients.
# Each server listens on free 127.0.0.1 ports, lives at most 120 s, and is
# stopped and its data removed whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."
backends=("$@")
[ ${#backends[@]} -gt 0 ] || backends=(lmdb leveldb)

bin=${RAFTLAB_BIN:-}
for candidate in .build/debug/raftlab .build/release/raftlab; do
  [ -n "$bin" ] || { [ -x "$candidate" ] && bin=$candidate; }
done
[ -n "$bin" ] || { echo "test-dynamodb: no raftlab binary; run swift build first" >&2; exit 1; }
venv=.build/dynamodb-clients
python=$venv/bin/python
aws=$venv/bin/aws
[ -x "$python" ] && [ -x "$aws" ] || { echo "test-dynamodb: no clients in $venv; run scripts/install-deps.sh" >&2; exit 1; }

work=$(mktemp -d /tmp/raftlab-dynamodb.XXXXXX)
server=""
stop_server() {
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    server=""
  fi
}
cleanup() { stop_server; rm -rf "$work"; }
trap cleanup EXIT INT TERM

# start_server BACKEND [AUTH_TOML]: three nodes in one process on free ports; sets $endpoints.
start_server() {
  local backend=$1 auth=${2:-}
  local ports
  ports=$("$python" - <<'PY'
import socket
sockets = [socket.socket() for _ in range(6)]
for s in sockets: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in sockets))
for s in sockets: s.close()
PY
)
  read -r r1 r2 r3 h1 h2 h3 <<<"$ports"
  local config=$work/$backend.toml
  {
    printf '[storage]\nlog = "%s"\nstate = "%s"\nsync = true\ndata_dir = "%s"\n' "$backend" "$backend" "$work/data-$backend"
    printf '%s\n' "$auth"
    local id=1
    for pair in "$r1 $h1" "$r2 $h2" "$r3 $h3"; do
      read -r raft http <<<"$pair"
      printf '[[nodes]]\nid = %d\nraft_addr = "127.0.0.1:%s"\nhttp_addr = "127.0.0.1:%s"\n' "$id" "$raft" "$http"
      id=$((id + 1))
    done
  } >"$config"
  timeout 120 "$bin" server --config "$config" --log-level warning >"$work/server-$backend.log" 2>&1 &
  server=$!
  endpoints=("http://127.0.0.1:$h1" "http://127.0.0.1:$h2" "http://127.0.0.1:$h3")
  for _ in $(seq 100); do
    if "$bin" status --target-addr "127.0.0.1:$h2" 2>/dev/null | grep -q '^leader_id: *[1-9]'; then return 0; fi
    kill -0 "$server" 2>/dev/null || break
    sleep 0.2
  done
  echo "test-dynamodb: the $backend server did not elect a leader; its log:" >&2
  cat "$work/server-$backend.log" >&2
  return 1
}

for backend in "${backends[@]}"; do
  echo "== DynamoDB API on $backend: boto3 and the AWS CLI against a live 3-node cluster"
  start_server "$backend"
  timeout 100 "$python" Tests/DynamoDBClients/test_boto3.py "${endpoints[@]}"
  AWS="$aws" timeout 100 bash Tests/DynamoDBClients/test_awscli.sh "${endpoints[@]}"
  stop_server
done

echo "== DynamoDB API with SigV4 authentication ([[auth.access_keys]]) on ${backends[0]}"
start_server "${backends[0]}" $'[[auth.access_keys]]\naccess_key_id = "AKIDRAFTLAB"\nsecret_access_key = "raftlab-secret-key"\n'
timeout 60 "$python" Tests/DynamoDBClients/test_auth.py AKIDRAFTLAB raftlab-secret-key "${endpoints[@]}"
stop_server
echo "DynamoDB client tests passed on: ${backends[*]}"
