#!/usr/bin/env bash
# HTTP benchmark: swregistry `GET /v2/` vs nginx serving a 1 KiB static file.
#
#   bash bench/http.sh            (from the repository root; see bench/README.md)
#
# Environment (all optional):
#   SWREGISTRY_BIN         use this binary instead of `swift build -c release --product swregistry`
#   BENCH_DURATION         wrk duration per measured run, seconds ("10" or "10s"; default 10)
#   BENCH_WARMUP           wrk warm-up per peer and shape, seconds (default 2; 0 = none)
#   BENCH_ROUNDS           measured runs per peer and shape, order alternating (default 1);
#                          with more than 1 the table shows the median
#   BENCH_SHAPES           wrk shapes as THREADS:CONNECTIONS, space separated (default "1:50 2:200")
#   BENCH_IDLE_CONNS       idle keep-alive connections for the RSS test (default 10000; 0 = skip)
#   BENCH_THREADS          swregistry --threads and nginx worker_processes (default: nproc)
#   BENCH_WRK_CPUS         pin wrk with `taskset -c LIST` (default: not pinned)
#   BENCH_SERVER_CPUS      pin both servers with `taskset -c LIST` (default: not pinned)
#   BENCH_SKIP_SWREGISTRY  1 = benchmark nginx only (to test this script without swregistry)
#   BENCH_KEEP_TMP         1 = keep the temporary directory (logs, configs, raw wrk output)
#   NGINX_BIN              nginx binary (default: nginx on PATH, else /usr/sbin/nginx)
#
# Progress goes to stderr; the result table and a Markdown snippet go to stdout.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$SCRIPT_DIR/.." && pwd)

# shellcheck source=lib.sh
source "$SCRIPT_DIR/lib.sh"


DURATION=$(to_seconds "${BENCH_DURATION:-10}") || die "bad BENCH_DURATION"
WARMUP=$(to_seconds "${BENCH_WARMUP:-2}") || die "bad BENCH_WARMUP"
ROUNDS=${BENCH_ROUNDS:-1}
SHAPES=${BENCH_SHAPES:-"1:50 2:200"}
IDLE_CONNS=${BENCH_IDLE_CONNS:-10000}
NPROC=$(nproc)
THREADS=${BENCH_THREADS:-$NPROC}
SKIP_SW=${BENCH_SKIP_SWREGISTRY:-0}
KEEP_TMP=${BENCH_KEEP_TMP:-0}
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "bad BENCH_ROUNDS"
[[ $IDLE_CONNS =~ ^[0-9]+$ ]] || die "bad BENCH_IDLE_CONNS"
[[ $THREADS =~ ^[1-9][0-9]*$ ]] || die "bad BENCH_THREADS"
(( DURATION > 0 )) || die "BENCH_DURATION must be > 0"
for shape in $SHAPES; do
    [[ $shape =~ ^[1-9][0-9]*:[1-9][0-9]*$ ]] || die "bad shape '$shape' in BENCH_SHAPES"
done

# The exact command, with the environment overrides that affect it.
COMMAND=""
while IFS= read -r var; do
    COMMAND+="$var=$(printf '%q' "${!var}") "
done < <(compgen -e | grep -E '^(BENCH_[A-Z_]+|SWREGISTRY_BIN|NGINX_BIN)$' | sort)
COMMAND+="bash bench/http.sh"

WRK_PIN=()
SERVER_PIN=()
[[ -n ${BENCH_WRK_CPUS:-} ]] && WRK_PIN=(taskset -c "$BENCH_WRK_CPUS")
[[ -n ${BENCH_SERVER_CPUS:-} ]] && SERVER_PIN=(taskset -c "$BENCH_SERVER_CPUS")

# --- Tools -------------------------------------------------------------------
NGINX=${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}
missing=()
command -v wrk >/dev/null || missing+=(wrk)
[[ -x $NGINX ]] || missing+=(nginx-light)
command -v python3 >/dev/null || missing+=(python3)
command -v curl >/dev/null || missing+=(curl)
if (( ${#missing[@]} )); then
    log "installing ${missing[*]}"
    SUDO=()
    (( EUID == 0 )) || SUDO=(sudo)
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" apt-get install -y "${missing[@]}" >&2 \
        || { "${SUDO[@]}" apt-get update >&2 && "${SUDO[@]}" apt-get install -y "${missing[@]}" >&2; }
    NGINX=${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}
fi
[[ -x $NGINX ]] || die "nginx not found at $NGINX"
if [[ ${#WRK_PIN[@]} -gt 0 || ${#SERVER_PIN[@]} -gt 0 ]]; then
    command -v taskset >/dev/null || die "taskset (util-linux) is needed for BENCH_*_CPUS"
fi

# --- File descriptors ----------------------------------------------------------
# Both servers and the idle-connection tool inherit this limit.
WANT_NOFILE=65536
hard=$(ulimit -Hn)
if [[ $hard != unlimited ]] && (( hard < WANT_NOFILE )); then
    ulimit -Hn "$WANT_NOFILE" 2>/dev/null || WANT_NOFILE=$hard
fi
ulimit -Sn "$WANT_NOFILE"
NOFILE=$(ulimit -Sn)
[[ $NOFILE == unlimited ]] && NOFILE=1048576
if (( NOFILE < IDLE_CONNS + 256 )); then
    die "open-file limit is $NOFILE (hard limit $(ulimit -Hn)), too low for $IDLE_CONNS idle connections"
fi
log "open-file limit: $NOFILE"

# --- Build ---------------------------------------------------------------------
SWIFT_VERSION=""
if [[ $SKIP_SW == 1 ]]; then
    BIN=""
elif [[ -n ${SWREGISTRY_BIN:-} ]]; then
    BIN=$SWREGISTRY_BIN
else
    BIN=$(swregistry_bin)
    SWIFT_VERSION=$( (swift --version 2>&1 || true) | grep -m1 -i 'swift version' || true)
fi
if [[ -n $BIN && ! -x $BIN ]]; then
    die "swregistry binary not found or not executable: $BIN"
fi

# --- Temp dir and cleanup --------------------------------------------------------
TMP=$(mktemp -d /tmp/swregistry-bench.XXXXXX)
chmod 755 "$TMP"
SW_PID=""
NGINX_PID=""
IDLE_PID=""
WRK_PID=""
SW_EXIT=""

# Sends signal $2 to pid $1 (a child of this shell), waits up to $3 seconds, then SIGKILLs.
# Sets STOP_RC to the exit status. (Not usable in $(...): a subshell cannot wait for it.)
STOP_RC=""

cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    [[ -n $WRK_PID ]] && stop_pid "$WRK_PID" TERM 5
    [[ -n $IDLE_PID ]] && stop_pid "$IDLE_PID" TERM 5
    [[ -n $SW_PID ]] && stop_pid "$SW_PID" TERM 10
    [[ -n $NGINX_PID ]] && stop_pid "$NGINX_PID" TERM 10
    if [[ $KEEP_TMP == 1 || $rc != 0 ]]; then
        log "kept $TMP (logs, configs, raw wrk output)"
    else
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Two distinct free loopback ports (both sockets are open while choosing).
read -r SW_PORT NGINX_PORT < <(free_ports 2)

# --- nginx -------------------------------------------------------------------------
# Logging: access_log off. swregistry runs with --log-level warning, which logs nothing
# per request, so neither side pays for an access log.
NGX=$TMP/nginx
mkdir -p "$NGX/html" "$NGX/logs"
head -c 1024 /dev/zero | tr '\0' 'x' > "$NGX/html/1k.bin"
USER_LINE=""
(( EUID == 0 )) && USER_LINE="user root root;"
# Enough for all idle connections in one worker (accept distribution is not even), but no more:
# nginx preallocates (and touches) its connection array, so a bigger value only inflates its RSS.
WORKER_CONNECTIONS=$(( IDLE_CONNS + 1024 > 4096 ? IDLE_CONNS + 1024 : 4096 ))
(( WORKER_CONNECTIONS <= NOFILE - 64 )) || WORKER_CONNECTIONS=$(( NOFILE - 64 ))
cat > "$NGX/nginx.conf" <<EOF
# Written by bench/http.sh.
$USER_LINE
daemon off;
master_process on;
worker_processes $THREADS;
worker_rlimit_nofile $NOFILE;
pid $NGX/nginx.pid;
error_log $NGX/logs/error.log warn;

events {
    use epoll;
    worker_connections $WORKER_CONNECTIONS;
}

http {
    access_log off;
    server_tokens off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 600s;
    keepalive_requests 1000000;
    open_file_cache max=64 inactive=600s;
    open_file_cache_valid 600s;
    client_body_temp_path $NGX/client_body_temp;
    proxy_temp_path $NGX/proxy_temp;
    fastcgi_temp_path $NGX/fastcgi_temp;
    uwsgi_temp_path $NGX/uwsgi_temp;
    scgi_temp_path $NGX/scgi_temp;
    types { application/octet-stream bin; }
    default_type application/octet-stream;

    server {
        listen 127.0.0.1:$NGINX_PORT backlog=4096;
        root $NGX/html;
        # Throughput target: the 1 KiB static file.
        location = /1k.bin { }
        # Same request as swregistry gets, used by the idle-connection test.
        location = /v2/ {
            default_type application/json;
            add_header Docker-Distribution-API-Version registry/2.0 always;
            return 200 '{}';
        }
        location = /healthz { return 200 'ok'; }
        location / { return 404; }
    }
}
EOF
"$NGINX" -t -q -p "$NGX" -e "$NGX/logs/error.log" -c "$NGX/nginx.conf" \
    || die "nginx config test failed (see $NGX/nginx.conf)"

# --- Start servers ---------------------------------------------------------------------
if [[ -n $BIN ]]; then
    mkdir -p "$TMP/storage"
    log "starting swregistry on 127.0.0.1:$SW_PORT ($BIN)"
    "${SERVER_PIN[@]}" "$BIN" serve --address "127.0.0.1:$SW_PORT" --storage "$TMP/storage" \
        --log-level warning --threads "$THREADS" >"$TMP/swregistry.log" 2>&1 &
    SW_PID=$!
fi
log "starting nginx on 127.0.0.1:$NGINX_PORT"
"${SERVER_PIN[@]}" "$NGINX" -p "$NGX" -e "$NGX/logs/error.log" -c "$NGX/nginx.conf" \
    >"$NGX/logs/stdout.log" 2>&1 &
NGINX_PID=$!

[[ -n $SW_PID ]] && wait_ready swregistry "$SW_PID" "http://127.0.0.1:$SW_PORT/healthz" "$TMP/swregistry.log"
wait_ready nginx "$NGINX_PID" "http://127.0.0.1:$NGINX_PORT/healthz" "$NGX/logs/error.log"

SW_URL="http://127.0.0.1:$SW_PORT/v2/"
NGINX_URL="http://127.0.0.1:$NGINX_PORT/1k.bin"

# Sanity checks: the URLs under test answer what they should.
if [[ -n $SW_PID ]]; then
    resp=$(curl -sS -i --max-time 5 "$SW_URL") || die "GET $SW_URL failed"
    status=$(head -n1 <<<"$resp" | tr -d '\r')
    [[ $status == *" 200"* ]] || die "GET /v2/ on swregistry: expected 200, got '$status'"
    grep -qi '^Docker-Distribution-API-Version: *registry/2.0' <<<"$resp" \
        || log "warning: swregistry GET /v2/ lacks 'Docker-Distribution-API-Version: registry/2.0'"
    [[ $(tr -d '\r' <<<"$resp" | sed -n '/^$/,$p' | tr -d '\n') == "{}" ]] \
        || log "warning: swregistry GET /v2/ body is not '{}'"
fi
size=$(curl -fsS --max-time 5 -o /dev/null -w '%{size_download}' "$NGINX_URL") || die "GET $NGINX_URL failed"
[[ $size == 1024 ]] || die "nginx served $size bytes instead of 1024"

# --- wrk -------------------------------------------------------------------------------
RESULTS=$TMP/results.tsv   # shape peer round rps p99_ms socket_errors non2xx
: > "$RESULTS"


run_wrk() { # peer url threads conns seconds outfile
    local peer=$1 url=$2 t=$3 c=$4 secs=$5 out=$6
    # In the background + wait, so that SIGINT/SIGTERM traps run at once.
    timeout $((secs + 30)) "${WRK_PIN[@]}" wrk "-t$t" "-c$c" "-d${secs}s" --latency "$url" >"$out" 2>&1 &
    WRK_PID=$!
    wait "$WRK_PID" || { WRK_PID=""; die "wrk against $peer failed (output: $out)"; }
    WRK_PID=""
}

PEERS=()
[[ -n $SW_PID ]] && PEERS+=(swregistry)
PEERS+=(nginx)
url_of() { if [[ $1 == swregistry ]]; then echo "$SW_URL"; else echo "$NGINX_URL"; fi; }

shape_index=0
for shape in $SHAPES; do
    t=${shape%%:*}
    c=${shape##*:}
    if (( WARMUP > 0 )); then
        for peer in "${PEERS[@]}"; do
            log "warm-up   -t$t -c$c ${WARMUP}s $peer"
            run_wrk "$peer" "$(url_of "$peer")" "$t" "$c" "$WARMUP" "$TMP/warmup-$peer-$t-$c.txt"
        done
    fi
    for ((round = 1; round <= ROUNDS; round++)); do
        order=("${PEERS[@]}")
        if (( (round + shape_index) % 2 == 0 && ${#PEERS[@]} == 2 )); then
            order=("${PEERS[1]}" "${PEERS[0]}")
        fi
        for peer in "${order[@]}"; do
            out=$TMP/wrk-$peer-$t-$c-$round.txt
            log "measure   -t$t -c$c ${DURATION}s $peer (round $round/$ROUNDS)"
            run_wrk "$peer" "$(url_of "$peer")" "$t" "$c" "$DURATION" "$out"
            parsed=$(parse_wrk "$out") || die "could not parse wrk output $out"
            echo "-t$t-c$c $peer $round $parsed" >> "$RESULTS"
            log "          $(awk '{printf "%s req/s, p99 %s ms, socket errors %s, non-2xx %s", $1, $2, $3, $4}' <<<"$parsed")"
        done
    done
    shape_index=$((shape_index + 1))
done

# --- RSS with idle keep-alive connections ----------------------------------------------
# RSS of a process plus all its descendants (nginx: master + workers): "KiB processes".
tree_rss() {
    python3 - "$1" <<'PY'
import os, sys
root = int(sys.argv[1])
procs = {}
for name in os.listdir("/proc"):
    if not name.isdigit():
        continue
    try:
        with open("/proc/%s/status" % name) as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
    except OSError:
        continue
    rss = fields.get("VmRSS", "0 kB").split()[0]
    procs[int(name)] = (int(fields["PPid"]), int(rss))
total = count = 0
for pid, (ppid, rss) in procs.items():
    p, depth = pid, 0
    while p > 0 and depth < 64:
        if p == root:
            total += rss
            count += 1
            break
        p = procs.get(p, (0, 0))[0]
        depth += 1
print(total, count)
PY
}

IDLE=$TMP/idle.tsv   # peer rss_before_kb rss_idle_kb closed_by_server setup_seconds processes
: > "$IDLE"
idle_test() { # peer pid port
    local peer=$1 pid=$2 port=$3 out=$TMP/idle-$1.out err=$TMP/idle-$1.err i before after procs
    read -r before _ < <(tree_rss "$pid")
    log "idle test $peer: opening $IDLE_CONNS keep-alive connections"
    python3 "$SCRIPT_DIR/idle_connections.py" --port "$port" --count "$IDLE_CONNS" --path /v2/ \
        >"$out" 2>"$err" &
    IDLE_PID=$!
    for ((i = 0; i < 1200; i++)); do
        grep -q '^ready' "$out" 2>/dev/null && break
        kill -0 "$IDLE_PID" 2>/dev/null || { cat "$err" >&2; die "idle_connections.py failed against $peer"; }
        sleep 0.1
    done
    grep -q '^ready' "$out" || die "idle_connections.py not ready after 120 s against $peer"
    sleep 2   # let the server settle (lazy allocations, worker wake-ups)
    read -r after procs < <(tree_rss "$pid")
    stop_pid "$IDLE_PID" TERM 10
    IDLE_PID=""
    local closed setup
    closed=$(sed -n 's/.*closed_by_server=\([0-9]*\).*/\1/p' "$out")
    setup=$(sed -n 's/^ready.*setup_seconds=\([0-9.]*\).*/\1/p' "$out")
    echo "$peer $before $after ${closed:-?} ${setup:-?} $procs" >> "$IDLE"
    log "          RSS $((before / 1024)) -> $((after / 1024)) MiB over $procs process(es), setup ${setup}s, closed by server while idle: ${closed:-?}"
    sleep 1
}
if (( IDLE_CONNS > 0 )); then
    [[ -n $SW_PID ]] && idle_test swregistry "$SW_PID" "$SW_PORT"
    idle_test nginx "$NGINX_PID" "$NGINX_PORT"
fi

# --- Shutdown swregistry (it must exit 0 on SIGTERM) -----------------------------------
if [[ -n $SW_PID ]]; then
    stop_pid "$SW_PID" TERM 10
    SW_EXIT=$STOP_RC
    SW_PID=""
    [[ $SW_EXIT == 0 ]] || log "warning: swregistry exited with status $SW_EXIT on SIGTERM (log: $TMP/swregistry.log)"
fi

# --- Report ------------------------------------------------------------------------------
NGINX_VERSION=$( ("$NGINX" -v 2>&1 || true) | sed 's/^nginx version: //')
WRK_VERSION=$( (wrk -v 2>&1 || true) | head -n1 | sed 's/ *Copyright.*//')
CPU_MODEL=$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo)
OS_NAME=$( (. /etc/os-release && echo "$PRETTY_NAME") 2>/dev/null || echo unknown)
PIN_NOTE="no CPU pinning (wrk and servers share all $NPROC cores)"
if [[ ${#WRK_PIN[@]} -gt 0 || ${#SERVER_PIN[@]} -gt 0 ]]; then
    PIN_NOTE="taskset: wrk on CPUs ${BENCH_WRK_CPUS:-all}, servers on CPUs ${BENCH_SERVER_CPUS:-all}"
fi

export RESULTS IDLE COMMAND NPROC THREADS DURATION WARMUP ROUNDS IDLE_CONNS NGINX_VERSION WRK_VERSION \
    CPU_MODEL OS_NAME PIN_NOTE SWIFT_VERSION SW_EXIT SKIP_SW
export KERNEL=$(uname -r) DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
python3 - <<'PY'
import os, statistics

env = os.environ
def median(xs):
    return statistics.median(xs) if xs else None

results = {}   # (shape, peer) -> [(rps, p99, errs, non2xx)]
shapes = []
for line in open(env["RESULTS"]):
    shape, peer, _round, rps, p99, errs, non2xx = line.split()
    if shape not in shapes:
        shapes.append(shape)
    results.setdefault((shape, peer), []).append((float(rps), float(p99), int(errs), int(non2xx)))

idle = {}
for line in open(env["IDLE"]):
    peer, before, after, closed, setup, procs = line.split()
    idle[peer] = (int(before), int(after), closed, setup, int(procs))

def stat(shape, peer):
    runs = results.get((shape, peer))
    if not runs:
        return None
    return (median([r[0] for r in runs]), median([r[1] for r in runs]),
            sum(r[2] for r in runs), sum(r[3] for r in runs))

rows = []
for shape in shapes:
    sw, ng = stat(shape, "swregistry"), stat(shape, "nginx")
    ratio = sw[0] / ng[0] if sw and ng and ng[0] else None
    rows.append((shape.replace("-c", " -c"), sw, ng, ratio))

def f_rps(s): return "%.0f" % s[0] if s else "-"
def f_p99(s): return "%.2f ms" % s[1] if s else "-"
def f_err(s): return "%d/%d" % (s[2], s[3]) if s else "-"
def f_ratio(r): return "%.2f" % r if r is not None else "-"
def mib(kb): return kb / 1024.0

header = ["shape", "swregistry req/s", "nginx req/s", "ratio sw/nginx",
          "swregistry p99", "nginx p99", "errors sw (sock/non2xx)", "errors nginx"]
table = [header] + [[s, f_rps(sw), f_rps(ng), f_ratio(r), f_p99(sw), f_p99(ng), f_err(sw), f_err(ng)]
                    for s, sw, ng, r in rows]
widths = [max(len(row[i]) for row in table) for i in range(len(header))]
print()
print("Throughput (median of %s run(s) of %ss each; swregistry GET /v2/, nginx GET /1k.bin)"
      % (env["ROUNDS"], env["DURATION"]))
for i, row in enumerate(table):
    print("  " + "  ".join(c.rjust(w) if j else c.ljust(w) for j, (c, w) in enumerate(zip(row, widths))))
    if i == 0:
        print("  " + "  ".join("-" * w for w in widths))

n = int(env["IDLE_CONNS"])
if idle:
    print()
    print("RSS with %d idle keep-alive connections (each did one GET /v2/)" % n)
    for peer in ("swregistry", "nginx"):
        if peer in idle:
            b, a, closed, setup, procs = idle[peer]
            print("  %-10s  %7.1f MiB  (before: %.1f MiB, +%.0f bytes/conn, %d process(es), closed by server while idle: %s)"
                  % (peer, mib(a), mib(b), (a - b) * 1024.0 / n, procs, closed))
            if closed != "0":
                print("  warning: %s closed %s idle connection(s) during the test; RSS was measured "
                      "with fewer than %d open" % (peer, closed, n))

# Targets.
verdicts = []
ratios = [r for _, _, _, r in rows if r is not None]
if ratios:
    worst = min(ratios)
    verdicts.append(("swregistry >= 0.8x nginx req/s (every shape)", "%.2fx (worst)" % worst, worst >= 0.8))
if "swregistry" in idle:
    a = mib(idle["swregistry"][1])
    verdicts.append(("swregistry < 64 MiB RSS at %d idle connections" % n, "%.1f MiB" % a, a < 64))
if verdicts:
    print()
    print("Targets")
    for name, value, ok in verdicts:
        print("  %-4s %s: %s" % ("PASS" if ok else "FAIL", name, value))
sw_exit = env.get("SW_EXIT", "")
if sw_exit:
    print("  %-4s swregistry exits 0 on SIGTERM: exit status %s" % ("PASS" if sw_exit == "0" else "FAIL", sw_exit))

# Markdown snippet.
md = []
md.append("### HTTP: swregistry vs nginx — %s" % env["DATE"])
md.append("")
md.append("- Command: `%s`" % env["COMMAND"])
md.append("- Machine: nproc=%s, %s, %s, Linux %s" % (env["NPROC"], env["CPU_MODEL"] or "unknown CPU",
                                                       env["OS_NAME"], env["KERNEL"]))
md.append("- nginx: %s — worker_processes %s, access_log off, keepalive_requests 1000000, "
          "sendfile + open_file_cache, static 1 KiB file" % (env["NGINX_VERSION"], env["THREADS"]))
if env.get("SKIP_SW") == "1":
    md.append("- swregistry: not run (BENCH_SKIP_SWREGISTRY=1)")
else:
    md.append("- swregistry: `serve --threads %s --log-level warning` (no per-request log), `GET /v2/`%s"
              % (env["THREADS"], ("; built with " + env["SWIFT_VERSION"]) if env.get("SWIFT_VERSION") else ""))
md.append("- wrk: %s — `--latency`, %ss per run after a %ss warm-up, %s round(s) (median), peers alternating; %s"
          % (env["WRK_VERSION"], env["DURATION"], env["WARMUP"], env["ROUNDS"], env["PIN_NOTE"]))
md.append("")
md.append("| wrk shape | swregistry req/s | nginx req/s | ratio | swregistry p99 | nginx p99 |")
md.append("|---|---:|---:|---:|---:|---:|")
for s, sw, ng, r in rows:
    md.append("| `%s` | %s | %s | %s | %s | %s |" % (s, f_rps(sw), f_rps(ng), f_ratio(r), f_p99(sw), f_p99(ng)))
errs = [(s, sw, ng) for s, sw, ng, _ in rows if (sw and (sw[2] or sw[3])) or (ng and (ng[2] or ng[3]))]
if errs:
    md.append("")
    for s, sw, ng in errs:
        md.append("Errors in `%s` (socket errors/non-2xx): swregistry %s, nginx %s." % (s, f_err(sw), f_err(ng)))
if idle:
    md.append("")
    md.append("| %d idle keep-alive connections | swregistry | nginx (master + workers) |" % n)
    md.append("|---|---:|---:|")
    def cell(peer, i):
        if peer not in idle:
            return "-"
        b, a = idle[peer][0], idle[peer][1]
        return {0: "%.1f MiB" % mib(a), 1: "%.1f MiB" % mib(b), 2: "%.0f B" % ((a - b) * 1024.0 / n)}[i]
    md.append("| RSS with connections | %s | %s |" % (cell("swregistry", 0), cell("nginx", 0)))
    md.append("| RSS before | %s | %s |" % (cell("swregistry", 1), cell("nginx", 1)))
    md.append("| growth per connection | %s | %s |" % (cell("swregistry", 2), cell("nginx", 2)))
if sw_exit:
    verdicts.append(("exit status on SIGTERM", sw_exit, sw_exit == "0"))
if verdicts:
    md.append("")
    md.append("Targets: " + "; ".join("%s — %s (%s)" % (name, value, "pass" if ok else "FAIL")
                                       for name, value, ok in verdicts) + ".")
print()
print("----- Markdown (for BENCHMARKS.md) -----")
print("\n".join(md))
PY
