#!/usr/bin/env bash
# The nemesis (native/tests/nemesis.rs): three validator processes, each in its own network
# namespace, under ROUNDS seeded fault windows (SEED; FAULTS a comma list of majority,
# isolate-leader, bridge, one-way, loss, delay, pause, kill, clock; all by default) while clients write
# and read through every node. Ends with the line `N ops, K anomalies, L lost`. Needs root, `ip`
# and `iptables` (installed here when missing). WINDOW_MS sets each fault window (default 4000).
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export NEMESIS_ROUNDS="${ROUNDS:-8}" NEMESIS_SEED="${SEED:-1}" NEMESIS_FAULTS="${FAULTS:-}"
export NEMESIS_WINDOW_MS="${WINDOW_MS:-4000}"
log=target/nemesis.log
cargo test -q -p miniledger-native --test nemesis -- --exact nemesis --nocapture >"$log" 2>&1
status=$?
out=$(cat "$log")
summary='^[0-9]+ ops, [0-9]+ anomalies, [0-9]+ lost$'
grep -E '^(nemesis|SKIP)|panicked|assert' <<<"$out"
line=$(grep -E "$summary" <<<"$out" | tail -1)
[[ $status != 0 ]] && echo "full output (node logs, the first failing key's history): $log"
echo "${line:-? ops, ? anomalies, ? lost (the nemesis did not finish: see above)}"
exit $status
