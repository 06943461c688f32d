#!/usr/bin/env bash
# Measures an InstallSnapshot of a large state between real node processes,
# and the peak memory of the sending and the receiving process.
#
#     scripts/snapshot-transfer.sh [MiB of state, default 1024] [backend, default lmdb]
#
# Starts three `raftlab server --node-id N` processes (TCP on free 127.0.0.1
# ports, sync on, a small snapshot threshold so the log compacts), fills the
# state with items of ~390 KB through the HTTP API, stops a follower, wipes
# its data directory (a replaced disk) and starts it again: the leader's log no
# longer holds the entries it misses, so it streams its state store's
# snapshot. Reports the transfer time and, sampled every 50 ms from
# /proc/PID/status, the peak VmHWM (all resident memory, including file pages
# the process maps, such as LMDB's data.mdb) and the peak RssAnon (the
# process's own heap: what the transfer itself holds) of the leader and of
# the follower. Uses $RAFTLAB_BIN if set, otherwise builds .build/release/raftlab.
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-1024}
backend=${2:-lmdb}
if [ -n "${RAFTLAB_BIN:-}" ]; then
  RL=$(readlink -f "$RAFTLAB_BIN")
else
  scripts/install-deps.sh
  env -u _ swift build -c release --product raftlab >/dev/null
  RL=$PWD/.build/release/raftlab
fi
work=$(mktemp -d /tmp/raftlab-snapshot-transfer.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  sleep 0.5
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

ports=($(python3 -c 'import socket
s=[socket.socket() for _ in range(6)]
[x.bind(("127.0.0.1",0)) for x in s]
print(" ".join(str(x.getsockname()[1]) for x in s))'))
map_size=$(( (size_mib * 3 + 1024) * 1024 * 1024 ))
cat >"$work/cluster.toml" <<EOF
[storage]
log = "$backend"
state = "$backend"
sync = true
data_dir = "$work/data"

[storage.lmdb]
map_size = $map_size

[engine]
snapshot_entries = 50
snapshot_keep_entries = 10

[[nodes]]
id = 1
raft_addr = "127.0.0.1:${ports[0]}"
http_addr = "127.0.0.1:${ports[1]}"

[[nodes]]
id = 2
raft_addr = "127.0.0.1:${ports[2]}"
http_addr = "127.0.0.1:${ports[3]}"

[[nodes]]
id = 3
raft_addr = "127.0.0.1:${ports[4]}"
http_addr = "127.0.0.1:${ports[5]}"
EOF
http() { echo "127.0.0.1:${ports[$(( ($1 - 1) * 2 + 1 ))]}"; }
start() {
  "$RL" server --config "$work/cluster.toml" --node-id "$1" >"$work/node$1.log" 2>&1 &
  pids[$1]=$!
  disown "$!"
}
for n in 1 2 3; do start $n; done
leader=""
for _ in $(seq 200); do
  for n in 1 2 3; do
    if "$RL" status --target-addr "$(http $n)" --json 2>/dev/null | grep -q '"role":"leader"'; then leader=$n; break 2; fi
  done
  sleep 0.1
done
[ -n "$leader" ] || { echo "no leader elected" >&2; exit 1; }
victim=3; [ "$leader" != 3 ] || victim=2

echo "filling $size_mib MiB of state on $backend through node $leader..."
"$RL" create-table --target-addr "$(http "$leader")" --table-name Blobs --partition-key-name id >/dev/null
python3 - "$(http "$leader")" "$size_mib" <<'PY'
import concurrent.futures, json, sys, urllib.request
addr, mib = sys.argv[1], int(sys.argv[2])
value = "x" * (390 * 1024)
count = (mib * 1024 * 1024) // len(value) + 1
import time, urllib.error
leader = [addr]
def put(i):
    body = json.dumps({"id": f"item-{i:06d}", "payload": value}).encode()
    problem = None
    for _ in range(100):
        try:
            req = urllib.request.Request(f"http://{leader[0]}/tables/Blobs/items", data=body, method="PUT",
                                         headers={"Content-Type": "application/json", "Idempotency-Key": f"fill-{i}"})
            urllib.request.urlopen(req, timeout=30).read()
            return
        except urllib.error.HTTPError as e:
            problem = f"HTTP {e.code}: {e.read()[:200]!r}"
            if e.code in (307, 308) and e.headers.get("Location"):
                leader[0] = e.headers["Location"].split("//", 1)[-1].split("/", 1)[0]
                continue
        except Exception as e:
            problem = repr(e)
        time.sleep(0.2)
    raise SystemExit(f"could not write item {i}: {problem}")
with concurrent.futures.ThreadPoolExecutor(16) as pool:
    list(pool.map(put, range(count)))
print(f"wrote {count} items")
PY

sample() {  # pid -> "VmHWM_kB RssAnon_kB"
  awk '/^VmHWM:/{h=$2} /^RssAnon:/{a=$2} END{print h+0, a+0}' "/proc/$1/status" 2>/dev/null || echo "0 0"
}
applied() { "$RL" status --target-addr "$(http "$1")" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["applied_index"])'; }
target=$(applied "$leader")
for _ in $(seq 600); do [ "$(applied $victim)" -ge "$target" ] && break; sleep 0.1; done
echo "stopping node $victim and wiping its data directory (a replaced disk)"
kill "${pids[$victim]}"
while kill -0 "${pids[$victim]}" 2>/dev/null; do sleep 0.1; done
rm -rf "$work/data/node-$victim"
read -r _ leader_before < <(sample "${pids[$leader]}")
start $victim
started=$(date +%s.%N)
SECONDS=0

peak_leader_anon=0; peak_victim_anon=0
while true; do
  read -r _ la < <(sample "${pids[$leader]}")
  read -r _ na < <(sample "${pids[$victim]}")
  [ "$la" -gt "$peak_leader_anon" ] && peak_leader_anon=$la
  [ "$na" -gt "$peak_victim_anon" ] && peak_victim_anon=$na
  a=$(applied $victim 2>/dev/null || echo 0)
  [ "$a" -ge "$target" ] && break
  [ "$SECONDS" -lt 600 ] || { echo "node $victim did not catch up in 600 s" >&2; exit 1; }
  sleep 0.05
done
finished=$(date +%s.%N)
read -r leader_hwm _ < <(sample "${pids[$leader]}")
read -r victim_hwm _ < <(sample "${pids[$victim]}")
grep -q "installed snapshot" "$work/node$victim.log" || { echo "node $victim caught up without a snapshot" >&2; exit 1; }
state_bytes=$(du -sb "$work/data/node-$victim/state" | cut -f1)
python3 - <<PY
secs = $finished - $started
mib = lambda kb: kb / 1024
print(f"InstallSnapshot of {$state_bytes / 2**20:.0f} MiB ($backend state store on disk at node $victim) in {secs:.1f} s")
print(f"  sender (leader, node $leader): peak VmHWM {mib($leader_hwm):.0f} MiB, RssAnon {mib($leader_before):.0f} MiB before the transfer, peak {mib($peak_leader_anon):.0f} MiB during it")
print(f"  receiver (node $victim):        peak VmHWM {mib($victim_hwm):.0f} MiB, peak RssAnon {mib($peak_victim_anon):.0f} MiB")
PY
