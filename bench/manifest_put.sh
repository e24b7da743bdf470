#!/usr/bin/env bash
# Mount + manifest PUT throughput with 8 clients, on the disk (fsyncs are the cost): swregistry vs Debian's
# docker-registry (distribution 2.8), and optionally an earlier swregistry binary, side by side in one run.
# See BENCHMARKS.md for the figures.
#
#   bash bench/manifest_put.sh
#   BENCH_BEFORE_BIN=/path/to/old/swregistry bash bench/manifest_put.sh   # also an earlier build (before/after)
#   BENCH_PUT_SECONDS=20 BENCH_PUT_ROUNDS=5 bash bench/manifest_put.sh
#   BENCH_PUT_STRACE=0 bash bench/manifest_put.sh                         # skip the syscall counts
#
# Each pair (bench/manifest_put.py): mount a 1 KiB blob into a new repository, then PUT a manifest naming it, unique
# to the pair, tagged. Rounds alternate the registries; the table gives the median round. The syscall counts come
# from `strace -c -f` on each server during a separate run of 8 x 25 pairs (strace slows the server: counts only).
# The stores live in BENCH_PUT_DIR (default /var/tmp: this machine's disk, not tmpfs).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

SECONDS_PER_ROUND=${BENCH_PUT_SECONDS:-10}
ROUNDS=${BENCH_PUT_ROUNDS:-3}
CLIENTS=${BENCH_PUT_CLIENTS:-8}
STRACE=${BENCH_PUT_STRACE:-1}
WORK=${BENCH_PUT_DIR:-/var/tmp/swr-put-bench}
DREG=$(docker_registry_bin)
[[ $STRACE == 1 ]] && ! command -v strace >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq strace >&2

SWREGISTRY_BIN=$(swregistry_bin .build-bench)

PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    [[ -n ${BENCH_KEEP_TMP:-} ]] || rm -rf "$WORK"
}
trap cleanup EXIT
rm -rf "$WORK"
mkdir -p "$WORK"

declare -A PORT PID
start_swregistry() { # name binary
    local port
    port=$(free_ports)
    mkdir -p "$WORK/$1"
    "$2" serve --address "127.0.0.1:$port" --storage "$WORK/$1" --log-level warning >"$WORK/$1.log" 2>&1 &
    PID[$1]=$!
    PIDS+=("${PID[$1]}")
    PORT[$1]=$port
    wait_ready "$1" "${PID[$1]}" "http://127.0.0.1:$port/v2/" "$WORK/$1.log"
}

REGISTRIES=(swregistry)
start_swregistry swregistry "$SWREGISTRY_BIN"
if [[ -n ${BENCH_BEFORE_BIN:-} ]]; then
    REGISTRIES+=(swregistry-before)
    start_swregistry swregistry-before "$BENCH_BEFORE_BIN"
fi
REGISTRIES+=(docker-registry)
PORT[docker-registry]=$(free_ports)
mkdir -p "$WORK/docker-registry"
docker_registry_config "$WORK/docker-registry" "${PORT[docker-registry]}" > "$WORK/docker-registry.yml"
"$DREG" serve "$WORK/docker-registry.yml" >"$WORK/docker-registry.log" 2>&1 &
PID[docker-registry]=$!
PIDS+=("${PID[docker-registry]}")
wait_ready docker-registry "${PID[docker-registry]}" "http://127.0.0.1:${PORT[docker-registry]}/v2/" "$WORK/docker-registry.log"

declare -A RATES
for ((round = 1; round <= ROUNDS; round++)); do
    order=("${REGISTRIES[@]}")
    (( round % 2 == 0 )) && order=($(printf '%s\n' "${REGISTRIES[@]}" | tac))
    for registry in "${order[@]}"; do
        log "round $round: $registry"
        out=$(python3 bench/manifest_put.py "${PORT[$registry]}" --clients "$CLIENTS" --seconds "$SECONDS_PER_ROUND" \
            --prefix "r$round") || die "$registry: $out"
        RATES[$registry]+="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["pairs_per_second"])' "$out") "
    done
done

declare -A SYSCALLS
if [[ $STRACE == 1 ]]; then
    for registry in "${REGISTRIES[@]}"; do
        log "syscall counts: $registry"
        strace -c -f -e trace=fsync,fdatasync,syncfs,openat,rename,renameat,renameat2,mkdir,mkdirat \
            -o "$WORK/strace-$registry.txt" -p "${PID[$registry]}" 2>/dev/null &
        STRACE_PID=$!
        sleep 1
        python3 bench/manifest_put.py "${PORT[$registry]}" --clients "$CLIENTS" --count 25 --prefix strace >/dev/null \
            || die "$registry: strace run failed"
        kill -INT "$STRACE_PID"
        wait "$STRACE_PID" || true
        # The setup's blob upload (one session) is counted too; per pair it is negligible at 200 pairs.
        SYSCALLS[$registry]=$(awk -v pairs=$((CLIENTS * 25)) '
            $NF ~ /^(fsync|fdatasync|syncfs|openat|rename|renameat|renameat2|mkdir|mkdirat)$/ {
                calls = ($4 ~ /^[0-9]+$/) ? $4 : $3; n[$NF] += calls }
            END { printf "fsync %.1f, syncfs %.1f, openat %.1f, rename %.1f, mkdir %.1f",
                  (n["fsync"] + n["fdatasync"]) / pairs, n["syncfs"] / pairs, n["openat"] / pairs,
                  (n["rename"] + n["renameat"] + n["renameat2"]) / pairs, (n["mkdir"] + n["mkdirat"]) / pairs }' \
            "$WORK/strace-$registry.txt")
    done
fi

median() { printf '%s\n' $1 | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo "## Mount + manifest PUT, $CLIENTS clients ($(date -u +%Y-%m-%d), $(nproc) cores, $(uname -r), $(df --output=fstype "$WORK" | tail -1) on $(df --output=source "$WORK" | tail -1), load at end $(cut -d' ' -f1-3 /proc/loadavg))"
echo
echo "Pairs per second, median of $ROUNDS rounds of ${SECONDS_PER_ROUND}s (each round's figure in brackets); syscalls per pair from strace."
echo
echo "| registry | pairs/s | rounds | syscalls per pair |"
echo "|---|---|---|---|"
for registry in "${REGISTRIES[@]}"; do
    echo "| $registry | $(median "${RATES[$registry]}") | ${RATES[$registry]% } | ${SYSCALLS[$registry]:--} |"
done
