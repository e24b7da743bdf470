#!/usr/bin/env bash
# Self-test of rrproxy.py, the round-robin proxy the replica tests put in front of several swregistry processes:
# curl through it to two test backends (rrproxy_backend.py). Checks that each request (not each connection) goes to
# the next backend, that bodies stream both ways intact (Content-Length, chunked, close-delimited) without the proxy
# holding them, that the client connection survives, that a dead backend answers 502 with a body, and that the
# backend list changes at run time (control file, SIGHUP).
#
# Every check prints `PASS name` or `FAIL name`; the last line is `N passed, M failed`.
# Needs: bash, python3, curl (7.84+ for %header{}), coreutils.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
E2E_NAME="rrproxy self-test"
# shellcheck source=lib.sh
source "$HERE/lib.sh"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/rrproxy-selftest.XXXXXX")"
mkdir -p "$WORK/logs"

PIDS=()
finish() {
    local rc=$? pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    [ "${E2E_KEEP:-0}" = 1 ] && echo "work folder kept: $WORK" >&2 || rm -rf "$WORK"
    exit "$rc"
}
trap finish EXIT

# start NAME COMMAND... — runs COMMAND in the background; sets PORT from the first line it prints.
start() {
    local name=$1 i
    shift
    : >"$WORK/logs/$name.out"
    "$@" >"$WORK/logs/$name.out" 2>"$WORK/logs/$name.err" &
    PIDS+=($!)
    LAST_PID=$!
    for ((i = 0; i < 100; i++)); do
        PORT=$(head -n 1 "$WORK/logs/$name.out")
        [[ $PORT =~ ^[0-9]+$ ]] && return 0
        kill -0 "$LAST_PID" 2>/dev/null || break
        sleep 0.05
    done
    cat "$WORK/logs/$name.err" >&2
    abort "setup: $name prints its port"
}

start a python3 "$HERE/rrproxy_backend.py" a
A=127.0.0.1:$PORT
start b python3 "$HERE/rrproxy_backend.py" b
B=127.0.0.1:$PORT
# A port nothing listens on: bound and closed at once.
DEAD=127.0.0.1:$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
CONTROL=$WORK/backends
echo "$A,$B" >"$CONTROL"
start proxy python3 "$HERE/rrproxy.py" --control "$CONTROL" --log
PROXY_PID=$LAST_PID
P=http://127.0.0.1:$PORT
START_RSS=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$PROXY_PID/status")
echo "backends $A $B, proxy $P"

# set_backends LIST — rewrites the control file the way a test would (a new file renamed over the old one).
set_backends() {
    echo "$1" >"$CONTROL.new"
    mv "$CONTROL.new" "$CONTROL"
}

# Each transfer prints "connects backend status" (curl reuses the connection: connects 0 after the first).
W='%{num_connects} %header{x-backend} %{http_code}\n'
# get URL... — GETs each URL in turn on one connection, bodies dropped, one "connects backend status" line each.
get() {
    local args=() url
    for url; do args+=(-o /dev/null "$url"); done
    curl -sS -w "$W" "${args[@]}"
}

t_round_robin() {
    get "$P/1" "$P/2" "$P/3" "$P/4" >"$WORK/rr"
    cat "$WORK/rr"
    expect_eq "backends in turn" "a b a b" "$(cut -d' ' -f2 "$WORK/rr" | xargs)"
    expect_eq "connections opened" "1 0 0 0" "$(cut -d' ' -f1 "$WORK/rr" | xargs)"
}
check "each request goes to the next backend, on one kept-alive client connection" t_round_robin

t_patch_put() {
    head -c 1000 /dev/urandom >"$WORK/small"
    curl -sS -X PATCH --data-binary @"$WORK/small" "$P/v2/x/blobs/uploads/1" -o "$WORK/patch.json" \
        --next -sS -X PUT --data-binary @"$WORK/small" "$P/v2/x/blobs/uploads/1?digest=d" -o "$WORK/put.json"
    local first second
    first=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["backend"])' "$WORK/patch.json")
    second=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["backend"])' "$WORK/put.json")
    echo "PATCH on $first, PUT on $second"
    [ "$first" != "$second" ]
}
check "a client's PATCH and PUT land on different backends" t_patch_put

# body_field FILE KEY — one field of a backend's JSON answer.
body_field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

t_upload_length() {
    head -c $((32 << 20)) /dev/urandom >"$WORK/big"
    curl -sS -X PUT --data-binary @"$WORK/big" -H 'Expect:' "$P/upload" -o "$WORK/put-big.json"
    expect_eq length $((32 << 20)) "$(body_field "$WORK/put-big.json" length)"
    expect_eq sha256 "$(sha256sum <"$WORK/big" | cut -d' ' -f1)" "$(body_field "$WORK/put-big.json" sha256)"
}
check "a 32 MiB Content-Length upload arrives intact" t_upload_length

t_upload_chunked() {
    # From a pipe: curl sends it chunked (and with Expect: 100-continue, which passes through).
    head -c $((16 << 20)) "$WORK/big" | curl -sS -T - "$P/upload-chunked" -o "$WORK/put-chunked.json"
    expect_eq chunked True "$(body_field "$WORK/put-chunked.json" chunked)"
    expect_eq length $((16 << 20)) "$(body_field "$WORK/put-chunked.json" length)"
    expect_eq sha256 "$(head -c $((16 << 20)) "$WORK/big" | sha256sum | cut -d' ' -f1)" \
        "$(body_field "$WORK/put-chunked.json" sha256)"
}
check "a 16 MiB chunked upload (Expect: 100-continue) arrives intact" t_upload_chunked

t_downloads() {
    local kind n=$((32 << 20)) got want
    for kind in fixed chunked close; do
        curl -sS -D "$WORK/h-$kind" "$P/$kind/$n" | sha256sum | cut -d' ' -f1 >"$WORK/sum-$kind"
        want=$(tr -d '\r' <"$WORK/h-$kind" | sed -n 's/^[Xx]-[Bb]ody-[Ss]ha256: //p')
        got=$(cat "$WORK/sum-$kind")
        expect_eq "$kind download sha256" "$want" "$got"
    done
    grep -qi '^transfer-encoding: chunked' "$WORK/h-chunked"
    grep -qi '^connection: close' "$WORK/h-close"
}
check "32 MiB downloads arrive intact (Content-Length, chunked, ended by close)" t_downloads

t_memory() {
    local hwm
    hwm=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$PROXY_PID/status")
    echo "proxy RSS at start $((START_RSS / 1024)) MiB, peak after moving 32 MiB bodies: $((hwm / 1024)) MiB"
    ((hwm - START_RSS < 12 * 1024))
}
check "the proxy streams: its peak RSS grows by less than 12 MiB while moving 32 MiB bodies" t_memory

t_bodyless() {
    curl -sS -o /dev/null -w "$W" -I "$P/fixed/5000" --next -sS -o /dev/null -w "$W" "$P/empty" \
        --next -sS -o /dev/null -w "$W" "$P/after" >"$WORK/bodyless"
    cat "$WORK/bodyless"
    expect_eq statuses "200 204 200" "$(cut -d' ' -f3 "$WORK/bodyless" | xargs)"
    expect_eq "connections opened" "1 0 0" "$(cut -d' ' -f1 "$WORK/bodyless" | xargs)"
}
check "HEAD (with Content-Length) and 204 carry no body and keep the connection" t_bodyless

t_early_answer() {
    local code
    # The test backend answers and closes without reading the body (its kernel then resets the connection).
    code=$(curl -sS -o /dev/null -w '%{http_code}' -X PUT --data-binary @"$WORK/big" -H 'Expect:' "$P/early" || true)
    expect_eq "early answer" 413 "$code"
    code=$(curl -sS -o /dev/null -w '%{http_code}' -X PUT --data-binary @"$WORK/big" "$P/early" || true)
    expect_eq "early answer to Expect: 100-continue" 413 "$code"
    expect_eq "next request" 200 "$(curl -sS -o /dev/null -w '%{http_code}' "$P/next")"
}
check "a backend answering before the body ends: the answer passes, the proxy carries on" t_early_answer

t_hop_by_hop() {
    curl -sS -H 'Connection: keep-alive, X-Secret' -H 'X-Secret: 1' -H 'X-Kept: 2' "$P/h" -o "$WORK/h.json"
    python3 - "$WORK/h.json" <<'EOF'
import json, sys
h = json.load(open(sys.argv[1]))["headers"]
print(h)
assert h["connection"] == "close", h
assert "x-secret" not in h and h["x-kept"] == "2" and h["x-forwarded-for"] == "127.0.0.1", h
assert h["host"].startswith("127.0.0.1:"), h
EOF
}
check "hop-by-hop headers stop at the proxy; Host and the rest pass" t_hop_by_hop

t_dead_backend() {
    set_backends "$DEAD $B"
    curl -sS -w "$W" "$P/d1" -o "$WORK/d1" --next -sS -w "$W" "$P/d2" -o "$WORK/d2" \
        --next -sS -X PUT --data-binary @"$WORK/small" -H 'Expect:' -w "$W" "$P/d3" -o "$WORK/d3" \
        --next -sS -w "$W" "$P/d4" -o "$WORK/d4" >"$WORK/dead"
    cat "$WORK/dead" "$WORK/d1" "$WORK/d3"
    expect_eq statuses "502 200 502 200" "$(cut -d' ' -f3 "$WORK/dead" | xargs)"
    expect_eq "connections opened" "1 0 0 0" "$(cut -d' ' -f1 "$WORK/dead" | xargs)"
    grep -q "unreachable" "$WORK/d1"
}
check "a dead backend answers 502 with a body, the connection (and a drained body) survive" t_dead_backend

t_control() {
    set_backends "$B"
    get "$P/c1" "$P/c2" "$P/c3" >"$WORK/c"
    expect_eq "only b" "b b b" "$(cut -d' ' -f2 "$WORK/c" | xargs)"
    set_backends "$A # comment
$B"
    get "$P/c4" "$P/c5" >"$WORK/c"
    expect_eq "both again" "a b" "$(cut -d' ' -f2 "$WORK/c" | sort | xargs)"
    local before
    before=$(grep -c '^rrproxy: backends:' "$WORK/logs/proxy.err")
    kill -HUP "$PROXY_PID"
    for _ in $(seq 50); do
        (($(grep -c '^rrproxy: backends:' "$WORK/logs/proxy.err") > before)) && break
        sleep 0.05
    done
    (($(grep -c '^rrproxy: backends:' "$WORK/logs/proxy.err") > before))
    kill -0 "$PROXY_PID"
}
check "the backend list follows the control file, and SIGHUP re-reads it" t_control

t_bad_request() {
    local hostport=${P#http://}
    exec 3<>"/dev/tcp/${hostport%:*}/${hostport##*:}"
    printf 'NONSENSE\r\n\r\n' >&3
    local answer
    answer=$(timeout 5 cat <&3 || true)
    exec 3<&-
    echo "$answer"
    [[ $answer == "HTTP/1.1 400 "* ]]
}
check "a malformed request gets 400" t_bad_request

t_tls_hello() {
    # skopeo and swcopy with tls-verify=false try TLS first: the handshake's first bytes (a record of type 0x16) get
    # a 400 at once, with no wait for a header section that never comes (the clients' handshake timeout is 10 s).
    local hostport=${P#http://} answer t0 took
    t0=$EPOCHREALTIME
    exec 3<>"/dev/tcp/${hostport%:*}/${hostport##*:}"
    printf '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03' >&3
    answer=$(timeout 5 head -c 12 <&3 || true)
    exec 3<&-
    took=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
    echo "$answer after $took s"
    [[ $answer == "HTTP/1.1 400" ]]
    awk -v t="$took" 'BEGIN { exit !(t < 2) }'
}
check "a TLS handshake gets 400 at once (clients then fall back to HTTP without a 10 s wait)" t_tls_hello

summary
[ "$FAIL" -eq 0 ]
