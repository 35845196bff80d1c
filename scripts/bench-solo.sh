#!/usr/bin/env bash
# Solo throughput with real processes: a fresh release solo validator, and a concurrent REST
# client (native/examples/load.rs) posting pre-signed transactions until all are committed.
# Prints committed transactions per second and, measured in the same run, the single-core
# Ed25519 verification rate.
#
#   TXS=20000 SENDERS=200 CLIENTS=8 scripts/bench-solo.sh
set -euo pipefail
cd "$(dirname "$0")/.."

TXS=${TXS:-20000}
SENDERS=${SENDERS:-200}
CLIENTS=${CLIENTS:-8}

cargo build --release -p miniledger-native --bin miniledger --example load --example verify_rate >&2
BIN=${CARGO_TARGET_DIR:-target}/release/miniledger
EXAMPLES=${CARGO_TARGET_DIR:-target}/release/examples

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-solo.XXXXXX")
NODE=
cleanup() {
    [[ -n "$NODE" ]] && { kill "$NODE" 2>/dev/null || true; wait "$NODE" 2>/dev/null || true; }
    rm -rf "$WORK"
}
trap cleanup EXIT

read -r P2P API < <(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*(x.getsockname()[1] for x in s))')

RUST_LOG=${RUST_LOG:-warn} "$BIN" start --data-dir "$WORK/data" --listen-address 127.0.0.1 \
    --p2p-port "$P2P" --api-port "$API" </dev/null >/dev/null 2>"$WORK/node.log" &
NODE=$!
for _ in $(seq 200); do
    curl -sf "http://127.0.0.1:$API/status" >/dev/null && break
    sleep 0.05
done

"$EXAMPLES/load" --api "http://127.0.0.1:$API" --txs "$TXS" --senders "$SENDERS" \
    --clients "$CLIENTS" | tee "$WORK/load.out"
HEIGHT=$(curl -sf "http://127.0.0.1:$API/status" | python3 -c 'import json,sys; print(json.load(sys.stdin)["height"])')
VERIFY_RATE=$("$EXAMPLES/verify_rate" --count 20000 | awk '/^verifies_per_sec/ {print $2}')
awk -v hz="$(getconf CLK_TCK)" '{printf "node CPU time: user %.1f s, system %.1f s\n", $14 / hz, $15 / hz}' \
    "/proc/$NODE/stat"
python3 - "$WORK/load.out" "$HEIGHT" "$VERIFY_RATE" "$(nproc)" <<'PY'
import sys
figures = dict(line.split() for line in open(sys.argv[1]))
height, verify, cores = int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
txs, rate = int(figures["txs"]), float(figures["committed_per_sec"])
print(f"{txs} txs in {height} blocks ({txs / height:.0f} per block); {cores} cores")
print(f"committed per second: {rate:.0f} (goal ≥ 5,000)")
print(f"single-core verify_strict rate: {verify:.0f}/s; ratio {rate / verify:.2f}")
PY
