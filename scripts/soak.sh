#!/usr/bin/env bash
# Soak: 3 Raft validators under steady load for DURATION seconds (default 1800 = 30 min), the
# leader killed -9 and restarted every KILL_EVERY seconds (default 60); samples RSS, open fds and
# peers per node every SAMPLE_EVERY seconds and prints a report (native/tests/soak.rs).
#   DURATION=120 scripts/soak.sh       # a 2-minute trial
set -euo pipefail
cd "$(dirname "$0")/.."
export DURATION="${DURATION:-1800}" KILL_EVERY="${KILL_EVERY:-60}" SAMPLE_EVERY="${SAMPLE_EVERY:-5}"
echo "soak: DURATION=${DURATION}s KILL_EVERY=${KILL_EVERY}s SAMPLE_EVERY=${SAMPLE_EVERY}s (release build)"
exec cargo test --release -p miniledger-native --test soak -- --ignored --nocapture --test-threads=1
