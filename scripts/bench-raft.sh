#!/usr/bin/env bash
# Raft throughput and latency with real processes: three fresh release validators on loopback
# and a concurrent REST client (native/examples/load.rs) posting pre-signed transactions to the
# leader. Prints committed transactions per second at saturation, the ratio to
# 2 cores / (3 nodes x one signature verification), and commit latency p50/p99 at a fixed rate
# (POST /tx?wait=commit). SPREAD=1 spreads the clients over all three validators instead (the
# followers forward to the leader), for both phases.
#
# Then, when MiniLedger 0.2 can be had (scripts/lib/reference.sh; REF02=0 skips), the same
# three-validator work on both: `{key, value}` signed by the node (0.2 takes nothing else),
# NODE_SET_TXS against ours and REF_TXS (fewer) against three 0.2 validators, then REF_RATE_TXS
# at REF_RATE tx/s on each (a rate 0.2 sustains: on a busy 2-core machine 100 tx/s was about
# its saturation; commits seen by polling /blocks, 0.2 having no ?wait=commit); prints
# `ratio ours/0.2` for throughput and latency p50/p99.
#
#   TXS=30000 SENDERS=300 CLIENTS=64 RATE=1000 RATE_TXS=10000 BATCH=1 SPREAD=0 scripts/bench-raft.sh
#   NODE_SET_TXS=20000 REF_TXS=3000 REF_CLIENTS=8 REF_RATE=50 REF_RATE_TXS=500 REF_RATE_CLIENTS=16
#   BIN=path/miniledger EXAMPLES=path/examples: given release builds (load, verify_rate)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/cluster.sh
source scripts/lib/reference.sh

TXS=${TXS:-30000}
SENDERS=${SENDERS:-300}
CLIENTS=${CLIENTS:-64}
RATE=${RATE:-1000}
RATE_TXS=${RATE_TXS:-10000}
# Transactions per request at saturation (> 1: `POST /txs`); the latency phase posts singly.
BATCH=${BATCH:-1}
NODE_SET_TXS=${NODE_SET_TXS:-20000}
REF_TXS=${REF_TXS:-3000}
REF_RATE=${REF_RATE:-50}
REF_RATE_TXS=${REF_RATE_TXS:-500}

# BIN and EXAMPLES (both) run given builds instead, e.g. two versions side by side.
if [[ -z "${BIN:-}" || -z "${EXAMPLES:-}" ]]; then
    cargo build --release -p miniledger-native --bin miniledger --example load --example verify_rate >&2
    BIN=${CARGO_TARGET_DIR:-target}/release/miniledger
    EXAMPLES=${CARGO_TARGET_DIR:-target}/release/examples
fi

cluster_start "$BIN" 3
API=$LEADER_API
echo "leader: $API"
SPREAD_ARGS=()
if [[ "${SPREAD:-0}" == 1 ]]; then
    FOLLOWERS=()
    for api in "${APIS[@]}"; do [[ "$api" != "$API" ]] && FOLLOWERS+=("$api"); done
    SPREAD_ARGS=(--spread "$(IFS=,; echo "${FOLLOWERS[*]}")")
    echo "clients spread over the leader and ${FOLLOWERS[*]}"
fi

"$EXAMPLES/load" --api "$API" --txs "$TXS" --senders "$SENDERS" --clients "$CLIENTS" --seed 1 --batch "$BATCH" \
    "${SPREAD_ARGS[@]}" | tee "$CLUSTER_WORK/load.out"
HEIGHT=$(curl -sf "$API/status" | json_field height)
"$EXAMPLES/load" --api "$API" --txs "$RATE_TXS" --senders "$CLIENTS" --clients "$CLIENTS" --seed 2 \
    --rate "$RATE" "${SPREAD_ARGS[@]}" | tee "$CLUSTER_WORK/latency.out"
# Every validator reaches the same tip (followers learn the last commit with the next message).
echo "distinct tips across the validators: $(cluster_converge)"
VERIFY_RATE=$("$EXAMPLES/verify_rate" --count 20000 | awk '/^verifies_per_sec/ {print $2}')
cluster_cpu_times
python3 - "$CLUSTER_WORK/load.out" "$HEIGHT" "$VERIFY_RATE" "$(nproc)" "$CLUSTER_WORK/latency.out" <<'PY'
import sys
figures = dict(line.split() for line in open(sys.argv[1]))
height, verify, cores = int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
lat = dict(line.split() for line in open(sys.argv[5]))
txs, rate = int(figures["txs"]), float(figures["committed_per_sec"])
bound = cores * verify / 3
print(f"{txs} txs in {height} blocks ({txs / height:.0f} per block); {cores} cores")
print(f"committed per second: {rate:.0f} (goal >= 5,000)")
print(f"single-core verify rate {verify:.0f}/s; 2 cores / (3 nodes x one verify) = {bound:.0f}/s; ratio {rate / bound:.2f}")
print(f"latency at {lat['target_rate']} tx/s (achieved {lat['achieved_rate']}): p50 {lat['latency_p50_ms']} ms, p99 {lat['latency_p99_ms']} ms (goal p99 <= 50 ms)")
PY
ref02_compare 3
