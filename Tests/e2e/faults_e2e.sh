#!/usr/bin/env bash
# Fault injection for the scale-out mode: a replica over S3 (Ceph RGW) + PostgreSQL, with faultproxy.py between
# it and each service, loses one of them in the middle of a request: RGW during a monolithic blob PUT, a chunked
# PATCH, a streamed blob GET and a manifest PUT; PostgreSQL during a manifest PUT, a tag list and an upload's
# closing PUT. Each time the client must get a clean answer (503 UNAVAILABLE with an OCI error body and
# Retry-After when the answer had not started; a short read, never a 200 with wrong bytes, when a GET was cut
# mid-body), nothing that was not acknowledged may become visible (checked on a second replica, the witness,
# which reaches both services directly), /readyz must say 503 while the service is away and 200 after, and the
# replica must recover by itself: the same requests succeed once the proxy lets traffic through again.
# Last, the replica loses a PostgreSQL of its own that is really stopped (pg_ctl) and started again.
#
# Every check prints `PASS name` or `FAIL name`; the last line is `N passed, M failed`.
#
# Environment: as replicas_e2e.sh (SWREGISTRY_TEST_S3_*, SWREGISTRY_TEST_POSTGRES, E2E_SWREGISTRY_BIN, E2E_KEEP).
# Needs: bash, python3, curl, psql (postgresql-client-15); pg_ctl and initdb (postgresql-15) for the last check.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
E2E_NAME="faults: S3 and PostgreSQL lost mid-request"
E2E_SLUG="swregistry-faults"

# lib.sh clears SWREGISTRY_* from the environment (hermetic runs): keep the service settings first.
S3_ENDPOINT=${SWREGISTRY_TEST_S3_ENDPOINT:-}
S3_REGION=${SWREGISTRY_TEST_S3_REGION:-us-east-1}
S3_ACCESS_KEY=${SWREGISTRY_TEST_S3_ACCESS_KEY:-}
S3_SECRET_KEY=${SWREGISTRY_TEST_S3_SECRET_KEY:-}
S3_BUCKET=${SWREGISTRY_TEST_S3_BUCKET:-}
PG_CONNINFO=${SWREGISTRY_TEST_POSTGRES:-}
# shellcheck source=lib.sh
source "$HERE/lib.sh"

if [ -z "$S3_ENDPOINT" ] || [ -z "$S3_ACCESS_KEY" ] || [ -z "$S3_SECRET_KEY" ] || [ -z "$S3_BUCKET" ] \
    || [ -z "$PG_CONNINFO" ]; then
    if [ -n "${CI:-}" ] && [ "${CI:-}" != 0 ] && [ "${CI:-}" != false ]; then
        echo "FAIL setup: SWREGISTRY_TEST_S3_* and SWREGISTRY_TEST_POSTGRES must be set on CI (scripts/services/*.sh env)"
        exit 1
    fi
    echo "SKIP $E2E_NAME: SWREGISTRY_TEST_S3_* or SWREGISTRY_TEST_POSTGRES not set (scripts/services/*.sh start, env)"
    exit 0
fi

PIDS=()
DB=""
OWN_PG=""        # the data folder of this test's own PostgreSQL (the pg_ctl check), when it made one
PGBIN=${SWPG_BIN:-/usr/lib/postgresql/15/bin}
PSQL=$(command -v psql || true)
[ -x "$PGBIN/psql" ] && PSQL=$PGBIN/psql

e2e_setup

conninfo_get() { tr ' ' '\n' <<<"$PG_CONNINFO" | sed -n "s/^$1=//p" | head -n 1; }
admin_sql() { "$PSQL" -X -q -v ON_ERROR_STOP=1 -d "$PG_CONNINFO" -c "$1"; }
# Commands of the own PostgreSQL run as `postgres` when we are root (PostgreSQL refuses to run as root).
as_pg_owner() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

faults_cleanup() {
    local rc=$? pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ -n "$OWN_PG" ] && [ -d "$OWN_PG" ]; then
        [ ! -f "$OWN_PG/postmaster.pid" ] \
            || as_pg_owner "$PGBIN/pg_ctl" stop -D "$OWN_PG" -m immediate -w -t 30 -s >/dev/null 2>&1 || true
        rm -rf "$(dirname "$OWN_PG")"
    fi
    if [ -n "$DB" ]; then
        if [ "${E2E_KEEP:-0}" = 1 ]; then
            echo "database kept: $DB" >&2
        else
            admin_sql "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
        fi
    fi
    set +e
    (exit "$rc")
    cleanup
}
trap faults_cleanup EXIT

[ -n "$PSQL" ] || abort "setup: psql installed (postgresql-client-15)"

# --- fault proxies: S3 and PostgreSQL, each reached by the faulty replica only through one -------------------------

# start_faultproxy NAME HOST:PORT — sets FP_PORT[NAME] and FP_CONTROL[NAME].
declare -A FP_PORT=() FP_CONTROL=()
start_faultproxy() {
    local name=$1 target=$2 i line=""
    : >"$WORK/logs/fp-$name.out"
    python3 "$HERE/faultproxy.py" --target "$target" --log >"$WORK/logs/fp-$name.out" 2>"$WORK/logs/fp-$name.err" &
    PIDS+=($!)
    for ((i = 0; i < 100; i++)); do
        line=$(head -n 1 "$WORK/logs/fp-$name.out")
        [[ $line =~ ^[0-9]+\ [0-9]+$ ]] && break
        sleep 0.05
    done
    [[ $line =~ ^([0-9]+)\ ([0-9]+)$ ]] || return 1
    FP_PORT[$name]=${BASH_REMATCH[1]}
    FP_CONTROL[$name]=${BASH_REMATCH[2]}
    echo "faultproxy $name: 127.0.0.1:${FP_PORT[$name]} -> $target (control ${FP_CONTROL[$name]})"
}

# fp NAME COMMAND — one control command; prints the proxy's answer, fails unless it is "ok ...".
fp() {
    local answer
    exec 9<>"/dev/tcp/127.0.0.1/${FP_CONTROL[$1]}"
    printf '%s\n' "$2" >&9
    read -r answer <&9
    exec 9<&-
    echo "faultproxy $1: $2 -> $answer"
    [[ $answer == ok* ]]
}

# fp_wait_held NAME — waits (at most 15 s) until the proxy holds bytes: a request reached the service's side.
fp_wait_held() {
    local i answer
    for ((i = 0; i < 300; i++)); do
        exec 9<>"/dev/tcp/127.0.0.1/${FP_CONTROL[$1]}"
        printf 'status\n' >&9
        read -r answer <&9
        exec 9<&-
        if [[ $answer =~ held=([0-9]+) ]] && [ "${BASH_REMATCH[1]}" -gt 0 ]; then
            echo "faultproxy $1: $answer"
            return 0
        fi
        sleep 0.05
    done
    echo "faultproxy $1 held nothing within 15 s: $answer"
    return 1
}

S3_HOSTPORT=${S3_ENDPOINT#*://}
S3_HOSTPORT=${S3_HOSTPORT%%/*}
start_faultproxy s3 "$S3_HOSTPORT" || abort "setup: faultproxy.py in front of S3 ($S3_HOSTPORT)"
start_faultproxy pg "$(conninfo_get host):$(conninfo_get port)" || abort "setup: faultproxy.py in front of PostgreSQL"

# --- database, configurations, replicas ----------------------------------------------------------------------------

DB="swtest_$(od -An -N8 -tx8 /dev/urandom | tr -d ' \n')"
admin_sql "CREATE DATABASE $DB" || abort "setup: CREATE DATABASE $DB"
PREFIX="/swtest/faults-$(od -An -N8 -tx8 /dev/urandom | tr -d ' \n')"

# write_config FILE S3_ENDPOINT PG_HOST PG_PORT [STATEMENT_TIMEOUT]
write_config() {
    cat >"$1" <<EOF
version: 0.1
log:
  level: warning
storage:
  s3:
    regionendpoint: $2
    region: $S3_REGION
    bucket: $S3_BUCKET
    accesskey: $S3_ACCESS_KEY
    secretkey: $S3_SECRET_KEY
    rootdirectory: $PREFIX
    forcepathstyle: true
  redirect:
    disable: true
  delete:
    enabled: true
database:
  enabled: true
  host: $3
  port: $4
  user: $(conninfo_get user)
  password: $(conninfo_get password)
  dbname: $DB
  sslmode: disable
  statementtimeout: ${5:-30s}
EOF
}
# The faulty replica gives PostgreSQL 2 s a statement, so 7 s for an answer (database.statementtimeout + 5 s).
PG_ANSWER_TIMEOUT=7
write_config "$WORK/faulty.yml" "http://127.0.0.1:${FP_PORT[s3]}" 127.0.0.1 "${FP_PORT[pg]}" 2s
write_config "$WORK/witness.yml" "$S3_ENDPOINT" "$(conninfo_get host)" "$(conninfo_get port)"

if [ -n "${E2E_SWREGISTRY_BIN:-}" ]; then
    BIN=$E2E_SWREGISTRY_BIN
else
    (cd "$ROOT" && swift build --product swregistry) >"$WORK/logs/build.log" 2>&1 \
        || { tail -n 30 "$WORK/logs/build.log"; abort "setup: swift build --product swregistry"; }
    BIN="$(cd "$ROOT" && swift build --show-bin-path)/swregistry"
fi
[ -x "$BIN" ] || abort "setup: swregistry binary at $BIN"
"$BIN" migrate --config "$WORK/witness.yml" >"$WORK/logs/migrate.log" 2>&1 || abort "setup: swregistry migrate"

# start_replica NAME CONFIG — prints the replica's host:port; its pid goes to $WORK/NAME.pid.
start_replica() {
    local name=$1 config=$2 i port=""
    : >"$WORK/logs/$name.out"
    "$BIN" serve --config "$config" --address 127.0.0.1:0 >"$WORK/logs/$name.out" 2>"$WORK/logs/$name.err" &
    echo $! >"$WORK/$name.pid"
    for ((i = 0; i < 300; i++)); do
        port=$(sed -n 's/^swregistry listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$WORK/logs/$name.out" | head -n 1)
        [ -n "$port" ] && break
        kill -0 "$(cat "$WORK/$name.pid")" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$port" ] || { tail -n 20 "$WORK/logs/$name.out" "$WORK/logs/$name.err" >&2; return 1; }
    echo "127.0.0.1:$port"
}
A=$(start_replica faulty "$WORK/faulty.yml") || abort "setup: the faulty replica starts (through the proxies)"
PIDS+=("$(cat "$WORK/faulty.pid")")
W=$(start_replica witness "$WORK/witness.yml") || abort "setup: the witness replica starts"
PIDS+=("$(cat "$WORK/witness.pid")")
echo "faulty replica on $A (through the proxies), witness on $W"

# --- helpers ---------------------------------------------------------------------------------------------------------

readyz() { curl -sS -o /dev/null -w '%{http_code}' --max-time 10 "http://$1/readyz" || true; }

# wait_ready ADDR CODE — /readyz on ADDR answers CODE within 30 s (the probe keeps a result for a second, the
# notification listener reconnects with a back-off).
wait_ready() {
    local i got=""
    for ((i = 0; i < 150; i++)); do
        got=$(readyz "$1")
        if [ "$got" = "$2" ]; then
            echo "/readyz on $1: $got after $((i / 5)).$((i % 5 * 2)) s"
            return 0
        fi
        sleep 0.2
    done
    echo "/readyz on $1: expected $2, still $got after 30 s"
    curl -sS --max-time 10 "http://$1/readyz" || true
    return 1
}

# status_of HEADERS_FILE — the final status code (after any 100 Continue).
status_of() { tr -d '\r' <"$1" | grep '^HTTP/' | tail -n 1 | cut -d' ' -f2; }

# expect_unavailable WHAT HEADERS BODY — a 503 with Retry-After and the OCI error body {"errors":[{"code":"UNAVAILABLE"...
expect_unavailable() {
    local status
    status=$(status_of "$2")
    if [ "$status" != 503 ]; then
        echo "$1: expected 503, got '${status:-no answer}'"
        cat "$2" "$3" 2>/dev/null | head -c 2000
        return 1
    fi
    tr -d '\r' <"$2" | grep -qi '^retry-after: [0-9]' || { echo "$1: 503 without Retry-After"; cat "$2"; return 1; }
    python3 - "$3" <<'EOF' || { echo "$1: the 503's body is not an OCI UNAVAILABLE error"; cat "$3"; return 1; }
import json, sys
body = json.load(open(sys.argv[1]))
assert any(e.get("code") == "UNAVAILABLE" for e in body["errors"]), body
EOF
    echo "$1: 503 UNAVAILABLE, $(tr -d '\r' <"$2" | grep -i '^retry-after:')"
}

http_code() { curl -sS -o /dev/null -w '%{http_code}' --max-time 30 "$@" || true; }

# location_on ADDR HEADERS_FILE — the upload's Location as an absolute URL on ADDR.
location_on() {
    local loc
    loc=$(tr -d '\r' <"$2" | sed -n 's/^[Ll]ocation: //p' | tail -n 1)
    [ -n "$loc" ] || { echo "no Location in $2" >&2; return 1; }
    case $loc in
    http://* | https://*) loc=/${loc#*://*/} ;;
    esac
    echo "http://$1$loc"
}
with_digest() { case $1 in *\?*) echo "$1&digest=$2" ;; *) echo "$1?digest=$2" ;; esac; }

# push_blob ADDR REPO FILE — a monolithic upload (POST then PUT with the body); 201 expected.
push_blob() {
    local url digest
    digest=$(sha256_of "$3")
    curl -sS -D "$WORK/pb.h" -o /dev/null -X POST "http://$1/v2/$2/blobs/uploads/"
    [ "$(status_of "$WORK/pb.h")" = 202 ] || { cat "$WORK/pb.h"; return 1; }
    url=$(location_on "$1" "$WORK/pb.h")
    curl -sS -D "$WORK/pb.h" -o /dev/null -X PUT -H 'Content-Type: application/octet-stream' \
        --data-binary @"$3" "$(with_digest "$url" "$digest")"
    [ "$(status_of "$WORK/pb.h")" = 201 ] || { cat "$WORK/pb.h"; return 1; }
}

# make_image NAME SEED — an OCI layout under $WORK/NAME; sets nothing, prints the manifest digest.
make_image() { python3 "$HERE/make_oci_layout.py" "$WORK/$1" v1 "$2" >/dev/null && layout_digest "$WORK/$1" v1; }

# push_image_blobs ADDR REPO LAYOUT — the config and layers of the layout's v1 image.
push_image_blobs() {
    local manifest d
    manifest=$(layout_blob "$3" "$(layout_digest "$3" v1)")
    for d in $(manifest_blobs "$manifest"); do push_blob "$1" "$2" "$(layout_blob "$3" "$d")"; done
}

MT_MANIFEST=application/vnd.oci.image.manifest.v1+json

# put_manifest ADDR REPO REF LAYOUT HEADERS BODY — the layout's v1 manifest PUT under REF; prints nothing.
put_manifest() {
    local manifest
    manifest=$(layout_blob "$4" "$(layout_digest "$4" v1)")
    curl -sS -D "$5" -o "$6" --max-time 60 -X PUT -H "Content-Type: $MT_MANIFEST" --data-binary @"$manifest" \
        "http://$1/v2/$2/manifests/$3" || true
}

# --- checks ----------------------------------------------------------------------------------------------------------

t_ready() {
    wait_ready "$A" 200
    wait_ready "$W" 200
    fp s3 status
    fp pg status
}
check "both replicas are ready; the faulty one reaches S3 and PostgreSQL through the proxies" t_ready

head -c $((24 << 20)) /dev/urandom >"$WORK/big"
BIG_DIGEST=$(sha256_of "$WORK/big")

t_s3_cut_monolithic_put() {
    local url
    curl -sS -D "$WORK/h" -o /dev/null -X POST "http://$A/v2/faults/mono/blobs/uploads/"
    [ "$(status_of "$WORK/h")" = 202 ]
    url=$(location_on "$A" "$WORK/h")
    # 24 MiB in one PUT: S3 parts of 5 MiB go out while the body comes in; the cut falls inside the second part.
    fp s3 "cutafter $((7 << 20))"
    curl -sS -D "$WORK/h" -o "$WORK/b" --max-time 120 -X PUT -H 'Content-Type: application/octet-stream' \
        --data-binary @"$WORK/big" "$(with_digest "$url" "$BIG_DIGEST")" || true
    expect_unavailable "PUT of 24 MiB with S3 cut after 7 MiB" "$WORK/h" "$WORK/b"
    wait_ready "$A" 503
    # Nothing partial: the blob is unknown on both replicas (the faulty one answers HEAD from PostgreSQL).
    expect_eq "HEAD on the witness" 404 "$(http_code -I "http://$W/v2/faults/mono/blobs/$BIG_DIGEST")"
    expect_eq "HEAD on the faulty replica" 404 "$(http_code -I "http://$A/v2/faults/mono/blobs/$BIG_DIGEST")"
    fp s3 up
    wait_ready "$A" 200
    # Recovery without a restart: the same upload, from the start, through the same replica.
    push_blob "$A" faults/mono "$WORK/big"
    curl -sS -o "$WORK/got" "http://$W/v2/faults/mono/blobs/$BIG_DIGEST"
    cmp "$WORK/big" "$WORK/got"
}
check "S3 cut during a monolithic blob PUT: 503 UNAVAILABLE, no blob, /readyz 503 then 200, the retry commits" \
    t_s3_cut_monolithic_put

t_s3_cut_chunked_patch() {
    local url first=$((6 << 20)) size digest
    head -c $((14 << 20)) /dev/urandom >"$WORK/chunked"
    digest=$(sha256_of "$WORK/chunked")
    head -c "$first" "$WORK/chunked" >"$WORK/chunked.a"
    tail -c +$((first + 1)) "$WORK/chunked" >"$WORK/chunked.b"
    size=$(stat -c %s "$WORK/chunked.b")
    curl -sS -D "$WORK/h" -o /dev/null -X POST "http://$A/v2/faults/chunked/blobs/uploads/"
    [ "$(status_of "$WORK/h")" = 202 ]
    url=$(location_on "$A" "$WORK/h")
    curl -sS -D "$WORK/h" -o /dev/null -X PATCH -H 'Content-Type: application/octet-stream' \
        -H "Content-Range: 0-$((first - 1))" --data-binary @"$WORK/chunked.a" "$url"
    [ "$(status_of "$WORK/h")" = 202 ] || { cat "$WORK/h"; return 1; }
    url=$(location_on "$A" "$WORK/h")
    fp s3 "cutafter $((3 << 20))"
    curl -sS -D "$WORK/h" -o "$WORK/b" --max-time 120 -X PATCH -H 'Content-Type: application/octet-stream' \
        -H "Content-Range: $first-$((first + size - 1))" --data-binary @"$WORK/chunked.b" "$url" || true
    expect_unavailable "second PATCH with S3 cut after 3 MiB" "$WORK/h" "$WORK/b"
    expect_eq "HEAD of the unfinished upload's digest on the witness" 404 \
        "$(http_code -I "http://$W/v2/faults/chunked/blobs/$digest")"
    fp s3 up
    wait_ready "$A" 200
    # The session survived the failed PATCH at its last acknowledged length: the client resumes from there.
    curl -sS -D "$WORK/h" -o /dev/null "$url"
    [ "$(status_of "$WORK/h")" = 204 ] || { cat "$WORK/h"; return 1; }
    tr -d '\r' <"$WORK/h" | grep -i "^range: 0-$((first - 1))\$" || { echo "upload status after the cut:"; cat "$WORK/h"; return 1; }
    curl -sS -D "$WORK/h" -o /dev/null -X PATCH -H 'Content-Type: application/octet-stream' \
        -H "Content-Range: $first-$((first + size - 1))" --data-binary @"$WORK/chunked.b" "$url"
    [ "$(status_of "$WORK/h")" = 202 ] || { cat "$WORK/h"; return 1; }
    url=$(location_on "$A" "$WORK/h")
    curl -sS -D "$WORK/h" -o /dev/null -X PUT "$(with_digest "$url" "$digest")"
    [ "$(status_of "$WORK/h")" = 201 ] || { cat "$WORK/h"; return 1; }
    curl -sS -o "$WORK/got" "http://$W/v2/faults/chunked/blobs/$digest"
    cmp "$WORK/chunked" "$WORK/got"
}
check "S3 cut during a chunked PATCH: 503, the session keeps its acknowledged length, resumes and commits" \
    t_s3_cut_chunked_patch

t_s3_cut_streamed_get() {
    local rc=0 code got_size
    fp s3 "cutafter $((5 << 20))"
    code=$(curl -sS -o "$WORK/got" -D "$WORK/h" -w '%{http_code}' --max-time 120 \
        "http://$A/v2/faults/mono/blobs/$BIG_DIGEST") || rc=$?
    got_size=$(stat -c %s "$WORK/got" 2>/dev/null || echo 0)
    echo "GET with S3 cut after 5 MiB: status ${code:-none}, curl exit $rc, $got_size of $((24 << 20)) bytes"
    if [ "$code" = 200 ]; then
        # The answer had started: the client must see the body end short (curl 18: partial file, 56: reset),
        # never a complete 200 with other bytes.
        [ "$rc" -ne 0 ] || { echo "a 200 that curl took as complete"; cmp "$WORK/big" "$WORK/got"; return 1; }
        [ "$got_size" -lt $((24 << 20)) ]
        cmp -n "$got_size" "$WORK/big" "$WORK/got"
    else
        expect_unavailable "GET cut before the answer" "$WORK/h" "$WORK/got"
    fi
    fp s3 up
    wait_ready "$A" 200
    curl -sS -o "$WORK/got" "http://$A/v2/faults/mono/blobs/$BIG_DIGEST"
    cmp "$WORK/big" "$WORK/got"
    # A ranged GET after the recovery, too.
    curl -sS -o "$WORK/got" -H 'Range: bytes=1000-2999' "http://$A/v2/faults/mono/blobs/$BIG_DIGEST"
    cmp <(tail -c +1001 "$WORK/big" | head -c 2000) "$WORK/got"
}
check "S3 cut during a streamed blob GET: a short read (or 503 before the answer), never a 200 with wrong bytes" \
    t_s3_cut_streamed_get

t_s3_stops_answering() {
    # RGW stops answering (traffic held, nothing reset) before a blob GET's answer: the replica gives S3 up after its
    # stall timeout (storage.s3: 20 s without a byte) and answers 503, rather than hold the client as long as RGW
    # stays away; then it recovers.
    local t0 took
    fp s3 hold
    t0=$EPOCHREALTIME
    curl -sS -D "$WORK/h" -o "$WORK/b" --max-time 90 "http://$A/v2/faults/mono/blobs/$BIG_DIGEST" || true
    took=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", b - a }')
    echo "GET with S3 not answering: $(status_of "$WORK/h") after ${took} s"
    fp s3 pass
    expect_unavailable "GET with S3 not answering" "$WORK/h" "$WORK/b"
    [ "$took" -le 40 ] || { echo "took ${took} s"; return 1; }
    wait_ready "$A" 200
    curl -sS -o "$WORK/got" "http://$A/v2/faults/mono/blobs/$BIG_DIGEST"
    cmp "$WORK/big" "$WORK/got"
}
check "S3 stops answering (traffic held) before a blob GET's answer: 503 within the stall timeout, then recovery" \
    t_s3_stops_answering

make_image img-s3 301 >/dev/null
make_image img-pg 302 >/dev/null
make_image img-commit 303 >/dev/null

t_s3_down_manifest_put() {
    local digest status
    digest=$(layout_digest "$WORK/img-s3" v1)
    push_image_blobs "$A" faults/s3man "$WORK/img-s3"
    fp s3 down
    put_manifest "$A" faults/s3man v1 "$WORK/img-s3" "$WORK/h" "$WORK/b"
    status=$(status_of "$WORK/h")
    # Manifests live in PostgreSQL: a PUT may succeed without S3; if it does not, it is a clean 503, and either
    # way what the witness sees agrees with the answer.
    if [ "$status" = 201 ]; then
        echo "manifest PUT without S3: 201 (manifests are kept in PostgreSQL)"
        expect_eq "the witness's GET by tag" 200 "$(http_code -H "Accept: $MT_MANIFEST" "http://$W/v2/faults/s3man/manifests/v1")"
    else
        expect_unavailable "manifest PUT with S3 down" "$WORK/h" "$WORK/b"
        expect_eq "the witness's GET by tag" 404 "$(http_code -H "Accept: $MT_MANIFEST" "http://$W/v2/faults/s3man/manifests/v1")"
    fi
    wait_ready "$A" 503
    fp s3 up
    wait_ready "$A" 200
    put_manifest "$A" faults/s3man v1 "$WORK/img-s3" "$WORK/h" "$WORK/b"
    expect_eq "manifest PUT after S3 is back" 201 "$(status_of "$WORK/h")"
    expect_eq "the witness's manifest digest" "$digest" \
        "$(curl -sS -H "Accept: $MT_MANIFEST" "http://$W/v2/faults/s3man/manifests/v1" | sha256sum | sed 's/^\([0-9a-f]*\).*/sha256:\1/')"
}
check "S3 down during a manifest PUT: 201 or a clean 503, consistent with what another replica sees" \
    t_s3_down_manifest_put

# pg_cut_during ADDR — holds PostgreSQL's traffic, runs "$@" in the background, waits until the request's
# statements reach the proxy, then cuts every connection (the replica's pool and its listener): a database stopped
# mid-request. Waits for the request.
pg_cut_during() {
    local pid
    fp pg hold
    "$@" &
    pid=$!
    if ! fp_wait_held pg; then
        fp pg up
        wait "$pid" || true
        return 1
    fi
    fp pg down
    wait "$pid" || true
}

t_pg_cut_manifest_put() {
    local digest
    digest=$(layout_digest "$WORK/img-pg" v1)
    push_image_blobs "$A" faults/pgman "$WORK/img-pg"
    pg_cut_during put_manifest "$A" faults/pgman v1 "$WORK/img-pg" "$WORK/h" "$WORK/b"
    expect_unavailable "manifest PUT with PostgreSQL cut" "$WORK/h" "$WORK/b"
    expect_eq "/readyz while PostgreSQL is away" 503 "$(readyz "$A")"
    # Not stored, not tagged: neither by tag nor by digest, on the witness.
    expect_eq "the witness's GET by tag" 404 "$(http_code -H "Accept: $MT_MANIFEST" "http://$W/v2/faults/pgman/manifests/v1")"
    expect_eq "the witness's GET by digest" 404 "$(http_code -H "Accept: $MT_MANIFEST" "http://$W/v2/faults/pgman/manifests/$digest")"
    fp pg up
    wait_ready "$A" 200
    put_manifest "$A" faults/pgman v1 "$WORK/img-pg" "$WORK/h" "$WORK/b"
    expect_eq "manifest PUT after PostgreSQL is back" 201 "$(status_of "$WORK/h")"
    expect_eq "the witness's GET by tag" 200 "$(http_code -H "Accept: $MT_MANIFEST" "http://$W/v2/faults/pgman/manifests/v1")"
}
check "PostgreSQL cut during a manifest PUT: 503 UNAVAILABLE, no manifest or tag, /readyz 503 then 200, retry 201" \
    t_pg_cut_manifest_put

t_pg_cut_tag_list() {
    pg_cut_during curl -sS -D "$WORK/h" -o "$WORK/b" --max-time 60 "http://$A/v2/faults/pgman/tags/list"
    expect_unavailable "tag list with PostgreSQL cut" "$WORK/h" "$WORK/b"
    fp pg up
    wait_ready "$A" 200
    curl -sS -D "$WORK/h" -o "$WORK/b" "http://$A/v2/faults/pgman/tags/list"
    expect_eq "tag list after PostgreSQL is back" 200 "$(status_of "$WORK/h")"
    python3 -c 'import json,sys; t = json.load(open(sys.argv[1])); assert t["tags"] == ["v1"], t' "$WORK/b"
}
check "PostgreSQL cut during a tag list: 503 UNAVAILABLE, then the list" t_pg_cut_tag_list

t_pg_cut_upload_put() {
    local url digest file
    file="$WORK/commit-blob"
    head -c $((7 << 20)) /dev/urandom >"$file"
    digest=$(sha256_of "$file")
    curl -sS -D "$WORK/h" -o /dev/null -X POST "http://$A/v2/faults/commit/blobs/uploads/"
    [ "$(status_of "$WORK/h")" = 202 ]
    url=$(location_on "$A" "$WORK/h")
    curl -sS -D "$WORK/h" -o /dev/null -X PATCH -H 'Content-Type: application/octet-stream' \
        -H "Content-Range: 0-$(($(stat -c %s "$file") - 1))" --data-binary @"$file" "$url"
    [ "$(status_of "$WORK/h")" = 202 ] || { cat "$WORK/h"; return 1; }
    url=$(location_on "$A" "$WORK/h")
    pg_cut_during curl -sS -D "$WORK/h" -o "$WORK/b" --max-time 60 -X PUT "$(with_digest "$url" "$digest")"
    expect_unavailable "the upload's closing PUT with PostgreSQL cut" "$WORK/h" "$WORK/b"
    expect_eq "HEAD on the witness" 404 "$(http_code -I "http://$W/v2/faults/commit/blobs/$digest")"
    fp pg up
    wait_ready "$A" 200
    # The client retries its PUT: the session is still there (the failed commit changed nothing it can see).
    curl -sS -D "$WORK/h" -o "$WORK/b" -X PUT "$(with_digest "$url" "$digest")"
    expect_eq "closing PUT retried after PostgreSQL is back" 201 "$(status_of "$WORK/h")"
    curl -sS -o "$WORK/got" "http://$W/v2/faults/commit/blobs/$digest"
    cmp "$file" "$WORK/got"
}
check "PostgreSQL cut during an upload's closing PUT: 503, no blob, the retried PUT commits" t_pg_cut_upload_put

t_pg_cut_commit_steps() {
    # The closing PUT of an upload, with PostgreSQL cut after 0, 1, 2 ... statements: before the session is taken,
    # inside it, between S3's commit and the link, at the session's removal. Each time: 201 or a clean 503; the
    # witness sees no blob or the whole blob; after recovery the retried PUT commits (201), or the session is gone
    # (404 BLOB_UPLOAD_UNKNOWN: the client starts again, and that upload commits).
    local n file digest url status code retry outcomes=""
    # 0: before the session is taken; 1-6: S3 committed, inside the link and the session's removal (every one of
    # 1-6 answered alike when measured: 503, then 404 for the retry); 7: past the link.
    for n in 0 1 4 7; do
        file="$WORK/steps-$n"
        head -c $((1 << 20)) /dev/urandom >"$file"
        digest=$(sha256_of "$file")
        curl -sS -D "$WORK/h" -o /dev/null -X POST "http://$A/v2/faults/steps/blobs/uploads/"
        [ "$(status_of "$WORK/h")" = 202 ] || { cat "$WORK/h"; return 1; }
        url=$(location_on "$A" "$WORK/h")
        curl -sS -D "$WORK/h" -o /dev/null -X PATCH -H 'Content-Type: application/octet-stream' \
            -H "Content-Range: 0-$(($(stat -c %s "$file") - 1))" --data-binary @"$file" "$url"
        [ "$(status_of "$WORK/h")" = 202 ] || { cat "$WORK/h"; return 1; }
        url=$(location_on "$A" "$WORK/h")
        fp pg "cutaftersends $n" >/dev/null
        curl -sS -D "$WORK/h" -o "$WORK/b" --max-time 60 -X PUT "$(with_digest "$url" "$digest")" || true
        status=$(status_of "$WORK/h")
        fp pg up >/dev/null
        case $status in
        201) ;;
        503) expect_unavailable "closing PUT, PostgreSQL cut after $n statements" "$WORK/h" "$WORK/b" >/dev/null ;;
        *) echo "closing PUT, PostgreSQL cut after $n statements: ${status:-no answer}"; cat "$WORK/h" "$WORK/b"; return 1 ;;
        esac
        wait_ready "$A" 200 >/dev/null
        code=$(curl -sS -o "$WORK/got" -w '%{http_code}' "http://$W/v2/faults/steps/blobs/$digest")
        if [ "$code" = 200 ]; then
            cmp "$file" "$WORK/got"
        elif [ "$code" != 404 ]; then
            echo "after a cut after $n statements, the witness's GET answers $code"
            return 1
        fi
        retry=-
        if [ "$status" = 503 ]; then
            curl -sS -D "$WORK/h" -o "$WORK/b" -X PUT "$(with_digest "$url" "$digest")"
            retry=$(status_of "$WORK/h")
            if [ "$retry" = 416 ] && grep -q 'another request is writing' "$WORK/b"; then
                # The session's removal, which failed with the database away, is retried every second: within
                # two seconds of its return the session is gone.
                sleep 2
                curl -sS -D "$WORK/h" -o "$WORK/b" -X PUT "$(with_digest "$url" "$digest")"
                retry="416,$(status_of "$WORK/h")"
            fi
            case ${retry#416,} in
            201) ;;
            404)
                grep -q BLOB_UPLOAD_UNKNOWN "$WORK/b" || { cat "$WORK/b"; return 1; }
                push_blob "$A" faults/steps "$file"
                ;;
            *) echo "retried PUT after a cut after $n statements: $retry"; cat "$WORK/h" "$WORK/b"; return 1 ;;
            esac
        fi
        curl -sS -o "$WORK/got" "http://$W/v2/faults/steps/blobs/$digest"
        cmp "$file" "$WORK/got"
        outcomes="$outcomes $n:$status/$code/$retry"
    done
    # Which step each cut fell in: the PUT's answer / the witness's GET before the retry / the retry's answer.
    echo "cut after N statements -> PUT/witness/retry:$outcomes"
}
check "PostgreSQL cut after each statement of an upload's closing PUT: 201 or 503, never half a blob, then it commits" \
    t_pg_cut_commit_steps

t_pg_stops_answering() {
    # Held, not reset: a PostgreSQL that stopped answering (SIGSTOP, a frozen machine, a partition behind a proxy
    # that still acknowledges the bytes). Keepalives and tcp_user_timeout see nothing wrong; the request must still
    # end, with a 503, within the answer timeout, and not wait for as long as the server stays away.
    local t0 took
    fp pg hold
    t0=$EPOCHREALTIME
    curl -sS -D "$WORK/h" -o "$WORK/b" --max-time 60 "http://$A/v2/faults/pgman/tags/list" || true
    took=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", b - a }')
    echo "tag list with PostgreSQL not answering: $(status_of "$WORK/h") after ${took} s"
    expect_unavailable "tag list with PostgreSQL not answering" "$WORK/h" "$WORK/b"
    [ "$took" -le $((PG_ANSWER_TIMEOUT + 5)) ] || { echo "took ${took} s, more than the answer timeout + 5 s"; return 1; }
    expect_eq "/readyz while PostgreSQL does not answer" 503 "$(readyz "$A")"
    fp pg pass
    wait_ready "$A" 200
    expect_eq "tag list once PostgreSQL answers again" 200 "$(http_code "http://$A/v2/faults/pgman/tags/list")"
}
check "PostgreSQL stops answering (traffic held, nothing reset): 503 within the answer timeout, then recovery" \
    t_pg_stops_answering

t_all_recovered() {
    # The faulty replica was never restarted: a whole image push and pull through it, and its /readyz.
    local digest
    digest=$(layout_digest "$WORK/img-commit" v1)
    push_image_blobs "$A" faults/after "$WORK/img-commit"
    put_manifest "$A" faults/after v1 "$WORK/img-commit" "$WORK/h" "$WORK/b"
    expect_eq "manifest PUT" 201 "$(status_of "$WORK/h")"
    expect_eq "manifest digest from the faulty replica" "$digest" \
        "$(curl -sS -H "Accept: $MT_MANIFEST" "http://$A/v2/faults/after/manifests/v1" | sha256sum | sed 's/^\([0-9a-f]*\).*/sha256:\1/')"
    expect_eq "/readyz" 200 "$(readyz "$A")"
    kill -0 "$(cat "$WORK/faulty.pid")"
    fp s3 status
    fp pg status
}
check "the faulty replica, never restarted, serves a whole push and pull after the faults" t_all_recovered

# --- a PostgreSQL of our own, really stopped and started (pg_ctl): never the shared one --------------------------

t_pg_ctl_restart() {
    [ -x "$PGBIN/initdb" ] || { echo "initdb not found under $PGBIN (postgresql-15)"; return 1; }
    local port base data
    base=$(mktemp -d "${TMPDIR:-/tmp}/swfaults-pg.XXXXXX")
    chmod 755 "$base"
    data=$base/data
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    install -d -m 700 "$data"
    [ "$(id -u)" -ne 0 ] || chown postgres "$data" "$base"
    OWN_PG=$data
    echo "$data" >"$WORK/own-pg"
    as_pg_owner "$PGBIN/initdb" -D "$data" -U postgres --auth-local=trust --auth-host=trust --no-sync \
        --no-instructions >"$WORK/logs/own-pg-initdb.log" 2>&1 || { cat "$WORK/logs/own-pg-initdb.log"; return 1; }
    cat >>"$data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$base'
fsync = off
EOF
    as_pg_owner "$PGBIN/pg_ctl" start -D "$data" -l "$base/log" -w -t 60 -s
    "$PSQL" -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -c "CREATE DATABASE swfaults"
    cat >"$WORK/own.yml" <<EOF
version: 0.1
log:
  level: warning
storage:
  s3:
    regionendpoint: $S3_ENDPOINT
    region: $S3_REGION
    bucket: $S3_BUCKET
    accesskey: $S3_ACCESS_KEY
    secretkey: $S3_SECRET_KEY
    rootdirectory: $PREFIX-own
    forcepathstyle: true
  redirect:
    disable: true
database:
  enabled: true
  host: 127.0.0.1
  port: $port
  user: postgres
  dbname: swfaults
  sslmode: disable
EOF
    local addr
    addr=$(start_replica own "$WORK/own.yml")
    wait_ready "$addr" 200
    push_image_blobs "$addr" own/img "$WORK/img-s3"
    as_pg_owner "$PGBIN/pg_ctl" stop -D "$data" -m fast -w -t 60 -s
    wait_ready "$addr" 503
    put_manifest "$addr" own/img v1 "$WORK/img-s3" "$WORK/h" "$WORK/b"
    expect_unavailable "manifest PUT with PostgreSQL stopped" "$WORK/h" "$WORK/b"
    curl -sS -D "$WORK/h" -o "$WORK/b" --max-time 60 "http://$addr/v2/own/img/tags/list" || true
    expect_unavailable "tag list with PostgreSQL stopped" "$WORK/h" "$WORK/b"
    as_pg_owner "$PGBIN/pg_ctl" start -D "$data" -l "$base/log" -w -t 60 -s
    wait_ready "$addr" 200
    put_manifest "$addr" own/img v1 "$WORK/img-s3" "$WORK/h" "$WORK/b"
    expect_eq "manifest PUT after the restart" 201 "$(status_of "$WORK/h")"
    expect_eq "tag list after the restart" 200 "$(http_code "http://$addr/v2/own/img/tags/list")"
    kill -TERM "$(cat "$WORK/own.pid")"
    wait "$(cat "$WORK/own.pid")" 2>/dev/null || true
    as_pg_owner "$PGBIN/pg_ctl" stop -D "$data" -m fast -w -t 60 -s
    rm -rf "$base"
}
check "a PostgreSQL of this test's own stopped (pg_ctl) and started: 503s meanwhile, then the replica recovers" \
    t_pg_ctl_restart
# The check ran in a subshell: its server and cluster, if it failed half-way, are stopped here.
if [ -f "$WORK/own.pid" ]; then kill -TERM "$(cat "$WORK/own.pid")" 2>/dev/null || true; fi
[ -f "$WORK/own-pg" ] && OWN_PG=$(cat "$WORK/own-pg")

summary
[ "$FAIL" -eq 0 ]
