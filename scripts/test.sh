#!/usr/bin/env bash
# Every test: formatting, lints, all crates' tests, and core's wasm32 build.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
# Core must stay sans-IO and browser-capable.
cargo build -p miniledger-core --target wasm32-unknown-unknown
echo "all tests passed"
