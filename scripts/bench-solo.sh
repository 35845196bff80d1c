#!/usr/bin/env bash
# Solo throughput with real processes: a fresh release solo validator, and a concurrent REST
# client (native/examples/load.rs) posting pre-signed transactions until all are committed.
# Prints committed transactions per second and, measured in the same run, the single-core
# Ed25519 verification rate.
#
# Then, when MiniLedger 0.2 can be had (scripts/lib/reference.sh; REF02=0 skips), the same solo
# work on both: `{key, value}` signed by the node (0.2 takes nothing else), NODE_SET_TXS against
# ours and REF_TXS (fewer: a solo 0.2 seals at most 500 a second) against a solo 0.2 node;
# prints `ratio ours/0.2` for throughput.
#
#   TXS=20000 SENDERS=200 CLIENTS=8 BATCH=1 scripts/bench-solo.sh
#   NODE_SET_TXS=20000 REF_TXS=3000 REF_CLIENTS=8
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/cluster.sh
source scripts/lib/reference.sh

TXS=${TXS:-20000}
SENDERS=${SENDERS:-200}
CLIENTS=${CLIENTS:-8}
BATCH=${BATCH:-1} # transactions per request (> 1: `POST /txs`)
NODE_SET_TXS=${NODE_SET_TXS:-20000}
REF_TXS=${REF_TXS:-3000}

# BIN and EXAMPLES (both) run given builds instead, e.g. two versions side by side.
if [[ -z "${BIN:-}" || -z "${EXAMPLES:-}" ]]; then
    cargo build --release -p miniledger-native --bin miniledger --example load --example verify_rate >&2
    BIN=${CARGO_TARGET_DIR:-target}/release/miniledger
    EXAMPLES=${CARGO_TARGET_DIR:-target}/release/examples
fi

cluster_start "$BIN" 1
"$EXAMPLES/load" --api "$LEADER_API" --txs "$TXS" --senders "$SENDERS" \
    --clients "$CLIENTS" --batch "$BATCH" | tee "$CLUSTER_WORK/load.out"
HEIGHT=$(curl -sf "$LEADER_API/status" | json_field height)
VERIFY_RATE=$("$EXAMPLES/verify_rate" --count 20000 | awk '/^verifies_per_sec/ {print $2}')
cluster_cpu_times
python3 - "$CLUSTER_WORK/load.out" "$HEIGHT" "$VERIFY_RATE" "$(nproc)" <<'PY'
import sys
figures = dict(line.split() for line in open(sys.argv[1]))
height, verify, cores = int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
txs, rate = int(figures["txs"]), float(figures["committed_per_sec"])
print(f"{txs} txs in {height} blocks ({txs / height:.0f} per block); {cores} cores")
print(f"committed per second: {rate:.0f} (goal ≥ 5,000)")
print(f"single-core verify_strict rate: {verify:.0f}/s; ratio {rate / verify:.2f}")
PY
ref02_compare 1
