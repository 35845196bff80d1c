#!/usr/bin/env bash
# Contract throughput with real processes, in one run: a fresh release solo validator with the
# token contract (examples/contracts/token.js) deployed, then the concurrent REST client
# (native/examples/load.rs) committing pre-signed plain `state:set`s and token `transfer`
# calls, alternately, ROUNDS times each. Prints each rate and the ratio transfer / state:set.
#
#   TXS=10000 SENDERS=200 CLIENTS=8 ROUNDS=2 scripts/bench-contracts-solo.sh
set -euo pipefail
cd "$(dirname "$0")/.."

TXS=${TXS:-10000}
SENDERS=${SENDERS:-200}
CLIENTS=${CLIENTS:-8}
ROUNDS=${ROUNDS:-2}

cargo build --release -p miniledger-native --bin miniledger --example load >&2
BIN=${CARGO_TARGET_DIR:-target}/release/miniledger
EXAMPLES=${CARGO_TARGET_DIR:-target}/release/examples

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-contracts.XXXXXX")
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
"$BIN" contract deploy examples/contracts/token.js --name token \
    --api "http://127.0.0.1:$API" --data-dir "$WORK/data" >/dev/null

SEED=1
for round in $(seq "$ROUNDS"); do
    for payload in set transfer; do
        rate=$("$EXAMPLES/load" --api "http://127.0.0.1:$API" --txs "$TXS" --senders "$SENDERS" \
            --clients "$CLIENTS" --seed "$SEED" --payload "$payload" | tee "$WORK/$payload.$round" |
            awk '/^committed_per_sec/ {print $2}')
        failed=$(awk '/^failed_receipts/ {print $2}' "$WORK/$payload.$round")
        echo "round $round $payload: $rate committed/s${failed:+ (failed receipts: $failed)}"
        echo "$payload $rate" >>"$WORK/rates"
        SEED=$((SEED + 1))
    done
done
python3 - "$WORK/rates" "$(nproc)" <<'PY'
import sys
rates = {}
for line in open(sys.argv[1]):
    kind, rate = line.split()
    rates.setdefault(kind, []).append(float(rate))
s, t = (sum(rates[k]) / len(rates[k]) for k in ("set", "transfer"))
print(f"state:set {s:.0f}/s, token transfer {t:.0f}/s (means over {len(rates['set'])} rounds); "
      f"ratio {t / s:.2f} (goal ≥ 0.5); {sys.argv[2]} cores")
PY
