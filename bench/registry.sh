#!/usr/bin/env bash
# Registry benchmark: swregistry vs docker-registry (CNCF distribution 2.8, Debian's package), with
# nginx serving the same files statically as the reference.
#
#   bash bench/registry.sh        (from the repository root; see bench/README.md)
#
# Environment (all optional):
#   SWREGISTRY_BIN         use this binary instead of `swift build -c release --product swregistry`
#   DOCKER_REGISTRY_BIN    docker-registry binary (default: docker-registry on PATH)
#   NGINX_BIN              nginx binary (default: nginx on PATH, else /usr/sbin/nginx)
#   BENCH_DURATION         seconds per measured request-rate run ("5" or "5s"; default 5)
#   BENCH_WARMUP           warm-up per peer, test and shape, seconds (default 1; 0 = none)
#   BENCH_ROUNDS           measured request-rate runs per peer, test and shape, order rotating
#                          (default 1); with more than 1 the table shows the median
#   BENCH_SHAPES           shapes for the manifest and blob HEAD tests, THREADS:CONNECTIONS
#                          (default "1:50 2:200")
#   BENCH_BLOB_SHAPE       shape of the 1 MiB blob GET test (default "1:10")
#   BENCH_BIG_MIB          size of the big blob in MiB (default 1024)
#   BENCH_BIG_RUNS         runs of each big transfer per peer, median reported (default 3)
#   BENCH_DISK_PROBE       1 = time `dd ... conv=fsync` of the big size first (default 1)
#   BENCH_SKOPEO           1 = skopeo push/pull of an 8-layer image to both registries (default 1;
#                          installs skopeo if missing); 0 = skip
#   BENCH_SKOPEO_LAYERS    layers of that image (default 8)
#   BENCH_SKOPEO_LAYER_MIB MiB per layer (default 25)
#   BENCH_STORAGE_DIR      make the registries' storage folders (and the dd probe) under this
#                          folder instead of the temp directory, e.g. /dev/shm to take the disk
#                          out of the upload figures (default: the temp directory, under /tmp)
#   BENCH_THREADS          swregistry --threads and nginx worker_processes (default: nproc)
#   BENCH_KEEP_TMP         1 = keep the temporary directory (logs, configs, raw outputs)
#
# Progress goes to stderr; the result tables and a Markdown snippet go to stdout.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$SCRIPT_DIR/.." && pwd)

# shellcheck source=lib.sh
source "$SCRIPT_DIR/lib.sh"


DURATION=$(to_seconds "${BENCH_DURATION:-5}") || die "bad BENCH_DURATION"
WARMUP=$(to_seconds "${BENCH_WARMUP:-1}") || die "bad BENCH_WARMUP"
ROUNDS=${BENCH_ROUNDS:-1}
SHAPES=${BENCH_SHAPES:-"1:50 2:200"}
BLOB_SHAPE=${BENCH_BLOB_SHAPE:-"1:10"}
BIG_MIB=${BENCH_BIG_MIB:-1024}
BIG_RUNS=${BENCH_BIG_RUNS:-3}
DISK_PROBE=${BENCH_DISK_PROBE:-1}
SKOPEO=${BENCH_SKOPEO:-1}
SKOPEO_LAYERS=${BENCH_SKOPEO_LAYERS:-8}
SKOPEO_LAYER_MIB=${BENCH_SKOPEO_LAYER_MIB:-25}
NPROC=$(nproc)
THREADS=${BENCH_THREADS:-$NPROC}
KEEP_TMP=${BENCH_KEEP_TMP:-0}
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "bad BENCH_ROUNDS"
[[ $THREADS =~ ^[1-9][0-9]*$ ]] || die "bad BENCH_THREADS"
[[ $BIG_MIB =~ ^[1-9][0-9]*$ ]] || die "bad BENCH_BIG_MIB"
[[ $BIG_RUNS =~ ^[1-9][0-9]*$ ]] || die "bad BENCH_BIG_RUNS"
[[ $SKOPEO_LAYERS =~ ^[1-9][0-9]*$ ]] || die "bad BENCH_SKOPEO_LAYERS"
[[ $SKOPEO_LAYER_MIB =~ ^[1-9][0-9]*$ ]] || die "bad BENCH_SKOPEO_LAYER_MIB"
(( DURATION > 0 )) || die "BENCH_DURATION must be > 0"
for shape in $SHAPES $BLOB_SHAPE; do
    [[ $shape =~ ^[1-9][0-9]*:[1-9][0-9]*$ ]] || die "bad shape '$shape'"
done
BIG_BYTES=$((BIG_MIB * 1048576))

# The exact command, with the environment overrides that affect it.
COMMAND=""
while IFS= read -r var; do
    COMMAND+="$var=$(printf '%q' "${!var}") "
done < <(compgen -e | grep -E '^(BENCH_[A-Z_]+|SWREGISTRY_BIN|DOCKER_REGISTRY_BIN|NGINX_BIN)$' | sort)
COMMAND+="bash bench/registry.sh"
LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)

# --- Tools -------------------------------------------------------------------
SUDO=()
(( EUID == 0 )) || SUDO=(sudo)
apt_install() {
    log "installing $*"
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" apt-get install -y "$@" >&2 \
        || { "${SUDO[@]}" apt-get update >&2 && "${SUDO[@]}" apt-get install -y "$@" >&2; }
}
NGINX=${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}
DREG=${DOCKER_REGISTRY_BIN:-$(command -v docker-registry || echo /usr/bin/docker-registry)}
missing=()
command -v wrk >/dev/null || missing+=(wrk)
[[ -x $NGINX ]] || missing+=(nginx-light)
[[ -x $DREG ]] || missing+=(docker-registry)
command -v python3 >/dev/null || missing+=(python3)
command -v curl >/dev/null || missing+=(curl)
command -v cc >/dev/null || missing+=(gcc)
[[ -e /usr/include/stdio.h ]] || missing+=(libc6-dev)
[[ $SKOPEO == 1 ]] && ! command -v skopeo >/dev/null && missing+=(skopeo)
if (( ${#missing[@]} )); then
    apt_install "${missing[@]}"
    NGINX=${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}
    DREG=${DOCKER_REGISTRY_BIN:-$(command -v docker-registry || echo /usr/bin/docker-registry)}
    # The package may have started its own service (port 5000, /var/lib/docker-registry); this
    # script runs its own instance, so stop the packaged one.
    if [[ " ${missing[*]} " == *" docker-registry "* ]]; then
        if command -v systemctl >/dev/null && systemctl is-active --quiet docker-registry 2>/dev/null; then
            log "stopping the docker-registry service the package started"
            "${SUDO[@]}" systemctl stop docker-registry || true
        elif [[ -x /etc/init.d/docker-registry ]] && service docker-registry status >/dev/null 2>&1; then
            log "stopping the docker-registry service the package started"
            "${SUDO[@]}" service docker-registry stop >/dev/null 2>&1 || true
        fi
    fi
fi
[[ -x $NGINX ]] || die "nginx not found at $NGINX"
[[ -x $DREG ]] || die "docker-registry not found at $DREG"
[[ $SKOPEO == 1 ]] && ! command -v skopeo >/dev/null && die "skopeo is not installed (BENCH_SKOPEO=0 skips that part)"

ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true

# --- Build -------------------------------------------------------------------------
SWIFT_VERSION=""
if [[ -n ${SWREGISTRY_BIN:-} ]]; then
    BIN=$SWREGISTRY_BIN
else
    BIN=$(swregistry_bin)
    SWIFT_VERSION=$( (swift --version 2>&1 || true) | grep -m1 -i 'swift version' || true)
fi
[[ -x $BIN ]] || die "swregistry binary not found or not executable: $BIN"

# --- Temp dir and cleanup --------------------------------------------------------
TMP=$(mktemp -d /tmp/swregistry-regbench.XXXXXX)
chmod 755 "$TMP"
STORE_ROOT=""
SW_PID=""
DR_PID=""
NGINX_PID=""
SINK_PID=""
LOAD_PID=""
SAMPLER_PID=""
SW_EXIT=""

# Sends signal $2 to pid $1 (a child of this shell), waits up to $3 seconds, then SIGKILLs.
# Sets STOP_RC to the exit status. (Not usable in $(...): a subshell cannot wait for it.)
STOP_RC=""

cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    [[ -n $SAMPLER_PID ]] && stop_pid "$SAMPLER_PID" TERM 2
    [[ -n $LOAD_PID ]] && stop_pid "$LOAD_PID" TERM 5
    [[ -n $SW_PID ]] && stop_pid "$SW_PID" TERM 10
    [[ -n $DR_PID ]] && stop_pid "$DR_PID" TERM 10
    [[ -n $NGINX_PID ]] && stop_pid "$NGINX_PID" TERM 10
    [[ -n $SINK_PID ]] && stop_pid "$SINK_PID" TERM 5
    [[ -n $STORE_ROOT && $STORE_ROOT != "$TMP"* ]] && rm -rf "$STORE_ROOT"
    if [[ $KEEP_TMP == 1 || $rc != 0 ]]; then
        # The big files are not worth keeping: the logs and raw outputs are.
        rm -rf "$TMP/data/big.bin" "$TMP/nginx/html/big.bin" ${STORE_ROOT:+"$STORE_ROOT"} \
            "$TMP/image" "$TMP/pull-"* 2>/dev/null
        log "kept $TMP (logs, configs, raw outputs; big data removed)"
    else
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The registries' storage: in the temp directory, or under BENCH_STORAGE_DIR.
STORE_ROOT=$TMP/storage
if [[ -n ${BENCH_STORAGE_DIR:-} ]]; then
    [[ -d $BENCH_STORAGE_DIR ]] || die "BENCH_STORAGE_DIR $BENCH_STORAGE_DIR is not a folder"
    STORE_ROOT=$(mktemp -d "$BENCH_STORAGE_DIR/swregistry-regbench-storage.XXXXXX")
fi
mkdir -p "$STORE_ROOT"

# --- Load generator for HEAD ------------------------------------------------------------
# wrk 4.1 cannot measure HEAD: its parser waits for the Content-Length bytes a HEAD response
# announces but never sends. bench/httpload.c is a small wrk-like client that knows the method.
HTTPLOAD=$TMP/httpload
cc -O2 -pthread -o "$HTTPLOAD" "$SCRIPT_DIR/httpload.c" || die "could not compile bench/httpload.c"
# The upload reference: a server that discards bodies (what curl and loopback TCP can carry).
UPLOAD_SINK=$TMP/upload_sink
cc -O2 -o "$UPLOAD_SINK" "$SCRIPT_DIR/upload_sink.c" || die "could not compile bench/upload_sink.c"

# Four distinct free loopback ports (all sockets are open while choosing).
read -r SW_PORT DR_PORT NGINX_PORT SINK_PORT < <(free_ports 4)
SW=http://127.0.0.1:$SW_PORT
DR=http://127.0.0.1:$DR_PORT
NG=http://127.0.0.1:$NGINX_PORT
SINK=http://127.0.0.1:$SINK_PORT

# --- Test data -------------------------------------------------------------------------
DATA=$TMP/data
mkdir -p "$DATA"
log "generating $BIG_MIB MiB of random data"
head -c "${BIG_MIB}M" /dev/urandom > "$DATA/big.bin"
read -r BIG_DIGEST SHA_SECONDS < <(python3 "$SCRIPT_DIR/make_test_data.py" hash "$DATA/big.bin")
log "big blob $BIG_DIGEST (hashlib sha256: ${SHA_SECONDS}s)"
declare -A BLOB_FILE=() BLOB_SIZE=()
BLOBS=()
while read -r kind file digest size; do
    if [[ $kind == blob ]]; then
        BLOBS+=("$digest"); BLOB_FILE[$digest]=$file; BLOB_SIZE[$digest]=$size
    else
        MANIFEST_FILE=$file; MANIFEST_DIGEST=$digest; MANIFEST_SIZE=$size
    fi
done < <(python3 "$SCRIPT_DIR/make_test_data.py" small "$DATA/small")
MIB_DIGEST=${BLOBS[1]}   # the 1 MiB layer
[[ ${BLOB_SIZE[$MIB_DIGEST]} == 1048576 ]] || die "test data: unexpected layer order"
DISK_SECONDS=""
if [[ $DISK_PROBE == 1 ]]; then
    log "disk probe: dd $BIG_MIB MiB conv=fsync"
    sync
    start=$EPOCHREALTIME
    dd if=/dev/zero of="$STORE_ROOT/ddprobe" bs=1M count="$BIG_MIB" conv=fsync status=none
    DISK_SECONDS=$(python3 -c "print('%.3f' % ($EPOCHREALTIME - $start))")
    rm -f "$STORE_ROOT/ddprobe"
fi

# --- nginx -------------------------------------------------------------------------------
NGX=$TMP/nginx
mkdir -p "$NGX/html" "$NGX/logs"
head -c 1024 /dev/zero | tr '\0' 'x' > "$NGX/html/1k.bin"
cp "${BLOB_FILE[$MIB_DIGEST]}" "$NGX/html/1m.bin"
ln "$DATA/big.bin" "$NGX/html/big.bin"    # the same file (inode) the registries get pushed
USER_LINE=""
(( EUID == 0 )) && USER_LINE="user root root;"
cat > "$NGX/nginx.conf" <<EOF
# Written by bench/registry.sh (same settings as bench/http.sh).
$USER_LINE
daemon off;
master_process on;
worker_processes $THREADS;
pid $NGX/nginx.pid;
error_log $NGX/logs/error.log warn;

events {
    use epoll;
    worker_connections 4096;
}

http {
    access_log off;
    server_tokens off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    keepalive_timeout 600s;
    open_file_cache max=1000 inactive=60s;
    open_file_cache_valid 60s;
    default_type application/octet-stream;

    server {
        listen 127.0.0.1:$NGINX_PORT backlog=4096;
        root $NGX/html;
        location = /healthz { return 200 'ok'; }
        location / { }
    }
}
EOF
"$NGINX" -t -q -p "$NGX" -e "$NGX/logs/error.log" -c "$NGX/nginx.conf" \
    || die "nginx config test failed (see $NGX/nginx.conf)"

# --- docker-registry ---------------------------------------------------------------------
SW_STORE=$STORE_ROOT/swregistry
DR_STORE=$STORE_ROOT/docker-registry
mkdir -p "$SW_STORE" "$DR_STORE"
docker_registry_config "$DR_STORE" "$DR_PORT" > "$TMP/docker-registry.yml"

# --- Start servers ---------------------------------------------------------------------
log "starting swregistry on 127.0.0.1:$SW_PORT ($BIN)"
"$BIN" serve --address "127.0.0.1:$SW_PORT" --storage "$SW_STORE" --log-level warning \
    --threads "$THREADS" >"$TMP/swregistry.log" 2>&1 &
SW_PID=$!
log "starting docker-registry on 127.0.0.1:$DR_PORT ($DREG)"
"$DREG" serve "$TMP/docker-registry.yml" >"$TMP/docker-registry.log" 2>&1 &
DR_PID=$!
log "starting nginx on 127.0.0.1:$NGINX_PORT"
"$NGINX" -p "$NGX" -e "$NGX/logs/error.log" -c "$NGX/nginx.conf" >"$NGX/logs/stdout.log" 2>&1 &
NGINX_PID=$!
"$UPLOAD_SINK" "$SINK_PORT" >"$TMP/upload_sink.log" 2>&1 &
SINK_PID=$!
wait_ready swregistry "$SW_PID" "$SW/v2/" "$TMP/swregistry.log"
wait_ready docker-registry "$DR_PID" "$DR/v2/" "$TMP/docker-registry.log"
wait_ready nginx "$NGINX_PID" "$NG/healthz" "$NGX/logs/error.log"
wait_ready upload_sink "$SINK_PID" "$SINK/" "$TMP/upload_sink.log"

# --- Registry API helpers (curl) -------------------------------------------------------
# Value of header $2 in the curl -D dump $1 (last occurrence, CR stripped).
header_of() {
    awk -v n="$2" '{ sub(/\r$/, ""); i = index($0, ":");
        if (i && tolower(substr($0, 1, i - 1)) == tolower(n)) { v = substr($0, i + 1); sub(/^[ \t]+/, "", v); last = v } }
        END { print last }' "$1"
}
# An upload Location (absolute, as distribution sends it, or a path) made absolute against base $1.
absolute() { if [[ $2 == http://* || $2 == https://* ]]; then echo "$2"; else echo "$1$2"; fi; }
# URL $1 with query parameter $2 appended.
with_param() { if [[ $1 == *\?* ]]; then echo "$1&$2"; else echo "$1?$2"; fi; }

# One curl request with the body read from file $3 ("" = no body). Sets REQ_CODE and REQ_TIME
# (curl's time_total); headers in $TMP/req.h.
# The body is streamed from stdin with a Content-Length (`-T -`, Transfer-Encoding removed):
# `--data-binary @file` loads the whole file into memory first and fails at 1 GiB ("out of
# memory"), and `-T FILE` appends the file name to a URL ending in `/`. `Expect:` is cleared: curl
# would otherwise wait for `100 Continue` before big bodies, and registry clients (Go's) don't ask.
REQ_CODE="" REQ_TIME=""
req() { # method url bodyfile [curl args...]
    local method=$1 url=$2 file=$3 out
    shift 3
    if [[ -n $file ]]; then
        out=$(curl -sS -X "$method" -H 'Expect:' -D "$TMP/req.h" -o "$TMP/req.body" -w '%{http_code} %{time_total}' \
            -H 'Transfer-Encoding:' -H "Content-Length: $(stat -c %s "$file")" -T - "$@" "$url" < "$file") \
            || { REQ_CODE=000; REQ_TIME=0; return 0; }
    else
        out=$(curl -sS -X "$method" -H 'Expect:' -D "$TMP/req.h" -o "$TMP/req.body" -w '%{http_code} %{time_total}' \
            -H 'Content-Length: 0' "$@" "$url") || { REQ_CODE=000; REQ_TIME=0; return 0; }
    fi
    read -r REQ_CODE REQ_TIME <<<"$out"
}

declare -A SINGLE_POST=()   # peer -> 1 if `POST ?digest=` with the body completes the upload

# Uploads file $4 (digest $5) to repository $3 of the registry at $2 (peer $1), mode $6:
#   mono   POST ?digest= with the body (201), or, where the registry ignores a body on POST
#          (docker-registry 2.8 answers 202), POST and then PUT ?digest= with the body
#   patch  POST, PATCH with the body (no Content-Range: one streamed chunk), PUT ?digest=
# Sets UP_SECONDS (sum of curl's time_total over the requests); returns 1 with UP_ERR set on failure.
UP_SECONDS="" UP_ERR=""
upload_blob() {
    local peer=$1 base=$2 repo=$3 file=$4 digest=$5 mode=$6 loc total got
    local ct=(-H 'Content-Type: application/octet-stream')
    UP_ERR=""
    if [[ $mode == mono && ${SINGLE_POST[$peer]} == 1 ]]; then
        req POST "$base/v2/$repo/blobs/uploads/?digest=$digest" "$file" "${ct[@]}"
        total=$REQ_TIME
        [[ $REQ_CODE == 201 ]] || { UP_ERR="POST ?digest= answered $REQ_CODE"; return 1; }
    else
        req POST "$base/v2/$repo/blobs/uploads/" ""
        total=$REQ_TIME
        [[ $REQ_CODE == 202 ]] || { UP_ERR="POST answered $REQ_CODE"; return 1; }
        loc=$(absolute "$base" "$(header_of "$TMP/req.h" Location)")
        if [[ $mode == patch ]]; then
            req PATCH "$loc" "$file" "${ct[@]}"
            total="$total + $REQ_TIME"
            [[ $REQ_CODE == 202 ]] || { UP_ERR="PATCH answered $REQ_CODE"; return 1; }
            loc=$(absolute "$base" "$(header_of "$TMP/req.h" Location)")
            req PUT "$(with_param "$loc" "digest=$digest")" ""
        else
            req PUT "$(with_param "$loc" "digest=$digest")" "$file" "${ct[@]}"
        fi
        total="$total + $REQ_TIME"
        [[ $REQ_CODE == 201 ]] || { UP_ERR="PUT ?digest= answered $REQ_CODE"; return 1; }
    fi
    got=$(header_of "$TMP/req.h" Docker-Content-Digest)
    [[ $got == "$digest" ]] || { UP_ERR="Docker-Content-Digest is '$got', expected $digest"; return 1; }
    UP_SECONDS=$(python3 -c "print('%.6f' % ($total))")
}

REGISTRIES=(swregistry docker-registry)
declare -A BASE=([swregistry]=$SW [docker-registry]=$DR)
declare -A PID_OF=([swregistry]=$SW_PID [docker-registry]=$DR_PID)

# Does `POST ?digest=` with a body complete the upload? (The OCI spec's single-POST upload;
# docker-registry 2.8 ignores the body and opens a session.)
probe=${BLOBS[4]}
for peer in "${REGISTRIES[@]}"; do
    req POST "${BASE[$peer]}/v2/bench/probe/blobs/uploads/?digest=$probe" "${BLOB_FILE[$probe]}" \
        -H 'Content-Type: application/octet-stream'
    case $REQ_CODE in
        201) SINGLE_POST[$peer]=1 ;;
        202) SINGLE_POST[$peer]=0; log "$peer ignores the body of POST ?digest= (202): monolithic uploads use POST + PUT ?digest= with the body" ;;
        *) die "$peer: POST ?digest= answered $REQ_CODE" ;;
    esac
done

# --- Small test data: the same image in both registries --------------------------------
REPO=bench/small
TAG=v1
for peer in "${REGISTRIES[@]}"; do
    for d in "${BLOBS[@]}"; do
        upload_blob "$peer" "${BASE[$peer]}" "$REPO" "${BLOB_FILE[$d]}" "$d" mono \
            || die "$peer: pushing blob $d: $UP_ERR"
    done
    req PUT "${BASE[$peer]}/v2/$REPO/manifests/$TAG" "$MANIFEST_FILE" \
        -H 'Content-Type: application/vnd.oci.image.manifest.v1+json'
    [[ $REQ_CODE == 201 ]] || die "$peer: PUT manifest answered $REQ_CODE: $(cat "$TMP/req.body")"
    log "pushed $REPO:$TAG to $peer (${#BLOBS[@]} blobs, manifest $MANIFEST_SIZE bytes)"
done

ACCEPT='Accept: application/vnd.oci.image.manifest.v1+json'
# Sanity: every URL under test answers what it should, for GET and HEAD.
# check URL EXPECTED_SIZE: GET and HEAD must both answer 200 with Content-Length EXPECTED_SIZE (and
# GET that many bytes). Leaves the last response's headers in $TMP/check.h.
check_url() {
    local url=$1 want=$2 method out code size
    for method in GET HEAD; do
        local how=(-X GET)
        [[ $method == HEAD ]] && how=(-I)
        out=$(curl -sS "${how[@]}" -H "$ACCEPT" -D "$TMP/check.h" -o /dev/null \
            -w '%{http_code} %{size_download}' "$url") || die "$method $url failed"
        read -r code size <<<"$out"
        [[ $code == 200 ]] || die "$method $url answered $code"
        [[ $(header_of "$TMP/check.h" Content-Length) == "$want" ]] \
            || die "$method $url: Content-Length is '$(header_of "$TMP/check.h" Content-Length)', expected $want"
        [[ $method == HEAD || $size == "$want" ]] || die "GET $url returned $size bytes, expected $want"
    done
}
for peer in "${REGISTRIES[@]}"; do
    b=${BASE[$peer]}
    check_url "$b/v2/$REPO/manifests/$TAG" "$MANIFEST_SIZE"
    [[ $(header_of "$TMP/check.h" Docker-Content-Digest) == "$MANIFEST_DIGEST" ]] \
        || die "$peer: HEAD manifest: wrong Docker-Content-Digest"
    [[ $(header_of "$TMP/check.h" Content-Type) == application/vnd.oci.image.manifest.v1+json* ]] \
        || log "warning: $peer: manifest Content-Type is '$(header_of "$TMP/check.h" Content-Type)'"
    check_url "$b/v2/$REPO/blobs/$MIB_DIGEST" 1048576
done
check_url "$NG/1k.bin" 1024
check_url "$NG/1m.bin" 1048576

# --- Request-rate tests ------------------------------------------------------------------
RESULTS=$TMP/results.tsv   # test shape peer round rps p99_ms socket_errors non2xx
: > "$RESULTS"
cat > "$TMP/manifest.lua" <<'EOF'
-- GET with the Accept header a client sends for an OCI manifest (nginx gets it too).
wrk.method = "GET"
wrk.headers["Accept"] = "application/vnd.oci.image.manifest.v1+json"
EOF

parse_httpload() { # file -> "rps p99_ms errors non2xx"
    awk '/^requests=/ { for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } found = 1 }
        END { if (!found) exit 1; printf "%s %s %d %d\n", v["rps"], v["p99_ms"], v["errors"], v["non2xx"] }' "$1"
}

# Runs one load: tool (wrk|httpload), method, url, threads, conns, seconds, outfile.
run_load() {
    local tool=$1 method=$2 url=$3 t=$4 c=$5 secs=$6 out=$7
    # In the background + wait, so that SIGINT/SIGTERM traps run at once.
    if [[ $tool == wrk ]]; then
        timeout $((secs + 30)) wrk "-t$t" "-c$c" "-d${secs}s" --latency -s "$TMP/manifest.lua" "$url" >"$out" 2>&1 &
    else
        timeout $((secs + 30)) "$HTTPLOAD" -t "$t" -c "$c" -d "$secs" -m "$method" -H "$ACCEPT" "$url" >"$out" 2>&1 &
    fi
    LOAD_PID=$!
    wait "$LOAD_PID" || { LOAD_PID=""; die "$tool $method $url failed (output: $out)"; }
    LOAD_PID=""
}

# test_rate TEST TOOL METHOD "SHAPES" peer=url ...
shape_index=0
test_rate() {
    local test=$1 tool=$2 method=$3 shapes=$4 shape t c round k peer url out parsed
    shift 4
    local peers=() urls=()
    for arg in "$@"; do peers+=("${arg%%=*}"); urls+=("${arg#*=}"); done
    local n=${#peers[@]}
    for shape in $shapes; do
        t=${shape%%:*}
        c=${shape##*:}
        if (( WARMUP > 0 )); then
            for ((k = 0; k < n; k++)); do
                log "warm-up   $test -t$t -c$c ${WARMUP}s ${peers[k]}"
                run_load "$tool" "$method" "${urls[k]}" "$t" "$c" "$WARMUP" "$TMP/warmup-$test-${peers[k]}-$t-$c.txt"
            done
        fi
        for ((round = 1; round <= ROUNDS; round++)); do
            for ((j = 0; j < n; j++)); do
                k=$(( (j + round + shape_index) % n ))   # rotate who goes first
                peer=${peers[k]}
                out=$TMP/$tool-$test-$peer-$t-$c-$round.txt
                log "measure   $test -t$t -c$c ${DURATION}s $peer (round $round/$ROUNDS, $tool)"
                run_load "$tool" "$method" "${urls[k]}" "$t" "$c" "$DURATION" "$out"
                if [[ $tool == wrk ]]; then parsed=$(parse_wrk "$out"); else parsed=$(parse_httpload "$out"); fi \
                    || die "could not parse $out"
                echo "$test -t$t-c$c $peer $round $parsed" >> "$RESULTS"
                log "          $(awk '{printf "%s req/s, p99 %s ms, errors %s, non-2xx %s", $1, $2, $3, $4}' <<<"$parsed")"
            done
        done
        shape_index=$((shape_index + 1))
    done
}

MANIFEST_PATH=/v2/$REPO/manifests/$TAG
BLOB_PATH=/v2/$REPO/blobs/$MIB_DIGEST
test_rate manifest-get wrk GET "$SHAPES" \
    "swregistry=$SW$MANIFEST_PATH" "docker-registry=$DR$MANIFEST_PATH" "nginx=$NG/1k.bin"
test_rate manifest-head httpload HEAD "$SHAPES" \
    "swregistry=$SW$MANIFEST_PATH" "docker-registry=$DR$MANIFEST_PATH" "nginx=$NG/1k.bin"
test_rate blob-head httpload HEAD "$SHAPES" \
    "swregistry=$SW$BLOB_PATH" "docker-registry=$DR$BLOB_PATH"
test_rate blob-get-1m wrk GET "$BLOB_SHAPE" \
    "swregistry=$SW$BLOB_PATH" "docker-registry=$DR$BLOB_PATH" "nginx=$NG/1m.bin"

# --- Big transfers -------------------------------------------------------------------------
BIG=$TMP/big.tsv   # kind peer run bytes_per_second
RSS=$TMP/rss.tsv   # phase peer run baseline_kb peak_kb samples
: > "$BIG"
: > "$RSS"

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
# Samples VmRSS of pid $1 every 100 ms into file $2 until stop_sampler.
start_sampler() {
    local pid=$1 file=$2
    ( while awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null; do sleep 0.1; done ) > "$file" &
    SAMPLER_PID=$!
}
stop_sampler() { stop_pid "$SAMPLER_PID" TERM 2; SAMPLER_PID=""; }
record_rss() { # phase peer run baseline file
    local peak count
    peak=$(sort -n "$5" | tail -n1)
    count=$(wc -l < "$5")
    echo "$1 $2 $3 $4 $(( ${peak:-0} > $4 ? ${peak:-0} : $4 )) $count" >> "$RSS"
}

# Removes the big blob's content from a registry's storage, so that the next upload really
# writes it (both registries skip the final move when the content is already stored).
drop_big_blob() { # peer
    local hex=${BIG_DIGEST#sha256:}
    if [[ $1 == swregistry ]]; then
        rm -f "$SW_STORE/blobs/sha256/${hex:0:2}/$hex"
    else
        rm -rf "$DR_STORE/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex"
    fi
}

declare -A BIG_REPO=()
for mode in mono patch; do
    for ((run = 1; run <= BIG_RUNS; run++)); do
        order=(swregistry docker-registry sink)
        (( run % 3 == 2 )) && order=(docker-registry sink swregistry)
        (( run % 3 == 0 )) && order=(sink swregistry docker-registry)
        for peer in "${order[@]}"; do
            if [[ $peer == sink ]]; then   # the reference: one request with the body, discarded
                req POST "$SINK/upload" "$DATA/big.bin" -H 'Content-Type: application/octet-stream'
                [[ $REQ_CODE == 201 ]] || die "upload to the sink answered $REQ_CODE"
                bps=$(python3 -c "print('%.0f' % ($BIG_BYTES / $REQ_TIME))")
                echo "upload-$mode sink $run $bps" >> "$BIG"
                log "upload $BIG_MIB MiB -> sink (run $run/$BIG_RUNS): ${REQ_TIME}s, $(python3 -c "print('%.2f' % ($bps / 1e9))") GB/s"
                continue
            fi
            repo=bench/upload-$mode-$run
            drop_big_blob "$peer"
            sync    # start with no dirty pages from the previous run
            pid=${PID_OF[$peer]}
            base_kb=$(rss_kb "$pid")
            start_sampler "$pid" "$TMP/rss-upload-$mode-$peer-$run.txt"
            upload_blob "$peer" "${BASE[$peer]}" "$repo" "$DATA/big.bin" "$BIG_DIGEST" "$mode" \
                || { stop_sampler; die "$peer: $mode upload of $BIG_MIB MiB: $UP_ERR"; }
            stop_sampler
            record_rss "upload-$mode" "$peer" "$run" "$base_kb" "$TMP/rss-upload-$mode-$peer-$run.txt"
            bps=$(python3 -c "print('%.0f' % ($BIG_BYTES / $UP_SECONDS))")
            echo "upload-$mode $peer $run $bps" >> "$BIG"
            BIG_REPO[$peer]=$repo
            log "upload $mode $BIG_MIB MiB -> $peer (run $run/$BIG_RUNS): ${UP_SECONDS}s, $(python3 -c "print('%.2f' % ($bps / 1e9))") GB/s"
        done
    done
done
sync

for ((run = 1; run <= BIG_RUNS; run++)); do
    order=(swregistry docker-registry nginx)
    (( run % 3 == 2 )) && order=(docker-registry nginx swregistry)
    (( run % 3 == 0 )) && order=(nginx swregistry docker-registry)
    for peer in "${order[@]}"; do
        if [[ $peer == nginx ]]; then
            url=$NG/big.bin
        else
            url=${BASE[$peer]}/v2/${BIG_REPO[$peer]}/blobs/$BIG_DIGEST
        fi
        # RSS sampled for the registries only (nginx is a master plus workers, and not under test).
        if [[ $peer != nginx ]]; then
            pid=${PID_OF[$peer]}
            base_kb=$(rss_kb "$pid")
            start_sampler "$pid" "$TMP/rss-get-$peer-$run.txt"
        fi
        out=$(curl -sS -o /dev/null -w '%{http_code} %{size_download} %{speed_download}' "$url") \
            || { die "GET $BIG_MIB MiB from $peer failed"; }
        if [[ $peer != nginx ]]; then
            stop_sampler
            record_rss get "$peer" "$run" "$base_kb" "$TMP/rss-get-$peer-$run.txt"
        fi
        read -r code size speed <<<"$out"
        [[ $code == 200 && $size == "$BIG_BYTES" ]] || die "GET $BIG_MIB MiB from $peer: status $code, $size bytes"
        echo "get $peer $run ${speed%.*}" >> "$BIG"
        log "GET $BIG_MIB MiB <- $peer (run $run/$BIG_RUNS): $(python3 -c "print('%.2f' % (${speed%.*} / 1e9))") GB/s"
    done
done

# --- skopeo (optional) ----------------------------------------------------------------------
SKOPEO_TSV=$TMP/skopeo.tsv   # peer op seconds bytes
: > "$SKOPEO_TSV"
SKOPEO_VERSION=""
if [[ $SKOPEO == 1 ]]; then
    SKOPEO_VERSION=$(skopeo --version 2>&1 | head -n1)
    log "skopeo: writing a $SKOPEO_LAYERS-layer image ($SKOPEO_LAYERS x $SKOPEO_LAYER_MIB MiB)"
    read -r _ IMAGE_BYTES < <(python3 "$SCRIPT_DIR/make_test_data.py" image "$TMP/image" "$SKOPEO_LAYERS" "$SKOPEO_LAYER_MIB")
    for peer in "${REGISTRIES[@]}"; do
        # skopeo (containers/image) always tries https first, even with --*-tls-verify=false, and
        # falls back to http when that fails. Time what that first attempt costs against a
        # plain-HTTP port: it is paid once per skopeo run, and is no part of the transfer.
        probe=$(curl -sk -o /dev/null --max-time 60 -w '%{time_total}' "https://127.0.0.1:${BASE[$peer]##*:}/v2/" || true)
        echo "$peer tlsprobe ${probe:-0} 0" >> "$SKOPEO_TSV"
        log "TLS handshake attempt on $peer's plain-HTTP port: failed after ${probe:-?}s"
        # The fixed cost of one skopeo run against this registry: start-up, the https attempt, the
        # fallback to http and one manifest GET. The report subtracts it from the copies.
        start=$EPOCHREALTIME
        timeout 120 skopeo --insecure-policy inspect --raw --tls-verify=false \
            "docker://127.0.0.1:${BASE[$peer]##*:}/$REPO:$TAG" >/dev/null 2>"$TMP/skopeo-inspect-$peer.log" \
            || die "skopeo inspect on $peer failed (log: $TMP/skopeo-inspect-$peer.log)"
        secs=$(python3 -c "print('%.3f' % ($EPOCHREALTIME - $start))")
        echo "$peer inspect $secs 0" >> "$SKOPEO_TSV"
        log "skopeo inspect --raw $peer: ${secs}s"
        dest=docker://127.0.0.1:${BASE[$peer]##*:}/bench/skopeo:v1
        start=$EPOCHREALTIME
        timeout 300 skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$TMP/image:v1" "$dest" \
            >"$TMP/skopeo-push-$peer.log" 2>&1 || die "skopeo push to $peer failed (log: $TMP/skopeo-push-$peer.log)"
        secs=$(python3 -c "print('%.3f' % ($EPOCHREALTIME - $start))")
        echo "$peer push $secs $IMAGE_BYTES" >> "$SKOPEO_TSV"
        log "skopeo push -> $peer: ${secs}s"
        start=$EPOCHREALTIME
        timeout 300 skopeo --insecure-policy copy -q --src-tls-verify=false "$dest" "dir:$TMP/pull-$peer" \
            >"$TMP/skopeo-pull-$peer.log" 2>&1 || die "skopeo pull from $peer failed (log: $TMP/skopeo-pull-$peer.log)"
        secs=$(python3 -c "print('%.3f' % ($EPOCHREALTIME - $start))")
        echo "$peer pull $secs $IMAGE_BYTES" >> "$SKOPEO_TSV"
        log "skopeo pull <- $peer: ${secs}s"
        rm -rf "$TMP/pull-$peer"
    done
fi

# --- Shutdown swregistry (it must exit 0 on SIGTERM) -----------------------------------
stop_pid "$SW_PID" TERM 10
SW_EXIT=$STOP_RC
SW_PID=""
[[ $SW_EXIT == 0 ]] || log "warning: swregistry exited with status $SW_EXIT on SIGTERM (log: $TMP/swregistry.log)"

# --- Report ------------------------------------------------------------------------------
export RESULTS BIG RSS SKOPEO_TSV COMMAND NPROC THREADS DURATION WARMUP ROUNDS BIG_MIB BIG_RUNS \
    SHA_SECONDS DISK_SECONDS SW_EXIT SWIFT_VERSION SKOPEO SKOPEO_VERSION SKOPEO_LAYERS SKOPEO_LAYER_MIB \
    MANIFEST_SIZE LOAD_AT_START
export SINGLE_POST_DR=${SINGLE_POST[docker-registry]} SINGLE_POST_SW=${SINGLE_POST[swregistry]}
export NGINX_VERSION=$( ("$NGINX" -v 2>&1 || true) | sed 's/^nginx version: //')
export WRK_VERSION=$( (wrk -v 2>&1 || true) | head -n1 | sed 's/ *Copyright.*//')
export DR_VERSION=$( ("$DREG" --version 2>&1 || true) | head -n1 | sed 's/^[^ ]* //')
export CURL_VERSION=$(curl --version | head -n1 | cut -d' ' -f1-2)
export SW_VERSION=$("$BIN" --version 2>&1 | head -n1 || true)
export CPU_MODEL=$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo)
export OS_NAME=$( (. /etc/os-release && echo "$PRETTY_NAME") 2>/dev/null || echo unknown)
export KERNEL=$(uname -r) DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
export MEM_TOTAL=$(awk '/^MemTotal:/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)
export FS_INFO=$(df -PT "$STORE_ROOT" | awk 'NR == 2 {print $2 " on " $1}')
python3 "$SCRIPT_DIR/registry_report.py"
