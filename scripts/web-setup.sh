#!/usr/bin/env bash
# Installs what the browser light node needs to build and test, skipping what is present
# (idempotent): the wasm32 target, the wasm-bindgen CLI matching Cargo.lock, Chromium,
# chromedriver and openssl (apt), and the npm dependencies of tests/browser, web/npm and the
# examples (web/examples/node: typescript for the type check; web/examples/vite: vite).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

# The CLI must match the wasm-bindgen crate in Cargo.lock exactly (the glue format changes).
want=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/[^0-9.]/, ""); print; exit}' Cargo.lock)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [[ "$have" != "$want" ]]; then
  # Without --locked: the CLI's own lock file pins a crate this registry does not serve.
  cargo install wasm-bindgen-cli --version "$want"
fi

# openssl: the TLS end-to-end test makes its self-signed certificate with it.
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null || ! command -v openssl >/dev/null; then
  if [[ $(id -u) -eq 0 ]]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver openssl
fi

for dir in web/npm tests/browser web/examples/node web/examples/vite; do
  if [[ -f "$dir/package-lock.json" ]]; then
    # Skip when node_modules is newer than the lock file (npm ci wipes and reinstalls).
    if [[ ! -d "$dir/node_modules" || "$dir/package-lock.json" -nt "$dir/node_modules" ]]; then
      (cd "$dir" && npm ci --no-audit --no-fund)
    fi
  fi
done
