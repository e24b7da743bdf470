#!/usr/bin/env bash
# Catalog and tag-list page latency (n=100) on a large store: swregistry's filesystem store vs Debian's
# docker-registry (distribution 2.8), side by side in one run. See BENCHMARKS.md for the figures.
#
#   bash bench/catalog.sh                                   # 100,000 repositories and 100,000 tags, flat and nested
#   BENCH_CATALOG_REPOS=20000 BENCH_CATALOG_TAGS=5000 bash bench/catalog.sh
#   SWREGISTRY_BIN=/path/to/swregistry bash bench/catalog.sh
#
# Two stores per registry: 100,000 repositories in one folder (`repo-000001`: the worst case, one listing of
# 100,000 names) and nested ones (`ns-0001/app-001`: 1,000 namespaces of 100); each also holds `big/tags` with
# 100,000 tags. The stores are written on tmpfs (/dev/shm) by bench/catalog.py: the figures are CPU and syscall
# costs. Each figure is the median of BENCH_CATALOG_REQUESTS sequential requests on one keep-alive connection, after
# three warm-up requests.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

REPOS=${BENCH_CATALOG_REPOS:-100000}
TAGS=${BENCH_CATALOG_TAGS:-100000}
REQUESTS=${BENCH_CATALOG_REQUESTS:-50}
WORK=${BENCH_CATALOG_DIR:-/dev/shm/swr-catalog-bench}
DREG=$(docker_registry_bin)
SWREGISTRY_BIN=$(swregistry_bin .build-bench)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    [[ -n ${BENCH_KEEP_TMP:-} ]] || rm -rf "$WORK"
}
trap cleanup EXIT

declare -A RESULT
for layout in flat nested; do
    flag=""
    [[ $layout == nested ]] && flag=--nested
    rm -rf "$WORK"
    mkdir -p "$WORK/sw" "$WORK/dr"
    log "writing the stores ($layout): $REPOS repositories, $TAGS tags"
    python3 bench/catalog.py write "$WORK/sw" "$WORK/dr" --repos "$REPOS" --tags "$TAGS" $flag >&2
    # swregistry keeps the sorted listing of a large folder only once it is at least a second old.
    sleep 2

    read -r SW_PORT DR_PORT < <(free_ports 2)
    "$SWREGISTRY_BIN" serve --address "127.0.0.1:$SW_PORT" --storage "$WORK/sw" --log-level warning \
        >"$WORK/swregistry.log" 2>&1 &
    SW_PID=$!
    PIDS+=("$SW_PID")
    docker_registry_config "$WORK/dr" "$DR_PORT" > "$WORK/docker-registry.yml"
    "$DREG" serve "$WORK/docker-registry.yml" >"$WORK/docker-registry.log" 2>&1 &
    DR_PID=$!
    PIDS+=("$DR_PID")
    wait_ready swregistry "$SW_PID" "http://127.0.0.1:$SW_PORT/v2/" "$WORK/swregistry.log"
    wait_ready docker-registry "$DR_PID" "http://127.0.0.1:$DR_PORT/v2/" "$WORK/docker-registry.log"

    for registry in swregistry docker-registry; do
        port=$SW_PORT
        [[ $registry == docker-registry ]] && port=$DR_PORT
        log "measuring $registry ($layout)"
        RESULT[$layout/$registry]=$(python3 bench/catalog.py measure "$port" --repos "$REPOS" --tags "$TAGS" \
            --requests "$REQUESTS" $flag)
    done
    stop_pid "$SW_PID" TERM 10
    stop_pid "$DR_PID" TERM 10
    PIDS=()
done

echo "## Catalog and tag-list pages ($(date -u +%Y-%m-%d), $(nproc) cores, $(uname -r), load at end $(cut -d' ' -f1-3 /proc/loadavg))"
echo
echo "$REPOS repositories (+1), $TAGS tags, median (p90) of $REQUESTS requests, ms; command: BENCH_CATALOG_REPOS=$REPOS BENCH_CATALOG_TAGS=$TAGS bash bench/catalog.sh"
echo
echo "| layout | page | swregistry | docker-registry | ratio (dr / sw) |"
echo "|---|---|---|---|---|"
for layout in flat nested; do
    python3 - "$layout" "${RESULT[$layout/swregistry]}" "${RESULT[$layout/docker-registry]}" <<'EOF'
import json, sys
layout, sw, dr = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
for case in sw:
    a, b = sw[case], dr[case]
    ratio = b["median_ms"] / a["median_ms"] if a["median_ms"] else float("inf")
    print(f"| {layout} | {case} | {a['median_ms']:.2f} ({a['p90_ms']:.2f}), {a['returned']} entries "
          f"| {b['median_ms']:.2f} ({b['p90_ms']:.2f}), {b['returned']} entries | {ratio:.1f}x |")
EOF
done
