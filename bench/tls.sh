#!/usr/bin/env bash
# TLS benchmark (issue 11): the registry over TLS vs nginx with the same certificate and the same OpenSSL, in one run.
#
#   bash bench/tls.sh            (from the repository root)
#
# Measures, peers alternating in each round:
#   1. keep-alive GET req/s: a 1 KiB manifest (`GET /v2/bench/app/manifests/v1`) vs nginx's 1 KiB static file;
#   2. new TLS connections per second: the same requests with `Connection: close` (wrk does not resume sessions,
#      so each one is a full handshake);
#   3. 1 GiB GET throughput: a 1 GiB blob vs nginx's static copy of the same file (a hard link: one page cache),
#      fetched by curl to /dev/null.
# Environment: BENCH_BIN (a built swregistry), BENCH_DURATION (s, default 10), BENCH_ROUNDS (default 3),
# BENCH_THREADS (server threads / nginx workers, default nproc), BENCH_KEEP_TMP=1.
set -euo pipefail
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
source "$SCRIPT_DIR/lib.sh"

DURATION=${BENCH_DURATION:-10}
ROUNDS=${BENCH_ROUNDS:-3}
THREADS=${BENCH_THREADS:-$(nproc)}
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
for tool in wrk curl openssl python3; do command -v $tool >/dev/null || die "$tool is needed"; done
[[ -x $NGINX ]] || die "nginx is needed"

BIN=${BENCH_BIN:-$(swregistry_bin)}

TMP=$(mktemp -d /tmp/swregistry-tls-bench.XXXXXX)
chmod 755 "$TMP"
SW_PID="" NGINX_PID=""
cleanup() {
    local rc=$?
    set +e
    [[ -n $SW_PID ]] && stop_pid "$SW_PID" TERM 10
    [[ -n $NGINX_PID ]] && stop_pid "$NGINX_PID" TERM 10
    if [[ ${BENCH_KEEP_TMP:-0} == 1 || $rc != 0 ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
    exit "$rc"
}
trap cleanup EXIT

# One certificate for both: EC P-256 leaf signed by a throw-away CA.
(cd "$TMP" && {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 2 \
        -subj "/CN=bench CA" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.csr \
        -subj "/CN=localhost" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 \
        -extfile ext 2>/dev/null
})

read -r SW_PORT NGINX_PORT < <(free_ports 2)

mkdir -p "$TMP/storage"
log "starting swregistry serve (TLS) on 127.0.0.1:$SW_PORT"
cat >"$TMP/swregistry.yml" <<EOF
version: 0.1
log: { level: info, accesslog: { disabled: true } }
http:
  addr: 127.0.0.1:$SW_PORT
  threads: $THREADS
  tls: { certificate: $TMP/server.pem, key: $TMP/server.key }
storage: { filesystem: { rootdirectory: $TMP/storage } }
EOF
"$BIN" serve --config "$TMP/swregistry.yml" >"$TMP/sw.out" 2>"$TMP/sw.log" &
SW_PID=$!
CURL=(curl -fsS --cacert "$TMP/ca.pem")
for ((i = 0; i < 100; i++)); do "${CURL[@]}" -o /dev/null "https://localhost:$SW_PORT/v2/" 2>/dev/null && break; sleep 0.1; done
grep 'TLS file bodies' "$TMP/sw.log" >&2 || true

# A 1 KiB manifest and a 1 GiB blob.
SW=https://localhost:$SW_PORT
python3 - "$TMP" <<'PY'
import hashlib, json, sys
tmp = sys.argv[1]
cfg = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
open(tmp + "/config.json", "wb").write(cfg)
m = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
     "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": "sha256:" + hashlib.sha256(cfg).hexdigest(), "size": len(cfg)},
     "layers": [], "annotations": {"pad": ""}}
pad = 1024 - len(json.dumps(m).encode())
m["annotations"]["pad"] = "x" * pad
body = json.dumps(m).encode()
assert len(body) == 1024, len(body)
open(tmp + "/manifest.json", "wb").write(body)
PY
head -c 1024 /dev/zero | tr '\0' 'x' > "$TMP/1k.bin"
log "writing a 1 GiB blob"
head -c $((1 << 30)) /dev/urandom > "$TMP/big.bin"
digest() { echo "sha256:$(sha256sum "$1" | cut -c1-64)"; }
"${CURL[@]}" -o /dev/null -X POST -H 'Content-Type: application/octet-stream' --data-binary @"$TMP/config.json" \
    "$SW/v2/bench/app/blobs/uploads/?digest=$(digest "$TMP/config.json")"
# Streamed from the file (curl -T would append the file name to a URL ending in '/').
python3 - "$TMP" "$SW_PORT" "$(digest "$TMP/big.bin")" <<'PY'
import http.client, os, ssl, sys
tmp, port, digest = sys.argv[1], int(sys.argv[2]), sys.argv[3]
context = ssl.create_default_context(cafile=tmp + "/ca.pem")
connection = http.client.HTTPSConnection("localhost", port, context=context)
with open(tmp + "/big.bin", "rb") as f:
    connection.request("POST", "/v2/bench/app/blobs/uploads/?digest=" + digest, body=f,
                       headers={"Content-Type": "application/octet-stream",
                                "Content-Length": str(os.path.getsize(tmp + "/big.bin"))})
    response = connection.getresponse()
    response.read()
    assert response.status == 201, response.status
PY
"${CURL[@]}" -o /dev/null -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
    --data-binary @"$TMP/manifest.json" "$SW/v2/bench/app/manifests/v1"
BIG_DIGEST=$(digest "$TMP/big.bin")
rm "$TMP/big.bin"
NGX=$TMP/nginx
mkdir -p "$NGX/html" "$NGX/logs"
cp "$TMP/1k.bin" "$NGX/html/1k.bin"
ln "$TMP/storage/blobs/sha256/${BIG_DIGEST:7:2}/${BIG_DIGEST:7}/data" "$NGX/html/big.bin" 2>/dev/null \
    || ln "$(find "$TMP/storage/blobs" -type f -size +1000000k | head -n1)" "$NGX/html/big.bin"

USER_LINE=""
(( EUID == 0 )) && USER_LINE="user root root;"
cat > "$NGX/nginx.conf" <<NGINX
$USER_LINE
daemon off;
worker_processes $THREADS;
pid $NGX/nginx.pid;
error_log $NGX/logs/error.log warn;
events { use epoll; worker_connections 4096; }
http {
    access_log off;
    server_tokens off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 600s;
    keepalive_requests 1000000;
    open_file_cache max=64 inactive=600s;
    client_body_temp_path $NGX/tmp; proxy_temp_path $NGX/tmp; fastcgi_temp_path $NGX/tmp;
    uwsgi_temp_path $NGX/tmp; scgi_temp_path $NGX/tmp;
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:$NGINX_PORT ssl backlog=4096;
        ssl_certificate $TMP/server.pem;
        ssl_certificate_key $TMP/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        root $NGX/html;
    }
}
NGINX
log "starting nginx on 127.0.0.1:$NGINX_PORT"
"$NGINX" -p "$NGX" -e "$NGX/logs/error.log" -c "$NGX/nginx.conf" >"$NGX/logs/stdout.log" 2>&1 &
NGINX_PID=$!
for ((i = 0; i < 100; i++)); do "${CURL[@]}" -o /dev/null "https://localhost:$NGINX_PORT/1k.bin" 2>/dev/null && break; sleep 0.1; done

SW_SMALL="$SW/v2/bench/app/manifests/v1"
NG_SMALL="https://localhost:$NGINX_PORT/1k.bin"
[[ $("${CURL[@]}" -H 'Accept: application/vnd.oci.image.manifest.v1+json' -w '%{size_download} %{ssl_verify_result}' -o /dev/null "$SW_SMALL") == "1024 0" ]] || die "manifest GET over TLS"
[[ $("${CURL[@]}" -w '%{size_download}' -o /dev/null "https://localhost:$NGINX_PORT/big.bin") == $((1 << 30)) ]] || die "nginx big.bin"
cat > "$TMP/accept.lua" <<'LUA'
wrk.headers["Accept"] = "application/vnd.oci.image.manifest.v1+json"
LUA
cat > "$TMP/close.lua" <<'LUA'
wrk.headers["Accept"] = "application/vnd.oci.image.manifest.v1+json"
wrk.headers["Connection"] = "close"
LUA

RESULTS=$TMP/results.tsv
: > "$RESULTS"
wrk_rps() { # name url script args...
    local name=$1 url=$2 script=$3; shift 3
    local out=$TMP/wrk-$name-$RANDOM.txt
    wrk "$@" -d"${DURATION}s" -s "$script" "$url" > "$out" 2>&1 || die "wrk $name failed ($out)"
    local rps errors
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
    errors=$(awk '/Socket errors:/ {gsub(/,/, ""); print $4 + $6 + $8 + $10} /Non-2xx/ {print "non2xx:" $NF}' "$out" | tr '\n' ' ')
    echo "$rps" "${errors:-0}"
}
curl_speed() { # url -> bytes/s
    "${CURL[@]}" -o /dev/null -w '%{speed_download}' "$1"
}
for ((round = 1; round <= ROUNDS; round++)); do
    peers=(swregistry nginx)
    (( round % 2 == 0 )) && peers=(nginx swregistry)
    for peer in "${peers[@]}"; do
        if [[ $peer == swregistry ]]; then small=$SW_SMALL; big="$SW/v2/bench/app/blobs/$BIG_DIGEST"; else small=$NG_SMALL; big="https://localhost:$NGINX_PORT/big.bin"; fi
        for shape in "1 50" "2 200"; do
            read -r t c <<<"$shape"
            log "round $round $peer keep-alive -t$t -c$c"
            echo "keepalive-t$t-c$c $peer $(wrk_rps "$peer-ka" "$small" "$TMP/accept.lua" -t"$t" -c"$c")" >> "$RESULTS"
        done
        log "round $round $peer new connections -t2 -c32"
        echo "newconn-t2-c32 $peer $(wrk_rps "$peer-nc" "$small" "$TMP/close.lua" -t2 -c32)" >> "$RESULTS"
        log "round $round $peer 1 GiB GET"
        echo "1GiB $peer $(curl_speed "$big")" >> "$RESULTS"
    done
done

export RESULTS ROUNDS DURATION THREADS
export OPENSSL_VERSION=$(openssl version) NGINX_VERSION=$("$NGINX" -v 2>&1 | sed 's/^nginx version: //')
export KTLS_LINE=$(grep -o 'TLS file bodies: [^)]*)' "$TMP/sw.log" | head -n1)
export KERNEL=$(uname -r) DATE=$(date -u '+%Y-%m-%d %H:%M UTC') NPROC=$(nproc)
export CPU_MODEL=$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo)
python3 - <<'PY'
import os, statistics
env = os.environ
rows = {}
for line in open(env["RESULTS"]):
    parts = line.split()
    rows.setdefault((parts[0], parts[1]), []).append((float(parts[2]), " ".join(parts[3:])))
order = ["keepalive-t1-c50", "keepalive-t2-c200", "newconn-t2-c32", "1GiB"]
targets = {"keepalive-t1-c50": 0.8, "keepalive-t2-c200": 0.8, "newconn-t2-c32": 0.8, "1GiB": 0.9}
label = {"keepalive-t1-c50": "keep-alive 1 KiB GET req/s, wrk -t1 -c50",
         "keepalive-t2-c200": "keep-alive 1 KiB GET req/s, wrk -t2 -c200",
         "newconn-t2-c32": "new TLS connections/s (Connection: close), wrk -t2 -c32",
         "1GiB": "1 GiB GET, MB/s (curl, one connection)"}
print("### TLS: swregistry vs nginx — %s" % env["DATE"])
print()
print("- Command: `bash bench/tls.sh` (BENCH_DURATION=%s BENCH_ROUNDS=%s BENCH_THREADS=%s)" % (env["DURATION"], env["ROUNDS"], env["THREADS"]))
print("- Machine: nproc=%s, %s, Linux %s; %s; nginx %s (same certificate: EC P-256; same libssl)" % (env["NPROC"], env["CPU_MODEL"], env["KERNEL"], env["OPENSSL_VERSION"], env["NGINX_VERSION"]))
print("- swregistry: `swregistry serve` with http.tls.* set, access log off; %s" % (env.get("KTLS_LINE") or "file-body path not logged"))
print("- Median of %s round(s), peers alternating; TLS 1.3 (wrk and curl default)" % env["ROUNDS"])
print()
print("| measure | swregistry | nginx | ratio | target |")
print("|---|---:|---:|---:|---:|")
for key in order:
    sw = rows.get((key, "swregistry"), [])
    ng = rows.get((key, "nginx"), [])
    if not sw or not ng:
        continue
    scale = 1e6 if key == "1GiB" else 1
    s = statistics.median(v for v, _ in sw) / scale
    n = statistics.median(v for v, _ in ng) / scale
    ratio = s / n if n else 0
    fmt = "%.0f" if key != "1GiB" else "%.0f"
    print("| %s | %s | %s | %.2f | ≥ %.1f %s |" % (label[key], fmt % s, fmt % n, ratio, targets[key], "pass" if ratio >= targets[key] else "FAIL"))
errs = [(k, p, e) for (k, p), vs in rows.items() for _, e in vs if e and e not in ("0", "")]
if errs:
    print()
    print("Errors reported by wrk: " + "; ".join("%s %s: %s" % e for e in errs))
PY
