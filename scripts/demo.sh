#!/usr/bin/env bash
# The original simulator's demo scenario, run for real: starts `raftlab server`,
# runs each step with the raftlab CLI, printing the command and its output,
# then stops the server.
#
#     scripts/demo.sh                          # 3 nodes in one process, memory, localhost:8100-8102
#     scripts/demo.sh examples/cluster.toml    # the cluster a config describes (one process)
#
# The server runs in a fresh temporary directory, removed at the end, so a
# relative data_dir in the config starts empty every time. Uses
# $RAFTLAB_BIN if set, otherwise builds and uses .build/debug/raftlab.
set -euo pipefail
cd "$(dirname "$0")/.."

config=""
if [ $# -gt 0 ]; then
  [ -f "$1" ] || { echo "no such config: $1" >&2; exit 64; }
  config=$(readlink -f "$1")
  shown_config=$1
fi

if [ -n "${RAFTLAB_BIN:-}" ]; then
  RL=$(readlink -f "$RAFTLAB_BIN")
else
  env -u _ swift build --product raftlab >/dev/null
  RL=$PWD/.build/debug/raftlab
fi

# The nodes' HTTP addresses: the config's http_addr values in order, or the defaults.
if [ -n "$config" ]; then
  mapfile -t nodes < <(sed -n 's/^[[:space:]]*http_addr[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' "$config")
else
  nodes=(localhost:8100 localhost:8101 localhost:8102)
fi
[ ${#nodes[@]} -ge 2 ] || { echo "need at least two nodes with http_addr in $config" >&2; exit 64; }
N1=${nodes[0]}

work=$(mktemp -d /tmp/raftlab-demo.XXXXXX)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# Prints a command as typed (single quotes around words with spaces or JSON).
show() {
  local line="\$ raftlab" word
  for word in "$@"; do
    if [[ $word =~ ^[A-Za-z0-9_./:=-]+$ ]]; then line+=" $word"; else line+=" '$word'"; fi
  done
  echo
  echo "$line"
}

# Runs a CLI step: the command, then what it printed (stdout, then stderr) and a non-zero exit code.
step() {
  show "$@"
  local status=0
  "$RL" "$@" >"$work/stdout" 2>"$work/stderr" || status=$?
  cat "$work/stdout" "$work/stderr"
  [ $status -eq 0 ] || echo "(exit code $status)"
}

echo "### 1. Start the server (terminal 1)"
if [ -n "$config" ]; then
  show server --config "$shown_config"
  (cd "$work" && exec "$RL" server --config "$config") >"$work/server.log" 2>&1 &
else
  show server
  (cd "$work" && exec "$RL" server) >"$work/server.log" 2>&1 &
fi
server_pid=$!
for _ in $(seq 150); do
  "$RL" status --target-addr "$N1" --timeout 0.2 >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log"; echo "the server exited" >&2; exit 1; }
  sleep 0.2
done
# Wait until a leader is elected (status names one).
for _ in $(seq 100); do
  "$RL" status --target-addr "$N1" --json 2>/dev/null | grep -q '"leader_id":[1-9]' && break
  sleep 0.1
done
grep 'serving HTTP' "$work/server.log" | sed 's/^.* info //' || true
step status --target-addr "$N1"
leader=$("$RL" status --target-addr "$N1" --json | sed -n 's/.*"leader_http_addr":"\([^"]*\)".*/\1/p')
follower=""
for n in "${nodes[@]}"; do
  if "$RL" status --target-addr "$n" --json | grep -q '"role":"follower"'; then follower=$n; break; fi
done

echo
echo "### 2. Create the Music table (terminal 2)"
step create-table --target-addr "$N1" --table-name Music --partition-key-name Artist --sort-key-name SongTitle

echo
echo "### 3. Put two items (and a third, so the sort key prefix query below leaves one out)"
ITEM1='{"Artist":"The Beatles","SongTitle":"Let It Be","Album":"Let It Be","Year":1970}'
ITEM2='{"Artist":"Queen","SongTitle":"Bohemian Rhapsody","Album":"A Night at the Opera","Year":1975}'
ITEM3='{"Artist":"The Beatles","SongTitle":"Yesterday","Album":"Help!","Year":1965}'
step put-item --target-addr "$N1" --table-name Music --item-data "$ITEM1"
step put-item --target-addr "$N1" --table-name Music --item-data "$ITEM2"
step put-item --target-addr "$N1" --table-name Music --item-data "$ITEM3"

echo
echo "### 4. Get \"Let It Be\" from the leader ($leader)"
step get-item --target-addr "$leader" --table-name Music --partition-key "The Beatles" --sort-key "Let It Be"

echo
echo "### 5. Get \"Bohemian Rhapsody\" from a follower ($follower), once replicated"
for _ in $(seq 50); do
  "$RL" get-item --target-addr "$follower" --table-name Music --partition-key Queen --sort-key "Bohemian Rhapsody" >/dev/null 2>&1 && break
  sleep 0.1
done
step get-item --target-addr "$follower" --table-name Music --partition-key Queen --sort-key "Bohemian Rhapsody"

echo
echo "### 6. Query the items of \"The Beatles\", then by sort key prefix"
step query-items --target-addr "$N1" --table-name Music --partition-key "The Beatles"
step query-items --target-addr "$N1" --table-name Music --partition-key "The Beatles" --sort-key-prefix "Yes"

echo
echo "### 7. Delete \"Let It Be\"; reading it again fails (not found)"
step delete-item --target-addr "$N1" --table-name Music --partition-key "The Beatles" --sort-key "Let It Be"
step get-item --target-addr "$N1" --table-name Music --partition-key "The Beatles" --sort-key "Let It Be"

echo
echo "### 8. Delete the Music table"
step delete-table --target-addr "$N1" --table-name Music
step list-tables --target-addr "$N1"

echo
echo "### 9. Node status"
for n in "${nodes[@]}"; do step status --target-addr "$n"; done

echo
echo "### 10. Stop the server (Ctrl-C or SIGTERM: a clean shutdown)"
kill -TERM "$server_pid"
status=0
wait "$server_pid" || status=$?
server_pid=""
echo "server exited with status $status"
[ $status -eq 0 ]
