#!/usr/bin/env bash
# Builds everything (native node, the browser light node and its page) and starts a node.
# Arguments go to `miniledger start`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/web-setup.sh
cargo build --release -p miniledger-native
scripts/web-build.sh
exec target/release/miniledger "$@"
