#!/usr/bin/env bash
# Access-log benchmark: swregistry answering a manifest GET with its access log on, against nginx serving a 1 KiB
# file with its access log on (nginx's default: the `combined` format, unbuffered, to a file), under the same wrk
# load; swregistry with the access log off is measured too, to show what the log costs.
#
#   bash bench/access_log.sh      (from the repository root; see BENCHMARKS.md)
#
# Environment (all optional):
#   SWREGISTRY_BIN       use this binary instead of `swift build -c release --product swregistry`
#   OLD_SWREGISTRY_BIN   also measure this binary with its access log on (e.g. a release build of main)
#   BENCH_DURATION       seconds per measured run (default 10)
#   BENCH_WARMUP         seconds of warm-up per peer and shape (default 2)
#   BENCH_ROUNDS         measured runs per peer and shape, the order of the peers rotating (default 3); the
#                        table shows the median and the spread (min-max)
#   BENCH_SHAPES         wrk shapes as THREADS:CONNECTIONS (default "1:50 2:200")
#   BENCH_THREADS        swregistry --threads and nginx worker_processes (default: nproc)
#   BENCH_FORMAT         swregistry log.formatter, text or json (default text)
#   NGINX_BIN            nginx binary (default: nginx on PATH, else /usr/sbin/nginx)
#
# Both servers write their access log to a file in the temporary directory; the script checks that each wrote
# one line per request. Progress goes to stderr, the table to stdout.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
# shellcheck source=lib.sh
source "$SCRIPT_DIR/lib.sh"

DURATION=$(to_seconds "${BENCH_DURATION:-10}") || die "bad BENCH_DURATION"
WARMUP=$(to_seconds "${BENCH_WARMUP:-2}") || die "bad BENCH_WARMUP"
ROUNDS=${BENCH_ROUNDS:-3}
SHAPES=${BENCH_SHAPES:-"1:50 2:200"}
THREADS=${BENCH_THREADS:-$(nproc)}
FORMAT=${BENCH_FORMAT:-text}
NGINX=${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "bad BENCH_ROUNDS"
[[ $FORMAT == text || $FORMAT == json ]] || die "bad BENCH_FORMAT"
command -v wrk >/dev/null || die "wrk is needed (apt-get install wrk)"
[[ -x $NGINX ]] || die "nginx is needed (apt-get install nginx-light)"

BIN=$(swregistry_bin)
[[ -x $BIN ]] || die "swregistry binary not found: $BIN"
OLD_BIN=${OLD_SWREGISTRY_BIN:-}
[[ -z $OLD_BIN || -x $OLD_BIN ]] || die "OLD_SWREGISTRY_BIN not executable: $OLD_BIN"

TMP=$(mktemp -d /tmp/swregistry-accesslog.XXXXXX)
chmod 755 "$TMP"
PIDS=()
cleanup() {
    local rc=$? pid
    set +e
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do stop_pid "$pid" TERM 10; done
    if (( rc == 0 )); then rm -rf "$TMP"; else log "kept $TMP"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

read -r PORT_LOG PORT_NOLOG PORT_OLD PORT_NGINX < <(free_ports 4)

# --- nginx, access log on (its default format and buffering) -----------------------------
NGX=$TMP/nginx
mkdir -p "$NGX/html" "$NGX/logs"
head -c 1024 /dev/zero | tr '\0' 'x' > "$NGX/html/1k.bin"
USER_LINE=""
(( EUID == 0 )) && USER_LINE="user root root;"
cat > "$NGX/nginx.conf" <<EOF
$USER_LINE
daemon off;
master_process on;
worker_processes $THREADS;
pid $NGX/nginx.pid;
error_log $NGX/logs/error.log warn;
events { use epoll; worker_connections 4096; }
http {
    access_log $NGX/logs/access.log;
    server_tokens off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 600s;
    keepalive_requests 1000000;
    open_file_cache max=64 inactive=600s;
    client_body_temp_path $NGX/client_body_temp;
    proxy_temp_path $NGX/proxy_temp;
    fastcgi_temp_path $NGX/fastcgi_temp;
    uwsgi_temp_path $NGX/uwsgi_temp;
    scgi_temp_path $NGX/scgi_temp;
    types { application/octet-stream bin; }
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:$PORT_NGINX backlog=4096;
        root $NGX/html;
        location = /1k.bin { }
        location / { return 404; }
    }
}
EOF
"$NGINX" -p "$NGX" -e "$NGX/logs/error.log" -c "$NGX/nginx.conf" >"$NGX/logs/stdout.log" 2>&1 &
PIDS+=($!)
declare -A PID_OF PORT_OF
PID_OF[nginx-log]=$!

# --- swregistry: log on, log off, and optionally an older binary with its log on ----------
start_swregistry() { # name binary port accesslog-disabled
    local name=$1 bin=$2 port=$3 disabled=$4
    mkdir -p "$TMP/$name"
    printf 'version: 0.1\nlog:\n  accesslog:\n    disabled: %s\n' "$disabled" > "$TMP/$name.yml"
    # An older binary may not know log.formatter: it is set only for the binary under test.
    local extra=()
    [[ $bin == "$BIN" ]] && extra=(--log-formatter "$FORMAT")
    "$bin" serve --config "$TMP/$name.yml" --address "127.0.0.1:$port" --storage "$TMP/$name/store" \
        --threads "$THREADS" "${extra[@]}" >"$TMP/$name.out" 2>"$TMP/$name.log" &
    PIDS+=($!)
    PID_OF[$name]=$!
    PORT_OF[$name]=$port
}
start_swregistry sw-log "$BIN" "$PORT_LOG" false
start_swregistry sw-nolog "$BIN" "$PORT_NOLOG" true
[[ -n $OLD_BIN ]] && start_swregistry old-log "$OLD_BIN" "$PORT_OLD" false

PEERS=(sw-log sw-nolog nginx-log)
[[ -n $OLD_BIN ]] && PEERS=(sw-log old-log sw-nolog nginx-log)
declare -A URL
URL[sw-log]=http://127.0.0.1:$PORT_LOG/v2/bench/app/manifests/v1
URL[sw-nolog]=http://127.0.0.1:$PORT_NOLOG/v2/bench/app/manifests/v1
URL[old-log]=http://127.0.0.1:$PORT_OLD/v2/bench/app/manifests/v1
URL[nginx-log]=http://127.0.0.1:$PORT_NGINX/1k.bin
for name in sw-log sw-nolog ${OLD_BIN:+old-log}; do
    wait_ready "$name" "${PID_OF[$name]}" "http://127.0.0.1:${PORT_OF[$name]}/v2/" "$TMP/$name.log"
    push_sample_manifest "${PORT_OF[$name]}"
done
wait_ready nginx "${PID_OF[nginx-log]}" "${URL[nginx-log]}" "$NGX/logs/error.log"
cat > "$TMP/accept.lua" <<'LUA'
wrk.headers["Accept"] = "application/vnd.oci.image.manifest.v1+json"
LUA

# --- wrk -----------------------------------------------------------------------------------
RESULTS=$TMP/results.tsv   # shape peer round rps p99_ms errors non2xx load1 cpu_us_per_request
: > "$RESULTS"
HZ=$(getconf CLK_TCK)
# CPU time (utime + stime, clock ticks) of a process and its children (nginx's workers), writer thread included.
tree_ticks() {
    local total=0 pid
    for pid in "$1" $(pgrep -P "$1" || true); do
        total=$((total + $(sed 's/^.*) //' "/proc/$pid/stat" | awk '{print $12 + $13}')))
    done
    echo "$total"
}
run_wrk() { # peer threads conns seconds out
    local args=("-t$2" "-c$3" "-d$4s" --latency)
    [[ $1 != nginx-log ]] && args+=(-s "$TMP/accept.lua")
    wrk "${args[@]}" "${URL[$1]}" >"$5" 2>&1 || die "wrk against $1 failed ($5)"
}
for shape in $SHAPES; do
    t=${shape%%:*} c=${shape##*:}
    if (( WARMUP > 0 )); then
        for peer in "${PEERS[@]}"; do run_wrk "$peer" "$t" "$c" "$WARMUP" "$TMP/warmup.txt"; done
    fi
    for ((round = 0; round < ROUNDS; round++)); do
        n=${#PEERS[@]}
        for ((i = 0; i < n; i++)); do
            peer=${PEERS[$(( (i + round) % n ))]}
            out=$TMP/wrk-$peer-$t-$c-$round.txt
            load=$(cut -d' ' -f1 /proc/loadavg)
            before=$(tree_ticks "${PID_OF[$peer]}")
            run_wrk "$peer" "$t" "$c" "$DURATION" "$out"
            after=$(tree_ticks "${PID_OF[$peer]}")
            parsed=$(parse_wrk "$out") || die "cannot parse $out"
            requests=$(awk '/requests in/ {print $1}' "$out")
            cpu=$(awk -v t=$((after - before)) -v hz="$HZ" -v n="$requests" 'BEGIN {printf "%.1f", t * 1e6 / hz / n}')
            echo "-t$t-c$c $peer $round $parsed $load $cpu" >> "$RESULTS"
            log "-t$t -c$c $peer round $((round + 1)): $(cut -d' ' -f1 <<<"$parsed") req/s, $cpu µs CPU/request (load before: $load)"
        done
    done
done

# --- The logs must hold one line per request ------------------------------------------------
sleep 0.5
for pid in "${PIDS[@]}"; do stop_pid "$pid" TERM 10; done
PIDS=()
measured() { # peer: requests wrk counted in the measured runs
    cat "$TMP"/wrk-"$1"-*.txt | awk '/requests in/ {n += $1} END {print n + 0}'
}
SW_LINES=$(grep -c -E 'msg=access |"msg":"access"' "$TMP/sw-log.log" || true)
NGINX_LINES=$(wc -l < "$NGX/logs/access.log")
log "access lines: swregistry $SW_LINES, nginx $NGINX_LINES"
(( SW_LINES >= $(measured sw-log) )) || die "swregistry logged $SW_LINES lines for $(measured sw-log) requests"
(( NGINX_LINES >= $(measured nginx-log) )) || die "nginx logged $NGINX_LINES lines for $(measured nginx-log) requests"

export RESULTS SW_LINES NGINX_LINES FORMAT THREADS DURATION ROUNDS
export CPU_MODEL=$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo) NPROC=$(nproc)
export NGINX_VERSION=$( ("$NGINX" -v 2>&1 || true) | sed 's/^nginx version: //') DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
python3 - <<'PY'
import os, statistics
env = os.environ
runs = {}
shapes = []
for line in open(env["RESULTS"]):
    shape, peer, _r, rps, p99, errs, non2xx, load, cpu = line.split()
    if shape not in shapes: shapes.append(shape)
    runs.setdefault((shape, peer), []).append((float(rps), float(p99), int(errs) + int(non2xx), float(load), float(cpu)))
peers = []
for (_, p) in runs:
    if p not in peers: peers.append(p)
print(f"{env['DATE']}, {env['CPU_MODEL']} ({env['NPROC']} cores), swregistry --threads {env['THREADS']} "
      f"log.formatter {env['FORMAT']}, nginx {env['NGINX_VERSION']} worker_processes {env['THREADS']}; "
      f"{env['ROUNDS']} runs of {env['DURATION']} s per peer and shape, median (min-max)")
print()
print("| shape | " + " | ".join(f"{p} req/s" for p in peers) + " | sw-log / nginx-log | sw-log / sw-nolog |")
print("|---" * (len(peers) + 3) + "|")
for s in shapes:
    med = {p: statistics.median(r[0] for r in runs[(s, p)]) for p in peers if (s, p) in runs}
    cells = []
    for p in peers:
        xs = [r[0] for r in runs[(s, p)]]
        errs = sum(r[2] for r in runs[(s, p)])
        cells.append(f"{med[p]:.0f} ({min(xs):.0f}-{max(xs):.0f})" + (f" {errs} errors" if errs else ""))
    print(f"| {s.replace('-c', ' -c')} | " + " | ".join(cells)
          + f" | {med['sw-log'] / med['nginx-log']:.2f} | {med['sw-log'] / med['sw-nolog']:.2f} |")
print()
print("Server CPU time per request (µs, utime + stime of the process and its children, median):")
print()
print("| shape | " + " | ".join(peers) + " |")
print("|---" * (len(peers) + 1) + "|")
for s in shapes:
    print(f"| {s.replace('-c', ' -c')} | " + " | ".join(
        f"{statistics.median(r[4] for r in runs[(s, p)]):.1f}" for p in peers if (s, p) in runs) + " |")
loads = [r[3] for v in runs.values() for r in v]
print()
print(f"load average before the runs: {min(loads):.1f}-{max(loads):.1f}; access lines written: "
      f"swregistry {env['SW_LINES']}, nginx {env['NGINX_LINES']}")
PY
