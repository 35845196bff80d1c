#!/usr/bin/env bash
# Runs core's criterion benchmarks and prints the ratios BENCHMARKS.md records. Every figure
# comes from the same run, so the ratios hold on a noisy shared machine.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench -p miniledger-core --bench core -- --warm-up-time 1 --measurement-time "${BENCH_SECONDS:-5}" >&2
python3 - <<'PY'
import json, pathlib
root = pathlib.Path("target/criterion")
def ns(name):
    return json.loads((root / name / "new" / "estimates.json").read_text())["mean"]["point_estimate"]
verify = ns("verify_single_raw")
print(f"| one plain verification (ed25519-dalek verify_strict) | {verify/1000:.1f} µs | 1 |")
print(f"| one strict verification from hex (ours) | {ns('verify_single_strict_hex')/1000:.1f} µs | {ns('verify_single_strict_hex')/verify:.3f} |")
t = ns("tx_canonical_hash")
print(f"| canonical JSON + SHA-256 of a typical tx | {t:.0f} ns | {t/verify:.4f} (goal ≤ 0.05) |")
for senders in (500, 20):
    for kind in ("verify_block", "chain_apply"):
        b = ns(f"block500/{kind}_{senders}_senders")
        print(f"| {kind} of a 500-tx block, {senders} senders | {b/1e6:.2f} ms | {b/(500*verify):.3f} of 500 verifies (goal ≤ 0.7) |")
PY
