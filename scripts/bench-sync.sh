#!/usr/bin/env bash
# Sync benchmark with real processes: a release fixture chain (default 400 blocks × 500 txs from
# 1,000 senders) served by node A; a fresh node B joins A. Measures the time from B's start
# until B reports A's tip, B's peak RSS (VmHWM), and, in the same run (before and after the
# sync, the faster counts), the single-core plain Ed25519 verification rate, and prints the
# throughput ratio.
#
# Then, when MiniLedger 0.2 can be had (scripts/lib/reference.sh; REF02=0 skips), a fresh 0.2
# node (`start --consensus raft --peers A`, B stopped) syncs the same chain from A, timed the
# same way, and the script prints `ratio ours/0.2` for the sync rate. 0.2 does sync our chains
# (native/tests/interop_02.rs), but it checks far less: it applies each block as it comes,
# verifying no transaction or block signature (ours verifies all of them).
#
#   BLOCKS=400 TXS_PER_BLOCK=500 SENDERS=1000 KEYS=5000 scripts/bench-sync.sh
#   KEYS=0: every transaction writes a new state key (state that grows, as a ledger's does).
#   KEEP=1 keeps the work directory (fixture, node logs).
#   BIN=path/miniledger EXAMPLES=path/examples: given release builds (make_chain, verify_rate)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/reference.sh

BLOCKS=${BLOCKS:-400}
TXS_PER_BLOCK=${TXS_PER_BLOCK:-500}
SENDERS=${SENDERS:-1000}
KEYS=${KEYS:-5000}
TIMEOUT_SECS=${TIMEOUT_SECS:-600}

# BIN and EXAMPLES (both) run given builds instead, e.g. two versions side by side.
if [[ -z "${BIN:-}" || -z "${EXAMPLES:-}" ]]; then
    cargo build --release -p miniledger-native --bin miniledger --example make_chain --example verify_rate >&2
    BIN=${CARGO_TARGET_DIR:-target}/release/miniledger
    EXAMPLES=${CARGO_TARGET_DIR:-target}/release/examples
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-sync.XXXXXX")
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [[ -n "${KEEP:-}" ]]; then
        echo "work directory kept: $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

read -r A_P2P A_API B_P2P B_API < <(free_ports 4)

# The single-core rate swings with the machine's load: measure it before and after the sync
# and divide by the faster (the conservative ratio).
verify_rate() { "$EXAMPLES/verify_rate" --count 20000 | awk '/^verifies_per_sec/ {print $2}'; }
VERIFY_BEFORE=$(verify_rate)

echo "building the fixture: $BLOCKS blocks × $TXS_PER_BLOCK txs, $SENDERS senders, keys $KEYS (0: all distinct)" >&2
VALIDATOR=$("$EXAMPLES/make_chain" --out "$WORK/a" --blocks "$BLOCKS" \
    --txs-per-block "$TXS_PER_BLOCK" --senders "$SENDERS" --keys "$KEYS")

start_node() { # name, then miniledger arguments
    local name=$1
    shift
    RUST_LOG=${RUST_LOG:-info} "$BIN" "$@" --listen-address 127.0.0.1 --validators "$VALIDATOR" \
        </dev/null >/dev/null 2>"$WORK/$name.log" &
    PIDS+=($!)
}

# Polls the /status of node $1 (API URL $2, process $3) until it is at height $4 (and, if
# given, tip hash $5); prints "<seconds since $6 (epoch seconds)> <tip hash>". Reads 0.2's
# field names (ours answers them too); $7: the node's log, shown if it exits.
wait_for_tip() {
    python3 - "$@" "$TIMEOUT_SECS" <<'PY'
import json, os, sys, time, urllib.request
name, api, pid, height, tip, since, log, limit = sys.argv[1:9]
pid, height, since, limit = int(pid), int(height), float(since), float(limit)
deadline = time.time() + limit
while True:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        log = open(log).read()[-4000:]
        sys.exit(f"node {name} exited; end of its log:\n{log}")
    try:
        with urllib.request.urlopen(api + "/status", timeout=5) as r:
            s = json.load(r)
        if s["chainHeight"] >= height and (not tip or s["latestBlockHash"] == tip):
            print(f"{time.time() - since:.3f} {s['latestBlockHash']}")
            break
    except OSError:
        pass
    if time.time() > deadline:
        sys.exit(f"timed out waiting for node {name} to reach height {height}")
    time.sleep(0.02)
PY
}

start_node A start --data-dir "$WORK/a" --p2p-port "$A_P2P" --api-port "$A_API"
A_TIP=$(wait_for_tip A "http://127.0.0.1:$A_API" "${PIDS[-1]}" "$BLOCKS" "" "$(date +%s.%N)" "$WORK/A.log")
A_TIP=${A_TIP#* }

B_START=$(date +%s.%N)
start_node B join "ws://127.0.0.1:$A_P2P" --data-dir "$WORK/b" --p2p-port "$B_P2P" --api-port "$B_API"
B_PID=${PIDS[-1]}
SYNC_SECS=$(wait_for_tip B "http://127.0.0.1:$B_API" "$B_PID" "$BLOCKS" "$A_TIP" "$B_START" "$WORK/B.log")
SYNC_SECS=${SYNC_SECS%% *}
HWM_KB=$(awk '/^VmHWM:/ {print $2}' "/proc/$B_PID/status")
VERIFY_AFTER=$(verify_rate)
VERIFY_RATE=$(python3 -c "print(max($VERIFY_BEFORE, $VERIFY_AFTER))")
echo "single-core verify rate before/after the sync: $VERIFY_BEFORE / $VERIFY_AFTER per second" >&2
# B's own figures: its CPU time, and its sync summary (logged for syncs of 500+ blocks).
awk -v hz="$(getconf CLK_TCK)" '{printf "B'"'"'s CPU time: user %.1f s, system %.1f s\n", $14 / hz, $15 / hz}' \
    "/proc/$B_PID/stat" >&2
grep -o 'synced [0-9]* blocks to height [0-9]* in [0-9.]* s' "$WORK/B.log" >&2 || true

python3 - "$BLOCKS" "$TXS_PER_BLOCK" "$SENDERS" "$SYNC_SECS" "$HWM_KB" "$VERIFY_RATE" "$(nproc)" <<'PY'
import sys
blocks, per_block, senders = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
secs, hwm_kb, verify_rate, cores = float(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7])
txs = blocks * per_block
rate = txs / secs
print(f"chain: {blocks} blocks × {per_block} txs = {txs} txs from {senders} senders; {cores} cores")
print(f"B reached A's tip in {secs:.2f} s ({blocks / secs:.0f} blocks/s)")
print(f"txs verified per second during sync: {rate:.0f}")
print(f"single-core verify_strict rate (the faster of before/after): {verify_rate:.0f}/s")
print(f"ratio to the single-core verify rate: {rate / verify_rate:.2f} (goal ≥ 3.0)")
print(f"B's peak RSS (VmHWM): {hwm_kb / 1024:.1f} MB (goal < 150)")
PY

# 0.2 beside ours: the same chain, from the same A, B no longer running.
if ref02_available; then
    kill "$B_PID"
    wait "$B_PID" 2>/dev/null || true
    REF_START=$(date +%s.%N)
    ref02_node sync --consensus raft --peers "ws://127.0.0.1:$A_P2P"
    REF_SECS=$(wait_for_tip "0.2" "$REF_API" "$REF_PID" "$BLOCKS" "$A_TIP" "$REF_START" "$REF02_WORK/sync.log")
    REF_SECS=${REF_SECS%% *}
    REF_HWM_KB=$(awk '/^VmHWM:/ {print $2}' "/proc/$REF_PID/status")
    echo "MiniLedger 0.2 reached A's tip in $REF_SECS s (from its start, node startup included);" \
        "peak RSS $((REF_HWM_KB / 1024)) MB"
    ratio_line "sync txs per second" "$(python3 -c "print(round($BLOCKS * $TXS_PER_BLOCK / $SYNC_SECS))")" \
        "$(python3 -c "print(round($BLOCKS * $TXS_PER_BLOCK / $REF_SECS))")"
fi
