#!/usr/bin/env bash
# The browser light node's tests: wasm-bindgen-test in headless Chromium (conformance chain and
# tampered variants verified by the wasm build of core), then the Playwright end-to-end tests
# against real `miniledger` processes serving the page (tests/browser).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/web-setup.sh

# Chromium writes under the home directory; keep that in a temp dir (HOME itself must stay:
# rustup needs it).
XDG=$(mktemp -d "${TMPDIR:-/tmp}/web-test-xdg.XXXXXX")
trap 'rm -rf "$XDG"' EXIT
export XDG_CONFIG_HOME=$XDG/config XDG_CACHE_HOME=$XDG/cache
mkdir -p "$XDG_CONFIG_HOME" "$XDG_CACHE_HOME"

CHROMEDRIVER=/usr/bin/chromedriver \
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
    cargo test -p miniledger-web --target wasm32-unknown-unknown

scripts/web-build.sh
cargo build -p miniledger-native --bin miniledger
(cd tests/browser && node --test --test-concurrency=1 e2e.test.js explorer.test.js node_package.test.js dashboard02.test.js)
echo "web tests passed"
