# MiniLedger 0.2 (the TypeScript reference) beside ours in the bench scripts (sourced after
# cluster.sh, not run). The reference's source is `../shared/reference` (or
# $MINILEDGER_SHARED_DIR/reference, as for the tests); it is built once into
# ${REF02_DIR:-$HOME/.cache/miniledger-ref02}. A clean clone has no ../shared: the comparison is
# then skipped with a message, and the script's own half still runs and succeeds.
#
#   REF02=0 skips the comparison; by default it runs whenever the reference can be had.
#
#   source scripts/lib/reference.sh
#   ref02_available || exit 0       # sets REF02_CLI, or says why not
#   ref02_start 3                   # sets REF_APIS, REF_PIDS, REF_LEADER_API (N = 1: solo)
#   ref02_node NAME ARGS...         # one more 0.2 node (start ARGS); sets REF_API, REF_PID
#
# 0.2 only takes `{key, value}` its node signs (no pre-signed transactions, no `POST /txs`, no
# `?wait=commit`): the comparisons run `load --payload node-set` against both.

source "$(dirname "${BASH_SOURCE[0]}")/util.sh"

REF02_CLI=
REF02_WORK=
REF_PIDS=()
REF_APIS=()
REF_LEADER_API=

# Succeeds (REF02_CLI set) when the comparison is to run; otherwise prints why it does not.
ref02_available() {
    local shared=${MINILEDGER_SHARED_DIR:-../shared}
    local build=$shared/reference/build.sh dir=${REF02_DIR:-$HOME/.cache/miniledger-ref02}
    if [[ ${REF02:-} == 0 ]]; then
        echo "MiniLedger 0.2 comparison skipped (REF02=0)"
        return 1
    fi
    if [[ ! -f $build ]]; then
        echo "MiniLedger 0.2 comparison skipped: $build is absent (a clean clone has no ../shared)"
        return 1
    fi
    local program
    for program in node npm; do
        if ! command -v "$program" >/dev/null; then
            echo "MiniLedger 0.2 comparison skipped: \`$program\` is not installed"
            return 1
        fi
    done
    if ! bash "$build" "$dir" >&2; then
        echo "MiniLedger 0.2 comparison skipped: $build $dir failed"
        return 1
    fi
    REF02_CLI=$dir/dist/bin/miniledger.cjs
    REF02_WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-ref02.XXXXXX")
    ref02_chain_exit_trap
}

ref02_stop() {
    local pid
    for pid in "${REF_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${REF_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [[ -n $REF02_WORK ]]; then rm -rf "$REF02_WORK"; fi
}

# Runs ref02_stop on exit before whatever EXIT trap the script already set (cluster.sh's).
ref02_chain_exit_trap() {
    local previous
    previous=$(trap -p EXIT)
    previous=${previous#trap -- \'}
    previous=${previous%\' EXIT}
    # shellcheck disable=SC2064 # the previous trap is expanded now, on purpose
    trap "ref02_stop${previous:+; $previous}" EXIT
}

# ref02_node NAME [start arguments...]: init a 0.2 data dir (listening on loopback only) and
# start it on free ports, its log in $REF02_WORK/NAME.log; waits until its API answers.
# Sets REF_API, REF_P2P and REF_PID. Needs ref02_available first.
ref02_node() {
    local name=$1 dir=$REF02_WORK/$1 p2p api
    shift
    read -r p2p api < <(free_ports 2)
    node "$REF02_CLI" init -d "$dir" -n "$name" >/dev/null
    python3 - "$dir/miniledger.json" <<'PY'
import json, os, sys
path = sys.argv[1]
config = json.load(open(path)) if os.path.exists(path) else {}
config.setdefault("network", {})["listenAddress"] = "127.0.0.1"
json.dump(config, open(path, "w"))
PY
    node "$REF02_CLI" start -d "$dir" --p2p-port "$p2p" --api-port "$api" "$@" \
        </dev/null >"$REF02_WORK/$name.log" 2>&1 &
    REF_PID=$!
    REF_PIDS+=("$REF_PID")
    REF_API=http://127.0.0.1:$api
    REF_P2P=ws://127.0.0.1:$p2p
    ref02_wait "0.2 node $name: API up" curl -sf "$REF_API/status" -o /dev/null
}

# ref02_wait WHAT COMMAND...: retries COMMAND for up to 60 s; fails naming WHAT.
ref02_wait() {
    local what=$1 tries
    shift
    for ((tries = 0; tries < 1200; tries++)); do
        "$@" 2>/dev/null && return 0
        sleep 0.05
    done
    echo "timed out: $what (logs in $REF02_WORK)" >&2
    return 1
}

ref02_consensus_field() { # API FIELD: a field of 0.2's Raft state
    curl -sf "$1/consensus" | python3 -c \
        'import json,sys; print((json.load(sys.stdin)["state"] or {}).get(sys.argv[1]))' "$2"
}

# ref02_start N: N = 1 starts a solo 0.2 node (no P2P), N > 1 a 0.2 Raft cluster. 0.2 counts
# every connected node as a voter, so the first is left to elect itself, then the others dial
# every node before them and follow it.
ref02_start() {
    local n=$1 i peers=()
    if ((n == 1)); then
        ref02_node n0
        REF_APIS=("$REF_API")
        REF_LEADER_API=$REF_API
        return 0
    fi
    for ((i = 0; i < n; i++)); do
        ref02_node "n$i" --consensus raft ${peers[0]:+--peers "$(IFS=,; echo "${peers[*]}")"}
        REF_APIS+=("$REF_API")
        peers+=("$REF_P2P")
        if ((i == 0)); then
            ref02_wait "0.2 n0 leads" ref02_is_leader "$REF_API"
        fi
    done
    REF_LEADER_API=${REF_APIS[0]}
    local leader_id
    leader_id=$(ref02_consensus_field "$REF_LEADER_API" leaderId)
    for ((i = 1; i < n; i++)); do
        ref02_wait "0.2 n$i follows n0" ref02_follows "${REF_APIS[$i]}" "$leader_id"
    done
}

ref02_is_leader() { [[ $(ref02_consensus_field "$1" role) == leader ]]; }
ref02_follows() { [[ $(ref02_consensus_field "$1" leaderId) == "$2" ]]; }

# The chain height at API $1 (0.2's field name; ours answers it too).
chain_height() { curl -sf "$1/status" | json_field chainHeight; }

# ratio_line WHAT OURS THEIRS: "ratio ours/0.2 WHAT: R (OURS / THEIRS)".
ratio_line() {
    python3 -c 'import sys; w, a, b = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]); print(f"ratio ours/0.2 {w}: {a / b:.3g} ({a:g} / {b:g})")' "$1" "$2" "$3"
}

# node_set_load OUT API TXS [load arguments...]: the node-signed workload against API: TXS
# transactions at saturation (OUT.load), then, if REF_RATE > 0, REF_RATE_TXS at REF_RATE tx/s
# (OUT.latency). Needs EXAMPLES (the load client) and SENDERS.
node_set_load() {
    local out=$1 api=$2 txs=$3
    shift 3
    local before
    before=$(chain_height "$api")
    "$EXAMPLES/load" --api "$api" --payload node-set --txs "$txs" --senders "$SENDERS" \
        --clients "${REF_CLIENTS:-8}" --seed 3 "$@" | tee "$out.load"
    echo "$(figure "$out.load" txs) txs in $(($(chain_height "$api") - before)) blocks"
    if ((${REF_RATE:-0} > 0)); then
        "$EXAMPLES/load" --api "$api" --payload node-set --txs "$REF_RATE_TXS" --senders "$SENDERS" \
            --clients "${REF_RATE_CLIENTS:-16}" --seed 4 --rate "$REF_RATE" "$@" | tee "$out.latency"
    fi
}

# ref02_compare N: after the script's own half, with our N validators still up (LEADER_API):
# the node-signed workload against ours (NODE_SET_TXS transactions, signed with the leader's
# operator token), our cluster stopped, then against a fresh 0.2 cluster of N (REF_TXS, fewer:
# 0.2 seals at most 500 a second), and the ratios ours/0.2. Returns 0 when 0.2 is not to be had.
ref02_compare() {
    local n=$1
    ref02_available || return 0
    echo "== MiniLedger 0.2 side by side: {key, value} signed by the node, the only submission 0.2 takes"
    echo "-- ours ($n validator(s)): --txs $NODE_SET_TXS"
    node_set_load "$REF02_WORK/ours" "$LEADER_API" "$NODE_SET_TXS" \
        --token-file "$(leader_data_dir)/operator.token"
    cluster_stop # 0.2 gets the cores to itself
    PIDS=()
    ref02_start "$n"
    echo "-- MiniLedger 0.2 ($n validator(s)): --txs $REF_TXS (fewer: 0.2 seals at most 500 a second)"
    node_set_load "$REF02_WORK/ref" "$REF_LEADER_API" "$REF_TXS"
    ratio_line "committed per second" "$(figure "$REF02_WORK/ours.load" committed_per_sec)" \
        "$(figure "$REF02_WORK/ref.load" committed_per_sec)"
    if ((${REF_RATE:-0} > 0)); then
        local p
        for p in p50 p99; do
            ratio_line "latency $p at $REF_RATE tx/s (ms; lower is better)" \
                "$(figure "$REF02_WORK/ours.latency" "latency_${p}_ms")" \
                "$(figure "$REF02_WORK/ref.latency" "latency_${p}_ms")"
        done
    fi
}
