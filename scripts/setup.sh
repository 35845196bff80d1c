#!/usr/bin/env bash
# Installs what the build and tests need, skipping what is already present (idempotent).
set -euo pipefail
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi
# The nemesis (native/tests/nemesis.rs) filters packets between network namespaces; as root
# with apt, install iptables when missing (the test skips, saying why, without it).
if ! command -v iptables >/dev/null && [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
  apt-get install -y -qq iptables >/dev/null 2>&1 || apt-get update -qq && apt-get install -y -qq iptables >/dev/null
fi
