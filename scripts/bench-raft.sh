#!/usr/bin/env bash
# Raft throughput and latency with real processes: three fresh release validators on loopback
# and a concurrent REST client (native/examples/load.rs) posting pre-signed transactions to the
# leader. Prints committed transactions per second at saturation, the ratio to
# 2 cores / (3 nodes x one signature verification), and commit latency p50/p99 at a fixed rate
# (POST /tx?wait=commit).
#
#   TXS=30000 SENDERS=300 CLIENTS=64 RATE=1000 RATE_TXS=10000 scripts/bench-raft.sh
#   BIN=path/miniledger EXAMPLES=path/examples: given release builds (load, verify_rate)
set -euo pipefail
cd "$(dirname "$0")/.."

TXS=${TXS:-30000}
SENDERS=${SENDERS:-300}
CLIENTS=${CLIENTS:-64}
RATE=${RATE:-1000}
RATE_TXS=${RATE_TXS:-10000}

# BIN and EXAMPLES (both) run given builds instead, e.g. two versions side by side.
if [[ -z "${BIN:-}" || -z "${EXAMPLES:-}" ]]; then
    cargo build --release -p miniledger-native --bin miniledger --example load --example verify_rate >&2
    BIN=${CARGO_TARGET_DIR:-target}/release/miniledger
    EXAMPLES=${CARGO_TARGET_DIR:-target}/release/examples
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-raft.XXXXXX")
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

free_ports() {
    python3 -c '
import socket
s = [socket.socket() for _ in range(6)]
for x in s: x.bind(("127.0.0.1", 0))
print(*(x.getsockname()[1] for x in s))'
}
read -r P0 P1 P2 A0 A1 A2 < <(free_ports)
P2PS=("$P0" "$P1" "$P2")
APIS=("$A0" "$A1" "$A2")

KEYS=()
for i in 0 1 2; do
    "$BIN" init --data-dir "$WORK/n$i" >/dev/null
    KEYS+=("$("$BIN" keys show --data-dir "$WORK/n$i" | python3 -c 'import json,sys; print(json.load(sys.stdin)["publicKey"])')")
done
VALIDATORS=$(IFS=,; echo "${KEYS[*]}")
for i in 0 1 2; do
    PEERS=()
    for j in 0 1 2; do [[ $j != "$i" ]] && PEERS+=("ws://127.0.0.1:${P2PS[$j]}"); done
    RUST_LOG=${RUST_LOG:-warn} "$BIN" start --data-dir "$WORK/n$i" --listen-address 127.0.0.1 \
        --p2p-port "${P2PS[$i]}" --api-port "${APIS[$i]}" --consensus raft \
        --validators "$VALIDATORS" --peers "$(IFS=,; echo "${PEERS[*]}")" \
        </dev/null >/dev/null 2>"$WORK/n$i.log" &
    PIDS+=($!)
done

LEADER=
for _ in $(seq 200); do
    for i in 0 1 2; do
        role=$(curl -sf "http://127.0.0.1:${APIS[$i]}/consensus" | python3 -c 'import json,sys; print(json.load(sys.stdin)["role"])' 2>/dev/null || true)
        [[ "$role" == leader ]] && LEADER=$i
    done
    [[ -n "$LEADER" ]] && break
    sleep 0.05
done
[[ -n "$LEADER" ]] || { echo "no leader elected" >&2; exit 1; }
API="http://127.0.0.1:${APIS[$LEADER]}"
echo "leader: node $LEADER ($API)"

"$EXAMPLES/load" --api "$API" --txs "$TXS" --senders "$SENDERS" --clients "$CLIENTS" --seed 1 \
    | tee "$WORK/load.out"
HEIGHT=$(curl -sf "$API/status" | python3 -c 'import json,sys; print(json.load(sys.stdin)["height"])')
"$EXAMPLES/load" --api "$API" --txs "$RATE_TXS" --senders "$CLIENTS" --clients "$CLIENTS" --seed 2 \
    --rate "$RATE" | tee "$WORK/latency.out"
# Every validator reaches the same tip (followers learn the last commit with the next message).
for _ in $(seq 100); do
    TIPS=$(for i in 0 1 2; do curl -sf "http://127.0.0.1:${APIS[$i]}/status" | python3 -c 'import json,sys; s=json.load(sys.stdin); print(s["height"], s["tipHash"])'; done | sort -u | wc -l)
    [[ "$TIPS" == 1 ]] && break
    sleep 0.05
done
echo "distinct tips across the validators: $TIPS"
VERIFY_RATE=$("$EXAMPLES/verify_rate" --count 20000 | awk '/^verifies_per_sec/ {print $2}')
for i in 0 1 2; do
    awk -v hz="$(getconf CLK_TCK)" -v n="$i" '{printf "node %s CPU time: user %.1f s, system %.1f s\n", n, $14 / hz, $15 / hz}' \
        "/proc/${PIDS[$i]}/stat"
done
python3 - "$WORK/load.out" "$HEIGHT" "$VERIFY_RATE" "$(nproc)" "$WORK/latency.out" <<'PY'
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
