#!/usr/bin/env bash
# Runs the whole-cluster simulator (core/tests/cluster_sim.rs) over the seeds FIRST ..
# FIRST+SEEDS-1 (defaults 1 and 200) and ends with the line `N seeds, K violations`. A failing
# seed prints its trace and the one command that replays it (`FIRST=<seed> SEEDS=1 $0`).
# PROFILE=release builds the simulator optimised (long runs); MUTATIONS=1 also runs the
# mutation checks (each bug put in by hand must be caught).
set -uo pipefail
cd "$(dirname "$0")/.."
export FIRST="${FIRST:-1}" SEEDS="${SEEDS:-200}"
profile=()
# Release: optimised, and without the contract engine (the simulator does not use it; Boa is
# most of an optimised build's time).
[[ "${PROFILE:-debug}" == release ]] &&
  profile=(--release --no-default-features --features precomputed-tables)
filter=every_seed_keeps_every_invariant
[[ "${MUTATIONS:-0}" == 1 ]] && filter=every_
out=$(cargo test -q -p miniledger-core "${profile[@]}" --test cluster_sim -- "$filter" --nocapture 2>&1)
status=$?
summary='^[0-9]+ seeds, [0-9]+ violations$'
grep -vE "$summary" <<<"$out"
line=$(grep -E "$summary" <<<"$out" | tail -1)
echo "${line:-$SEEDS seeds, ? violations (the simulator did not finish: see above)}"
exit $status
