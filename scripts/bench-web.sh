#!/usr/bin/env bash
# Browser light-node benchmark: builds the wasm and the release node and fixture tools, then runs
# tests/browser/bench.js (a fixture chain served by a real node, synced by the page in headless
# Chromium). BLOCKS, TXS_PER_BLOCK, SENDERS size the chain (default 200 × 500 = 100,000 txs).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/web-setup.sh
scripts/web-build.sh
cargo build --release -p miniledger-native --bin miniledger --example make_chain --example verify_rate
RELEASE=$(realpath "${CARGO_TARGET_DIR:-target}")/release
(cd tests/browser && MINILEDGER_BIN=$RELEASE/miniledger node bench.js)
