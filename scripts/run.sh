#!/usr/bin/env bash
# Builds everything (native node, the browser light node and its page) and runs it: with no
# arguments the three-validator demo (`miniledger demo`: open the printed address), otherwise
# `miniledger <arguments>` (e.g. `scripts/run.sh start --data-dir d1`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/web-setup.sh
cargo build --release -p miniledger-native
scripts/web-build.sh
if [[ $# -eq 0 ]]; then
  set -- demo
fi
exec "${CARGO_TARGET_DIR:-target}/release/miniledger" "$@"
