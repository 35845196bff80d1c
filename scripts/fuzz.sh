#!/usr/bin/env bash
# Fuzzes every cargo-fuzz target (fuzz/fuzz_targets) for a bounded time, one after another,
# one process each, then minimizes each kept corpus (fuzz/corpus/<target>, committed) and
# prints a summary. Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] (default 60).
#   FUZZ_TARGETS="raft_step tx_validate"  only these targets
#   FUZZ_TOOLCHAIN=stable|nightly         default: nightly if installed, else stable with
#                                         RUSTC_BOOTSTRAP=1 (cargo-fuzz needs -Z flags)
#   FUZZ_SANITIZER=none|address           default none: core is safe Rust, so the findings are
#                                         panics, overflows (debug assertions are on), OOMs and
#                                         timeouts; "address" needs nightly's sanitizer runtime
# A crash leaves its input in fuzz/artifacts/<target>/ and makes the script exit 1 (as long as
# it stays there): fix it, then move the input to fuzz/regressions/<target>/
# (core/tests/fuzz_corpus.rs replays those).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
targets="${FUZZ_TARGETS:-envelope_decode tx_validate block_validate raft_step canonical_json peer_frames}"
sanitizer="${FUZZ_SANITIZER:-none}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz" >&2
    cargo install cargo-fuzz
fi
toolchain="${FUZZ_TOOLCHAIN:-}"
if [ -z "$toolchain" ]; then
    if rustup run nightly rustc --version >/dev/null 2>&1; then toolchain=nightly; else toolchain=stable; fi
fi
if [ "$toolchain" != nightly ]; then
    # Stable accepts the -Z flags cargo-fuzz passes when told it is bootstrapping itself.
    export RUSTC_BOOTSTRAP=1
fi
fuzz=(cargo "+$toolchain" fuzz)

# Seeds from the conformance vectors (regenerated; not committed: the corpus carries on).
if command -v python3 >/dev/null; then python3 fuzz/seed_corpus.py; fi

mkdir -p fuzz/target
summary="fuzz/target/summary.txt"
printf '%-16s %10s %8s %8s %8s %8s\n' target runs exec/s corpus kept crashes > "$summary"
failed=0
for t in $targets; do
    corpus="fuzz/corpus/$t"
    mkdir -p "$corpus" "fuzz/seeds/$t"
    before=$(find "$corpus" -type f | wc -l)
    log="fuzz/target/fuzz-$t.log"
    status=0
    # The JSON targets get JSON tokens and the protocol's names; the others read choices.
    case "$t" in
        raft_step | peer_frames) dict=() ;;
        *) dict=(-dict=fuzz/json.dict) ;;
    esac
    # New inputs go to the first directory (the kept corpus); the seeds are read only.
    "${fuzz[@]}" run --sanitizer "$sanitizer" "$t" "$corpus" "fuzz/seeds/$t" -- \
        -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 -timeout=20 \
        ${dict[@]+"${dict[@]}"} >"$log" 2>&1 || status=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    grown=$(find "$corpus" -type f | wc -l)
    # Keep only inputs that add coverage.
    "${fuzz[@]}" cmin --sanitizer "$sanitizer" "$t" "$corpus" >"fuzz/target/cmin-$t.log" 2>&1 ||
        echo "cmin $t failed (see fuzz/target/cmin-$t.log)" >&2
    kept=$(find "$corpus" -type f | wc -l)
    crashes=$(find "fuzz/artifacts/$t" -type f 2>/dev/null | wc -l)
    if [ "$status" -ne 0 ] || [ "$crashes" -ne 0 ]; then
        failed=1
        echo "$t: exit $status, see $log and fuzz/artifacts/$t/" >&2
        tail -40 "$log" >&2
    fi
    printf '%-16s %10s %8s %8s %8s %8s\n' "$t" "${runs:-?}" "${rate:-?}" \
        "$before>$grown" "$kept" "$crashes" >> "$summary"
done
echo "fuzz: ${seconds}s per target, $toolchain toolchain, sanitizer $sanitizer"
cat "$summary"
du -sh fuzz/corpus
exit "$failed"
