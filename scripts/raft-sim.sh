#!/usr/bin/env bash
# Runs the seeded Raft simulator (core/tests/raft_sim.rs) over N seeds in release mode
# (default 10,000) and prints the result with seeds per second. Any failing seed is reported
# with the one-line command that replays it. RAFT_SIM_THREADS sets the parallelism.
set -euo pipefail
cd "$(dirname "$0")/.."
seeds="${1:-10000}"
RAFT_SIM_SEEDS="$seeds" cargo test --release -p miniledger-core --test raft_sim -- --nocapture
