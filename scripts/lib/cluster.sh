# Real-process clusters for the bench scripts (sourced, not run): fresh release validators on
# loopback, one solo node or N Raft validators that know each other, torn down on exit.
#
#   source scripts/lib/cluster.sh
#   cluster_start "$BIN" 3        # sets APIS (one URL per node), P2PS (ws:// addresses), PIDS,
#                                 # LEADER_API, CLUSTER_WORK
#   ... "$EXAMPLES/load" --api "$LEADER_API" ...
#   cluster_cpu_times             # CPU time each node used so far

source "$(dirname "${BASH_SOURCE[0]}")/util.sh"

CLUSTER_WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-cluster.XXXXXX")
PIDS=()
APIS=()
P2PS=()
LEADER_API=

cluster_stop() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$CLUSTER_WORK"
}
trap cluster_stop EXIT

# cluster_start BIN N: N = 1 starts a solo validator, N > 1 a Raft cluster of N validators.
cluster_start() {
    local bin=$1 n=$2 i j ports keys=() p2ps=()
    read -r -a ports < <(free_ports $((2 * n)))
    for ((i = 0; i < n; i++)); do
        p2ps+=("${ports[$i]}")
        APIS+=("http://127.0.0.1:${ports[$((n + i))]}")
        P2PS+=("ws://127.0.0.1:${ports[$i]}")
    done
    local consensus=()
    if ((n > 1)); then
        for ((i = 0; i < n; i++)); do
            "$bin" init --data-dir "$CLUSTER_WORK/n$i" >/dev/null
            keys+=("$("$bin" keys show --data-dir "$CLUSTER_WORK/n$i" | json_field publicKey)")
        done
        consensus=(--consensus raft --validators "$(IFS=,; echo "${keys[*]}")")
    fi
    for ((i = 0; i < n; i++)); do
        local peers=()
        for ((j = 0; j < n; j++)); do ((j != i)) && peers+=("ws://127.0.0.1:${p2ps[$j]}"); done
        local peer_args=()
        ((n > 1)) && peer_args=(--peers "$(IFS=,; echo "${peers[*]}")")
        RUST_LOG=${RUST_LOG:-warn} "$bin" start --data-dir "$CLUSTER_WORK/n$i" \
            --listen-address 127.0.0.1 --p2p-port "${p2ps[$i]}" \
            --api-port "${APIS[$i]##*:}" "${consensus[@]}" "${peer_args[@]}" \
            </dev/null >/dev/null 2>"$CLUSTER_WORK/n$i.log" &
        PIDS+=($!)
    done
    local tries
    for ((tries = 0; tries < 400; tries++)); do
        for ((i = 0; i < n; i++)); do
            if ((n == 1)); then
                curl -sf "${APIS[0]}/status" >/dev/null && LEADER_API=${APIS[0]}
            elif [[ $(curl -sf "${APIS[$i]}/consensus" | json_field role 2>/dev/null) == leader ]]; then
                LEADER_API=${APIS[$i]}
            fi
        done
        [[ -n "$LEADER_API" ]] && return 0
        sleep 0.05
    done
    echo "no leader elected (logs in $CLUSTER_WORK)" >&2
    return 1
}

# The data directory of the node serving LEADER_API (for CLI commands that sign as it).
leader_data_dir() {
    local i
    for i in "${!APIS[@]}"; do
        [[ "${APIS[$i]}" == "$LEADER_API" ]] && echo "$CLUSTER_WORK/n$i"
    done
}

# Waits until every node reports the same height and tip hash; prints how many distinct tips.
cluster_converge() {
    local tips=0
    for _ in $(seq 100); do
        tips=$(for api in "${APIS[@]}"; do
            curl -sf "$api/status" | python3 -c 'import json,sys; s=json.load(sys.stdin); print(s["height"], s["tipHash"])'
        done | sort -u | wc -l)
        [[ "$tips" == 1 ]] && break
        sleep 0.05
    done
    echo "$tips"
}

# CPU seconds (user + system) all nodes have used so far, on one line.
cluster_cpu_seconds() {
    local pid
    for pid in "${PIDS[@]}"; do cat "/proc/$pid/stat"; done |
        awk -v hz="$(getconf CLK_TCK)" '{t += $14 + $15} END {printf "%.2f\n", t / hz}'
}

cluster_cpu_times() {
    local i
    for i in "${!PIDS[@]}"; do
        awk -v hz="$(getconf CLK_TCK)" -v n="$i" \
            '{printf "node %s CPU time: user %.1f s, system %.1f s\n", n, $14 / hz, $15 / hz}' \
            "/proc/${PIDS[$i]}/stat"
    done
}
