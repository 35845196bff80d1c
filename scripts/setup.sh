#!/usr/bin/env bash
# Installs what the build and tests need, skipping what is already present (idempotent).
set -euo pipefail
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi
