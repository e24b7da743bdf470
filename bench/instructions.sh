#!/usr/bin/env bash
# User-space instructions per request of swregistry, for `GET /v2/` and a manifest `GET`/`HEAD` by tag,
# counted by valgrind's callgrind (the server runs under it; its counters are zeroed before and dumped
# after each `httpload` run; this VM exposes no hardware counters to `perf`); and the wall-clock rate
# of one big upload (monolithic and streamed PATCH), with the server running natively. Instruction
# counts stay meaningful on a busy machine, where request rates and wall-clock times do not.
# Per-function costs: `callgrind_annotate --inclusive=yes FILE` on the files kept with INSTR_KEEP=DIR.
#
#   SWREGISTRY_BIN=.build/release/swregistry bash bench/instructions.sh
#
# Environment (all optional): INSTR_DURATION (seconds per run, default 3), INSTR_SHAPES
# (THREADS:CONNECTIONS, default "1:50 2:200"; empty = no request runs), INSTR_UPLOAD_MIB (default 1024; 0 = no upload),
# INSTR_STORAGE_DIRS (folders to put the store in for the upload, default "/dev/shm /tmp"),
# INSTR_KEEP (a folder to copy the callgrind dumps to).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${SWREGISTRY_BIN:-$ROOT/.build/release/swregistry}
DURATION=${INSTR_DURATION:-3}
SHAPES=${INSTR_SHAPES-"1:50 2:200"}
UPLOAD_MIB=${INSTR_UPLOAD_MIB:-1024}
STORAGE_DIRS=${INSTR_STORAGE_DIRS:-"/dev/shm /tmp"}
source "$ROOT/bench/lib.sh"
log() { printf '[instr] %s\n' "$*" >&2; }

TMP=$(mktemp -d /tmp/swregistry-instr.XXXXXX)
SW_PID=""
STORE=""
cleanup() {
    [[ -n $SW_PID ]] && kill "$SW_PID" 2>/dev/null && wait "$SW_PID" 2>/dev/null
    [[ -n $STORE ]] && rm -rf "$STORE"
    rm -rf "$TMP"
}
trap cleanup EXIT
cc -O2 -pthread -o "$TMP/httpload" "$ROOT/bench/httpload.c"

start_server() {  # $1: storage folder, $2: command prefix (valgrind) or empty
    STORE=$(mktemp -d "$1/swregistry-instr-store.XXXXXX")
    PORT=$(free_ports)
    $2 "$BIN" serve --address "127.0.0.1:$PORT" --storage "$STORE" --log-level warning --threads 2 \
        >"$TMP/server.log" 2>&1 &
    SW_PID=$!
    for _ in $(seq 300); do curl -sf "http://127.0.0.1:$PORT/v2/" >/dev/null && return; sleep 0.1; done
    log "server did not start"; cat "$TMP/server.log" >&2; exit 1
}
cpu_seconds() {  # user + system CPU time of the server so far
    python3 -c "import os,sys; f=open('/proc/$SW_PID/stat').read().rsplit(')',1)[1].split(); print((int(f[11])+int(f[12]))/os.sysconf('SC_CLK_TCK'))"
}
stop_server() {
    kill "$SW_PID"; wait "$SW_PID" 2>/dev/null || true; SW_PID=""
    rm -rf "$STORE"; STORE=""
}

push_blob() {  # $1 file → digest
    local d="sha256:$(sha256sum "$1" | cut -d' ' -f1)"
    curl -sf -X POST -H 'Content-Type: application/octet-stream' --data-binary "@$1" \
        "http://127.0.0.1:$PORT/v2/bench/small/blobs/uploads/?digest=$d" -o /dev/null
    echo "$d"
}

if [[ -n ${SHAPES// /} ]]; then
# Valgrind 3.19 cannot read the DWARF 5 of Swift 6 binaries: it gets a copy without debug info (symbols stay).
NATIVE_BIN=$BIN
BIN=$TMP/swregistry-nodebug
strip --strip-debug -o "$BIN" "$NATIVE_BIN"
start_server "$TMP" "valgrind --tool=callgrind --callgrind-out-file=$TMP/cg.out"
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' >"$TMP/config.json"
head -c 65536 /dev/urandom >"$TMP/layer.bin"
CONFIG=$(push_blob "$TMP/config.json")
LAYER=$(push_blob "$TMP/layer.bin")
python3 - "$TMP" "$CONFIG" "$LAYER" <<'EOF'
import json, os, sys
tmp, config, layer = sys.argv[1:]
m = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
     "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config,
                "size": os.path.getsize(tmp + "/config.json")},
     "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": 65536,
                 "annotations": {"org.opencontainers.image.title": "x" * 700}}]}
open(tmp + "/manifest.json", "w").write(json.dumps(m, indent=1))
EOF
curl -sf -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary "@$TMP/manifest.json" \
    "http://127.0.0.1:$PORT/v2/bench/small/manifests/v1" -o /dev/null
log "manifest: $(wc -c <"$TMP/manifest.json") bytes"

ACCEPT='Accept: application/vnd.oci.image.manifest.v1+json'
run() {  # $1 label, $2 method, $3 path, $4 shape
    local t=${4%%:*} c=${4##*:}
    "$TMP/httpload" -t "$t" -c "$c" -d 1 -m "$2" -H "$ACCEPT" "http://127.0.0.1:$PORT$3" >/dev/null
    callgrind_control -z "$SW_PID" >/dev/null
    "$TMP/httpload" -t "$t" -c "$c" -d "$DURATION" -m "$2" -H "$ACCEPT" "http://127.0.0.1:$PORT$3" >"$TMP/load.txt"
    rm -f "$TMP"/cg.out.*
    callgrind_control -d "$SW_PID" >/dev/null
    local dump instr requests
    dump=$(ls "$TMP"/cg.out.* | head -1)
    instr=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p; s/^totals: *\([0-9]*\).*/\1/p' "$dump" | head -1)
    requests=$(sed -n 's/.*requests=\([0-9]*\).*/\1/p' "$TMP/load.txt")
    printf '%-22s %-6s instructions/request=%s (requests=%s)\n' "$1" "$4" "$(( instr / requests ))" "$requests"
    if [[ -n ${INSTR_KEEP:-} ]]; then
        mkdir -p "$INSTR_KEEP"; cp "$dump" "$INSTR_KEEP/$2-${3//\//_}-$t-$c.callgrind"
    fi
}
for shape in $SHAPES; do
    run "GET /v2/" GET /v2/ "$shape"
    run "GET manifest by tag" GET /v2/bench/small/manifests/v1 "$shape"
    run "HEAD manifest by tag" HEAD /v2/bench/small/manifests/v1 "$shape"
done
stop_server
fi

(( UPLOAD_MIB > 0 )) || exit 0
BIN=${NATIVE_BIN:-$BIN}
head -c $((UPLOAD_MIB * 1048576)) /dev/urandom >"$TMP/big.bin"
BIG="sha256:$(sha256sum "$TMP/big.bin" | cut -d' ' -f1)"
for dir in $STORAGE_DIRS; do
    start_server "$dir" ""
    sync
    c0=$(cpu_seconds)
    t=$(curl -sf -X POST -H 'Expect:' -H 'Transfer-Encoding:' -H "Content-Length: $((UPLOAD_MIB * 1048576))" -H 'Content-Type: application/octet-stream' \
        -T - -w '%{time_total}' -o /dev/null \
        "http://127.0.0.1:$PORT/v2/big/one/blobs/uploads/?digest=$BIG" <"$TMP/big.bin")
    c1=$(cpu_seconds)
    printf 'upload monolithic %-9s %s MiB in %ss = %s GB/s; server CPU %ss\n' "$dir" "$UPLOAD_MIB" "$t" \
        "$(python3 -c "print(round($UPLOAD_MIB*1048576/$t/1e9, 2))")" "$(python3 -c "print(round($c1-$c0, 2))")"
    # As bench/registry.sh does: the blob is not in the store before an upload (else commit only drops the copy).
    rm -f "$STORE/blobs/sha256/${BIG:7:2}/${BIG:7}"
    sync
    loc=$(curl -sf -X POST -D - -o /dev/null "http://127.0.0.1:$PORT/v2/big/two/blobs/uploads/" \
        | tr -d '\r' | sed -n 's/^Location: //Ip')
    c0=$(cpu_seconds)
    t1=$(curl -sf -X PATCH -H 'Expect:' -H 'Transfer-Encoding:' -H "Content-Length: $((UPLOAD_MIB * 1048576))" -H 'Content-Type: application/octet-stream' \
        -T - -w '%{time_total}' -o /dev/null "http://127.0.0.1:$PORT$loc" <"$TMP/big.bin")
    t2=$(curl -sf -X PUT -w '%{time_total}' -o /dev/null "http://127.0.0.1:$PORT$loc?digest=$BIG")
    t=$(python3 -c "print($t1+$t2)")
    c1=$(cpu_seconds)
    printf 'upload streamed   %-9s %s MiB in %ss = %s GB/s (PUT %ss); server CPU %ss\n' "$dir" "$UPLOAD_MIB" "$t" \
        "$(python3 -c "print(round($UPLOAD_MIB*1048576/$t/1e9, 2))")" "$t2" "$(python3 -c "print(round($c1-$c0, 2))")"
    stop_server
done
