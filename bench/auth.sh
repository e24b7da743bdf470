#!/usr/bin/env bash
# Authenticated against anonymous manifest GET: the same swregistry binary served open, and with htpasswd + the
# built-in token service (every request carries a Bearer token, verified once and then cached), alternating rounds,
# same wrk shapes, one run. Prints req/s and the server's CPU time per request (utime+stime from /proc).
# A third variant, "padded", is anonymous with a dummy header as long as the Authorization one: wrk shares the two
# cores, so the bytes of a ~1 KiB token alone cost throughput; padded vs bearer isolates what checking costs.
# Usage: bash bench/auth.sh [SWREGISTRY_BINARY] [ROUNDS]     (default: a release build of this checkout, 3 rounds)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
BIN=${1:-}
ROUNDS=${2:-3}
[[ -n $BIN ]] || BIN=$(swregistry_bin)
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 1; }
command -v htpasswd >/dev/null || { echo "htpasswd is needed (apt-get install apache2-utils)" >&2; exit 1; }
WORK=$(mktemp -d /tmp/swregistry-bench-auth.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
PORT=5398
htpasswd -Bbc "$WORK/htpasswd" bench bench-pw 2>/dev/null
chmod 600 "$WORK/htpasswd"
cat >"$WORK/open.yml" <<EOF
version: 0.1
log: { level: warning }
http: { threads: 2 }
EOF
cat >"$WORK/token.yml" <<EOF
version: 0.1
log: { level: warning }
http: { threads: 2 }
auth:
  htpasswd: { realm: bench, path: $WORK/htpasswd }
  tokenservice: { enabled: true, key: $WORK/token-key.pem, expiration: 1h }
EOF

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

run() {  # config label shape...
    local config=$1 label=$2 pad=""; shift 2
    if [[ $label == padded ]]; then pad=$(head -c "$TOKEN_LENGTH" /dev/zero | tr '\0' x); fi
    rm -rf "$WORK/store" "$WORK/token-key.pem"
    "$BIN" serve --config "$WORK/$config" --address "127.0.0.1:$PORT" --storage "$WORK/store" >/dev/null 2>&1 &
    local pid=$! token=""
    sleep 0.5
    if [[ $config == token.yml ]]; then
        token=$(curl -s -u bench:bench-pw \
            "http://127.0.0.1:$PORT/token?service=swregistry&scope=repository:bench/app:pull,push" \
            | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
    fi
    push_sample_manifest "$PORT" "$token"
    {
        echo 'wrk.headers["Accept"] = "application/vnd.oci.image.manifest.v1+json"'
        [[ -n $token ]] && echo "wrk.headers[\"Authorization\"] = \"Bearer $token\""
        [[ -n $pad ]] && echo "wrk.headers[\"X-Padding\"] = \"$pad\""
    } >"$WORK/headers.lua"
    local url="http://127.0.0.1:$PORT/v2/bench/app/manifests/v1"
    wrk "$@" -d1s -s "$WORK/headers.lua" "$url" >/dev/null
    local t0 t1 out requests non2xx
    t0=$(cpu_ticks "$pid")
    out=$(wrk "$@" -d5s -s "$WORK/headers.lua" "$url")
    t1=$(cpu_ticks "$pid")
    requests=$(awk '/requests in/ {print $1}' <<<"$out")
    non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
    [[ -n $token ]] && TOKEN_LENGTH=$((${#token} + 7))
    printf '%-9s %-10s %10s req/s  %6.1f µs CPU/request  non-2xx %s\n' "$label" "$*" \
        "$(awk '/Requests\/sec/ {print $2}' <<<"$out")" \
        "$(awk -v t="$((t1 - t0))" -v n="$requests" -v hz="$(getconf CLK_TCK)" 'BEGIN {print t / hz * 1e6 / n}')" \
        "${non2xx:-0}"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
}

echo "binary: $BIN"
TOKEN_LENGTH=0
run token.yml bearer -t1 -c10 >/dev/null   # learns the token's length for the padded runs
for r in $(seq "$ROUNDS"); do
    for shape in "-t1 -c50" "-t2 -c200"; do
        if ((r % 2)); then
            run open.yml anonymous $shape
            run open.yml padded $shape
            run token.yml bearer $shape
        else
            run token.yml bearer $shape
            run open.yml padded $shape
            run open.yml anonymous $shape
        fi
    done
done
