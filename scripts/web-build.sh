#!/usr/bin/env bash
# Builds the browser light node: miniledger-web for wasm32 in the size-optimised `wasm-release`
# profile (curve and hash crates at opt-level 3), wasm-bindgen --target web into the npm package
# (web/npm/wasm/), wasm-opt (binaryen from npm), and a copy of the package into www/pkg/ so every
# full node serves it next to the page.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build -p miniledger-web --target wasm32-unknown-unknown --profile wasm-release
OUT=web/npm/wasm
rm -rf "$OUT"
wasm-bindgen --target web --no-typescript --out-dir "$OUT" --out-name miniledger_web \
    "${CARGO_TARGET_DIR:-target}/wasm32-unknown-unknown/wasm-release/miniledger_web.wasm"

WASM_OPT=web/npm/node_modules/.bin/wasm-opt
if [[ ! -x "$WASM_OPT" ]]; then
    (cd web/npm && npm ci --no-audit --no-fund)
fi
# -O3: the verifier's speed matters more than the last few KB (see BENCHMARKS.md).
"$WASM_OPT" -O3 --strip-debug --strip-producers --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals "$OUT/miniledger_web_bg.wasm" -o "$OUT/miniledger_web_bg.wasm"

rm -rf www/pkg
mkdir -p www/pkg/wasm
cp web/npm/index.js web/npm/host.js web/npm/worker.js web/npm/index.d.ts www/pkg/
cp "$OUT"/miniledger_web.js "$OUT"/miniledger_web_bg.wasm www/pkg/wasm/

raw=$(stat -c %s "$OUT/miniledger_web_bg.wasm")
gz=$(gzip -9 -c "$OUT/miniledger_web_bg.wasm" | wc -c)
echo "wasm: $raw bytes, $gz gzipped (gzip -9)" >&2
# The page's budget (issue 16): the light node stays small enough to load on a phone.
if (( gz > 250000 )); then
    echo "wasm is $gz bytes gzipped: over the 250,000-byte budget (BENCHMARKS.md, \"Wasm size\")" >&2
    exit 1
fi
