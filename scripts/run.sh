#!/usr/bin/env bash
# Builds everything (native node, core for wasm32) and starts a node. Arguments go to
# `miniledger start`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release -p miniledger-native
cargo build --release -p miniledger-core --target wasm32-unknown-unknown
exec target/release/miniledger "$@"
