#!/usr/bin/env bash
# Contract throughput with real processes, in one run: fresh release validators (VALIDATORS=1, a
# solo node, or 3, a Raft cluster) with the token contract (examples/contracts/token.js)
# deployed, then the concurrent REST client (native/examples/load.rs) posting to the leader
# pre-signed plain `state:set`s and token `transfer` calls, alternately, ROUNDS times each.
# Prints each rate and the ratio transfer / state:set, and the same ratio of the validators' CPU
# time per transaction (steadier on a shared machine).
#
#   VALIDATORS=3 TXS=10000 SENDERS=200 CLIENTS=8 ROUNDS=2 scripts/bench-contracts-node.sh
#   BIN=path/miniledger EXAMPLES=path/examples: given release builds (load)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/cluster.sh

VALIDATORS=${VALIDATORS:-1}
TXS=${TXS:-10000}
SENDERS=${SENDERS:-200}
CLIENTS=${CLIENTS:-8}
ROUNDS=${ROUNDS:-2}

if [[ -z "${BIN:-}" || -z "${EXAMPLES:-}" ]]; then
    cargo build --release -p miniledger-native --bin miniledger --example load >&2
    BIN=${CARGO_TARGET_DIR:-target}/release/miniledger
    EXAMPLES=${CARGO_TARGET_DIR:-target}/release/examples
fi

cluster_start "$BIN" "$VALIDATORS"
"$BIN" contract deploy examples/contracts/token.js --name token \
    --api "$LEADER_API" --data-dir "$(leader_data_dir)" >/dev/null

SEED=1
RATES=$CLUSTER_WORK/rates
for round in $(seq "$ROUNDS"); do
    for payload in set transfer; do
        out=$CLUSTER_WORK/$payload.$round
        cpu_before=$(cluster_cpu_seconds)
        "$EXAMPLES/load" --api "$LEADER_API" --txs "$TXS" --senders "$SENDERS" \
            --clients "$CLIENTS" --seed "$SEED" --payload "$payload" >"$out"
        rate=$(figure "$out" committed_per_sec)
        # The validators' CPU per transaction: steadier than the rate on a shared machine.
        cpu_us=$(python3 -c "print(round(($(cluster_cpu_seconds) - $cpu_before) * 1e6 / $TXS))")
        failed=$(figure "$out" failed_receipts)
        echo "round $round $payload: $rate committed/s, ${cpu_us} µs of validator CPU per tx${failed:+ (failed receipts: $failed)}"
        echo "$payload $rate $cpu_us" >>"$RATES"
        SEED=$((SEED + 1))
    done
done
echo "distinct tips across the validators: $(cluster_converge)"
cluster_cpu_times
python3 - "$RATES" "$(nproc)" "$VALIDATORS" <<'PY'
import sys
rates, cpu = {}, {}
for line in open(sys.argv[1]):
    kind, rate, us = line.split()
    rates.setdefault(kind, []).append(float(rate))
    cpu.setdefault(kind, []).append(float(us))
mean = lambda xs: sum(xs) / len(xs)
s, t = (mean(rates[k]) for k in ("set", "transfer"))
cs, ct = (mean(cpu[k]) for k in ("set", "transfer"))
print(f"{sys.argv[3]} validator(s): state:set {s:.0f}/s, token transfer {t:.0f}/s "
      f"(means over {len(rates['set'])} rounds); ratio {t / s:.2f} (goal ≥ 0.5); {sys.argv[2]} cores")
print(f"validator CPU per tx: state:set {cs:.0f} µs, transfer {ct:.0f} µs; ratio set/transfer {cs / ct:.2f}")
PY
