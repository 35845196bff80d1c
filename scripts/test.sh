#!/usr/bin/env bash
# Every test: formatting, lints, all crates' tests, core's wasm32 build, and the browser light
# node (wasm-bindgen-test in headless Chromium, Playwright end to end; SKIP_WEB=1 skips these).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
# Core must stay sans-IO and browser-capable.
cargo build -p miniledger-core --target wasm32-unknown-unknown
cargo clippy -p miniledger-web --target wasm32-unknown-unknown --all-targets -- -D warnings
if [[ -z "${SKIP_WEB:-}" ]]; then
  scripts/web-test.sh
fi
echo "all tests passed"
