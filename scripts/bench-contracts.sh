#!/usr/bin/env bash
# Per-invocation cost of the contract runtime (core bench `contracts`), in µs, and the heap a
# cached module holds (core bench `contract_memory`), as BENCHMARKS.md records them.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench -p miniledger-core --bench contracts -- --warm-up-time 1 --measurement-time "${BENCH_SECONDS:-5}" >&2
cargo bench -p miniledger-core --bench contract_memory
python3 - <<'PY'
import json, os, pathlib
root = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", "target")) / "criterion"
for name, what in [("token_transfer", "token `transfer` (cached module)"),
                   ("empty_method", "empty method (cached module)"),
                   ("token_deploy_compile", "token redeploy (module cached: metadata check + top-level run)"),
                   ("context_setup", "fresh runtime: context + prelude + one call")]:
    ns = json.loads((root / f"contract_{name}" / "new" / "estimates.json").read_text())["mean"]["point_estimate"]
    print(f"| {what} | {ns/1000:.1f} µs |")
PY
