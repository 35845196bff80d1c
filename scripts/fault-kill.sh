#!/usr/bin/env bash
# Repeated kill -9 of a seeded-random validator (leader or follower) at seeded-random moments of
# a loaded 3-validator Raft cluster, then the fault checker (native/tests/fault_kill.rs).
#   ROUNDS=50 SEED=7 scripts/fault-kill.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export ROUNDS="${ROUNDS:-50}" SEED="${SEED:-1}"
echo "fault-kill: ROUNDS=$ROUNDS SEED=$SEED (release build)"
log=$(mktemp)
status=0
cargo test --release -p miniledger-native --test fault_kill -- --nocapture --test-threads=1 \
  > "$log" 2>&1 || status=$?
grep -E '^(round |acknowledged|lost |FAULT-KILL SUMMARY|thread .* panicked)' "$log" || true
[ "$status" -eq 0 ] || { echo "FAILED (full log: $log)"; exit "$status"; }
rm -f "$log"
