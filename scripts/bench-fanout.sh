#!/usr/bin/env bash
# Fan-out with real processes: a fresh release solo node serving PEERS light peers (all in one
# process, native/examples/fanout.rs: core's sans-IO peer manager as a light node per WebSocket)
# while native/examples/load.rs commits RATE tx/s through it. Prints the BLOCK_ANNOUNCE delay
# percentiles (block timestamp to receipt at each light peer), how many peers got each block,
# and the node's memory per light peer (VmRSS under load before they connect, and after).
#
#   PEERS=1000 RATE=1000 DURATION=20 INTAKE=peek scripts/bench-fanout.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/cluster.sh

PEERS=${PEERS:-1000}
RATE=${RATE:-1000}
DURATION=${DURATION:-20} # seconds measured
WARMUP=${WARMUP:-3}
INTAKE=${INTAKE:-peek}   # peek: header fields read off the text; full: decoded as a light node does
CLIENTS=${CLIENTS:-64}   # load threads (each waits for its commits)
# MAX_PEERS=N sets the node's network.maxPeers: builds from before maxLightPeers counted light
# peers against maxPeers (50), so comparing with one needs e.g. MAX_PEERS=$((PEERS + 50)).
MAX_PEERS=${MAX_PEERS:-}

# A socket per light peer on both sides (the node and the load tool).
ulimit -n "$(ulimit -Hn)"
if (($(ulimit -n) < PEERS + 256)); then
    echo "ulimit -n is $(ulimit -n): too few descriptors for $PEERS peers" >&2
    exit 1
fi

# BIN and EXAMPLES (both) run given builds instead, e.g. two versions side by side.
if [[ -z "${BIN:-}" || -z "${EXAMPLES:-}" ]]; then
    cargo build --release -p miniledger-native --bin miniledger --example load --example fanout >&2
    BIN=${CARGO_TARGET_DIR:-target}/release/miniledger
    EXAMPLES=${CARGO_TARGET_DIR:-target}/release/examples
fi

if [[ -n "$MAX_PEERS" ]]; then
    mkdir -p "$CLUSTER_WORK/n0"
    echo "{\"network\": {\"maxPeers\": $MAX_PEERS}}" >"$CLUSTER_WORK/n0/miniledger.json"
fi
cluster_start "$BIN" 1
NODE_PID=${PIDS[0]}
IDLE_RSS=$(awk '/^VmRSS/ {print $2}' "/proc/$NODE_PID/status")
# The load runs from before the peers connect (so memory is compared under the same load) to
# just after the measured window (3 s before the peers, ~1 s to connect them, WARMUP, the
# window, and 4 s to spare), then reports its commit latency: the cost of the solo producer's
# pace for light peers (core/src/node/produce.rs) shows there.
TXS=$((RATE * (DURATION + WARMUP + 8)))
"$EXAMPLES/load" --api "$LEADER_API" --rate "$RATE" --txs "$TXS" --senders $((CLIENTS * 4)) \
    --clients "$CLIENTS" >"$CLUSTER_WORK/load.out" 2>&1 &
LOAD_PID=$!
sleep 3
"$EXAMPLES/fanout" --p2p "${P2PS[0]}" --peers "$PEERS" --node-pid "$NODE_PID" \
    --warmup "$WARMUP" --seconds "$DURATION" --intake "$INTAKE" | tee "$CLUSTER_WORK/fanout.out"
# A load that fell behind its schedule is stopped 20 s after the window (no latency then).
(sleep 20 && kill "$LOAD_PID" 2>/dev/null) &
WATCHDOG=$!
wait "$LOAD_PID" 2>/dev/null || true
pkill -P "$WATCHDOG" sleep 2>/dev/null || true
cluster_cpu_times
python3 - "$CLUSTER_WORK/fanout.out" "$IDLE_RSS" "$(nproc)" "$CLUSTER_WORK/load.out" <<'PY'
import sys
f = dict(line.split(None, 1) for line in open(sys.argv[1]))
load = dict(l.split(None, 1) for l in open(sys.argv[4]) if len(l.split(None, 1)) == 2)
num = lambda k: float(f[k])
idle, cores = int(sys.argv[2]), int(sys.argv[3])
print(f"{int(num('connected'))} of {int(num('peers'))} light peers connected in "
      f"{num('connect_secs'):.1f} s, {int(num('lost'))} lost; {cores} cores")
print(f"committed {num('committed_tx_per_sec'):.0f} tx/s in {int(num('blocks'))} blocks over "
      f"{num('window_secs'):.0f} s (goal 1,000 tx/s)")
print(f"BLOCK_ANNOUNCE delay p50 / p99 / max: {num('delay_p50_ms'):.1f} / "
      f"{num('delay_p99_ms'):.1f} / {num('delay_max_ms'):.1f} ms (goal p99 ≤ 100 ms)")
print(f"  after the first peer's receipt: {num('spread_p50_ms'):.1f} / "
      f"{num('spread_p99_ms'):.1f} / {num('spread_max_ms'):.1f} ms")
print(f"blocks reaching every peer: {int(num('blocks_reaching_all'))} of {int(num('blocks'))} "
      f"(fewest peers for a block: {int(num('peers_per_block_min'))})")
print(f"node VmRSS: idle {idle / 1024:.1f} MiB, under load {num('node_rss_before_kib') / 1024:.1f}"
      f" MiB, all connected {num('node_rss_connected_kib') / 1024:.1f} MiB, max under load "
      f"{num('node_rss_max_kib') / 1024:.1f} MiB")
print(f"load tool (the light peers) CPU: user {num('tool_cpu_user_secs'):.1f} s, system "
      f"{num('tool_cpu_system_secs'):.1f} s")
if "latency_p99_ms" in load:
    print(f"commit latency (load, ?wait=commit, whole run) p50 / p99 / max: "
          f"{float(load['latency_p50_ms']):.1f} / {float(load['latency_p99_ms']):.1f} / "
          f"{float(load['latency_max_ms']):.1f} ms")
else:
    print("commit latency: the load did not finish (behind its schedule)")
print(f"node memory per light peer: {num('kib_per_peer_connected'):.1f} KiB connected, "
      f"{num('kib_per_peer_max'):.1f} KiB at the max (goal ≤ 50 KB)")
PY
