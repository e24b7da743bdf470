#!/usr/bin/env bash
# Scale-out end-to-end test: three `swregistry serve` replicas sharing one S3 bucket (Ceph RGW) and one PostgreSQL
# database, behind rrproxy.py, which sends each request to the next replica in turn. skopeo pushes and pulls through
# the proxy (so one upload's POST, PATCH and PUT land on different replicas), so does swcopy, a chunked upload is spread over the
# replicas by hand, an upload continues on another replica after the one holding it is killed with -9, 8 clients
# move one tag at once, and every replica then gives the same answers.
#
# Every check prints `PASS name` or `FAIL name`; the last line is `N passed, M failed`.
#
# Environment:
#   SWREGISTRY_TEST_S3_ENDPOINT, _REGION, _ACCESS_KEY, _SECRET_KEY, _BUCKET and SWREGISTRY_TEST_POSTGRES
#                       the services (scripts/services/*.sh env); without them the test is skipped, or fails when CI
#                       is set
#   E2E_SWREGISTRY_BIN  use this swregistry binary instead of running `swift build --product swregistry`
#   E2E_SWCOPY_BIN      the swcopy binary (default: beside swregistry)
#   E2E_KEEP=1          keep the work folder (configuration, logs) and the database, and print where they are
#
# Needs: bash, skopeo, python3, curl, psql (postgresql-client-15).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
E2E_NAME="replicas over S3 + PostgreSQL"
E2E_SLUG="swregistry-replicas"

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

REPLICAS=3
REPLICA_PID=()
REPLICA_ADDR=()
PROXY_PID=""
DB=""
PSQL=$(command -v psql || true)
[ -x /usr/lib/postgresql/15/bin/psql ] && PSQL=/usr/lib/postgresql/15/bin/psql

e2e_setup

# conninfo_get KEY — a value of the key=value connection string (plain values, as scripts/services/postgres.sh gives).
conninfo_get() { tr ' ' '\n' <<<"$PG_CONNINFO" | sed -n "s/^$1=//p" | head -n 1; }
admin_sql() { "$PSQL" -X -q -v ON_ERROR_STOP=1 -d "$PG_CONNINFO" -c "$1"; }

replicas_cleanup() {
    local rc=$? pid
    for pid in "${REPLICA_PID[@]}" $PROXY_PID; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${REPLICA_PID[@]}" $PROXY_PID; do wait "$pid" 2>/dev/null || true; done
    if [ -n "$DB" ]; then
        if [ "${E2E_KEEP:-0}" = 1 ]; then
            echo "database kept: $DB" >&2
        else
            admin_sql "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
        fi
    fi
    # lib.sh's cleanup (the work folder), which exits with the status it finds in $?.
    set +e
    (exit "$rc")
    cleanup
}
trap replicas_cleanup EXIT

# --- the proxy first: it does not depend on the server -----------------------------------------------------------

CONTROL="$WORK/backends"
: >"$CONTROL"
: >"$WORK/logs/proxy.out"
python3 "$HERE/rrproxy.py" --control "$CONTROL" --log >"$WORK/logs/proxy.out" 2>"$WORK/logs/proxy.err" &
PROXY_PID=$!
for ((i = 0; i < 100; i++)); do
    PROXY_PORT=$(head -n 1 "$WORK/logs/proxy.out")
    [[ $PROXY_PORT =~ ^[0-9]+$ ]] && break
    kill -0 "$PROXY_PID" 2>/dev/null || break
    sleep 0.05
done
[[ ${PROXY_PORT:-} =~ ^[0-9]+$ ]] || abort "setup: rrproxy.py prints its port"
REG="127.0.0.1:$PROXY_PORT"
echo "rrproxy on $REG"

# set_backends ADDR... — the proxy's list, replaced atomically (it re-reads the file when it changes).
set_backends() {
    printf '%s\n' "$@" >"$CONTROL.new"
    mv "$CONTROL.new" "$CONTROL"
}

# --- database, configuration, replicas ---------------------------------------------------------------------------

[ -n "$PSQL" ] || abort "setup: psql installed (postgresql-client-15)"
DB="swtest_$(od -An -N8 -tx8 /dev/urandom | tr -d ' \n')"
admin_sql "CREATE DATABASE $DB" || abort "setup: CREATE DATABASE $DB"
PREFIX="/swtest/replicas-$(od -An -N8 -tx8 /dev/urandom | tr -d ' \n')"

# Distribution's keys for S3 (storage.s3.*) and GitLab's container registry's for PostgreSQL (database.*).
cat >"$WORK/config.yml" <<EOF
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
    rootdirectory: $PREFIX
    forcepathstyle: true
  redirect:
    disable: true
  delete:
    enabled: true
database:
  enabled: true
  host: $(conninfo_get host)
  port: $(conninfo_get port)
  user: $(conninfo_get user)
  password: $(conninfo_get password)
  dbname: $DB
  sslmode: disable
EOF

if [ -n "${E2E_SWREGISTRY_BIN:-}" ]; then
    BIN=$E2E_SWREGISTRY_BIN
else
    (cd "$ROOT" && swift build --product swregistry) >"$WORK/logs/build.log" 2>&1 \
        || { tail -n 30 "$WORK/logs/build.log"; abort "setup: swift build --product swregistry"; }
    BIN="$(cd "$ROOT" && swift build --show-bin-path)/swregistry"
fi
[ -x "$BIN" ] || abort "setup: swregistry binary at $BIN"

t_migrate() {
    "$BIN" migrate --config "$WORK/config.yml"
    # Idempotent: a second run finds nothing to do.
    "$BIN" migrate --config "$WORK/config.yml"
}
check "swregistry migrate applies the schema to a fresh database, twice" t_migrate

# start_replica N — starts replica N on a free port; sets REPLICA_PID[N] and REPLICA_ADDR[N].
start_replica() {
    local n=$1 i port=""
    : >"$WORK/logs/replica$n.out"
    "$BIN" serve --config "$WORK/config.yml" --address 127.0.0.1:0 \
        >"$WORK/logs/replica$n.out" 2>"$WORK/logs/replica$n.err" &
    REPLICA_PID[n]=$!
    for ((i = 0; i < 300; i++)); do
        port=$(sed -n 's/^swregistry listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$WORK/logs/replica$n.out" | head -n 1)
        [ -n "$port" ] && break
        kill -0 "${REPLICA_PID[n]}" 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$port" ]; then
        tail -n 20 "$WORK/logs/replica$n.out" "$WORK/logs/replica$n.err"
        return 1
    fi
    REPLICA_ADDR[n]=127.0.0.1:$port
    echo "replica $n on ${REPLICA_ADDR[n]} (pid ${REPLICA_PID[n]})"
}
for ((n = 0; n < REPLICAS; n++)); do
    start_replica "$n" || abort "setup: replica $n starts with storage.s3 and database (config $WORK/config.yml)"
done
set_backends "${REPLICA_ADDR[@]}"

# Which replica answered each request, from the proxy's log: "METHOD TARGET -> ADDR: STATUS".
proxy_log_mark() { wc -l <"$WORK/logs/proxy.err"; }
proxy_log_since() { tail -n +"$(($1 + 1))" "$WORK/logs/proxy.err" | grep ' -> ' || true; }

# --- checks --------------------------------------------------------------------------------------------------------

t_ready() {
    local addr
    for addr in "${REPLICA_ADDR[@]}"; do
        expect_eq "/readyz on $addr" 200 "$(curl -sS -o /dev/null -w '%{http_code}' "http://$addr/readyz")"
    done
    local mark
    mark=$(proxy_log_mark)
    curl -sS -o /dev/null -o /dev/null -o /dev/null "http://$REG/v2/" "http://$REG/v2/" "http://$REG/v2/"
    proxy_log_since "$mark"
    expect_eq "replicas reached" "$REPLICAS" "$(proxy_log_since "$mark" | sed 's/.* -> \(.*\): .*/\1/' | sort -u | wc -l)"
}
check "three replicas are ready, and the proxy reaches each in turn" t_ready

L1="$WORK/layout-v1"
python3 "$HERE/make_oci_layout.py" "$L1" v1 1 >/dev/null
SRC_DIGEST=$(layout_digest "$L1" v1)
SRC_MANIFEST=$(layout_blob "$L1" "$SRC_DIGEST")
mapfile -t SRC_BLOBS < <(manifest_blobs "$SRC_MANIFEST")

t_push() {
    local mark
    mark=$(proxy_log_mark)
    sk copy --dest-tls-verify=false "oci:$L1:v1" "docker://$REG/e2e/img:v1"
    # skopeo's uploads are POST, PATCH, PUT: with three replicas in turn, no upload stays on one replica.
    proxy_log_since "$mark" | grep -E '^rrproxy: (POST|PATCH|PUT) '
    [ "$(proxy_log_since "$mark" | sed 's/.* -> \(.*\): .*/\1/' | sort -u | wc -l)" -gt 1 ]
}
check "push: skopeo copy oci:LAYOUT -> docker://PROXY/e2e/img:v1 across the replicas" t_push

t_pull() {
    rm -rf "$WORK/pulled"
    sk copy --src-tls-verify=false "docker://$REG/e2e/img:v1" "oci:$WORK/pulled:v1"
    expect_eq "pulled manifest digest" "$SRC_DIGEST" "$(layout_digest "$WORK/pulled" v1)"
    local d
    for d in "$SRC_DIGEST" "${SRC_BLOBS[@]}"; do
        cmp "$(layout_blob "$L1" "$d")" "$(layout_blob "$WORK/pulled" "$d")"
    done
}
check "pull: skopeo copy docker://PROXY/e2e/img:v1 -> oci: gives the same digests and bytes" t_pull

t_every_replica_agrees() {
    local addr
    for addr in "${REPLICA_ADDR[@]}"; do
        expect_eq "digest on $addr" "$SRC_DIGEST" \
            "$(sk inspect --raw --tls-verify=false "docker://$addr/e2e/img:v1" | sha256sum | sed 's/^\([0-9a-f]*\).*/sha256:\1/')"
    done
}
check "every replica answers the pushed tag with the same manifest" t_every_replica_agrees

t_swcopy() {
    local swcopy=${E2E_SWCOPY_BIN:-$(dirname "$BIN")/swcopy}
    [ -x "$swcopy" ] || { echo "swcopy not found at $swcopy (E2E_SWCOPY_BIN)"; return 1; }
    "$swcopy" copy --dest-tls-verify=false "oci:$L1:v1" "docker://$REG/e2e/swcopy:v1"
    rm -rf "$WORK/sc-pulled"
    "$swcopy" copy --src-tls-verify=false "docker://$REG/e2e/swcopy:v1" "oci:$WORK/sc-pulled:v1"
    expect_eq "swcopy round trip digest" "$SRC_DIGEST" "$(layout_digest "$WORK/sc-pulled" v1)"
}
check "swcopy pushes and pulls through the proxy: the same digest" t_swcopy

# location_on ADDR HEADERS_FILE — the Location of an upload answer as an absolute URL on ADDR (a replica or the
# proxy), whether the server gave it absolute or relative.
location_on() {
    local loc
    loc=$(tr -d '\r' <"$2" | sed -n 's/^[Ll]ocation: //p' | tail -n 1)
    [ -n "$loc" ] || { echo "no Location in $2" >&2; return 1; }
    case $loc in
    http://* | https://*) loc=/${loc#*://*/} ;;
    esac
    echo "http://$1$loc"
}

# with_digest URL DIGEST — the upload URL with its digest parameter.
with_digest() { case $1 in *\?*) echo "$1&digest=$2" ;; *) echo "$1?digest=$2" ;; esac; }

# status_is CODE HEADERS_FILE — the final status (after any 100 Continue) is CODE.
status_is() { grep '^HTTP/' "$2" | tail -n 1 | grep -q "^HTTP/1\.[01] $1" || { cat "$2"; return 1; }; }

t_chunked_upload_across_replicas() {
    # 12 MiB in three PATCHes (S3 parts are at least 5 MiB: the replicas must carry the state between them).
    head -c $((12 << 20)) /dev/urandom >"$WORK/blob"
    split -b $((5 << 20)) -d "$WORK/blob" "$WORK/blob.part"
    local digest mark url offset=0 part size
    digest=$(sha256_of "$WORK/blob")
    mark=$(proxy_log_mark)
    curl -sS -D "$WORK/h" -o /dev/null -X POST "http://$REG/v2/e2e/chunked/blobs/uploads/"
    status_is 202 "$WORK/h"
    url=$(location_on "$REG" "$WORK/h")
    for part in "$WORK"/blob.part*; do
        size=$(stat -c %s "$part")
        curl -sS -D "$WORK/h" -o /dev/null -X PATCH -H 'Content-Type: application/octet-stream' \
            -H "Content-Range: $offset-$((offset + size - 1))" --data-binary @"$part" "$url"
        status_is 202 "$WORK/h"
        url=$(location_on "$REG" "$WORK/h")
        offset=$((offset + size))
    done
    curl -sS -D "$WORK/h" -o /dev/null -X PUT "$(with_digest "$url" "$digest")"
    status_is 201 "$WORK/h"
    proxy_log_since "$mark"
    # POST, 3 PATCHes, PUT: five requests, round robin over three replicas: every replica took part.
    expect_eq "replicas in the upload" "$REPLICAS" "$(proxy_log_since "$mark" | sed 's/.* -> \(.*\): .*/\1/' | sort -u | wc -l)"
    local addr
    for addr in "${REPLICA_ADDR[@]}"; do
        curl -sS -o "$WORK/got" "http://$addr/v2/e2e/chunked/blobs/$digest"
        cmp "$WORK/blob" "$WORK/got"
    done
}
check "a chunked upload whose requests land on different replicas commits, and every replica serves it" \
    t_chunked_upload_across_replicas

t_kill_mid_upload() {
    # An upload begun on replica 1, which is then killed with -9: replica 0 continues and finishes it.
    local victim=1 digest url first=$((5 << 20)) size
    local survivor=${REPLICA_ADDR[0]}
    head -c $((6 << 20)) /dev/urandom >"$WORK/blob2"
    digest=$(sha256_of "$WORK/blob2")
    head -c "$first" "$WORK/blob2" >"$WORK/blob2.a"
    tail -c +$((first + 1)) "$WORK/blob2" >"$WORK/blob2.b"
    size=$(stat -c %s "$WORK/blob2.b")
    set_backends "${REPLICA_ADDR[0]}" "${REPLICA_ADDR[2]}"
    curl -sS -D "$WORK/h" -o /dev/null -X POST "http://${REPLICA_ADDR[victim]}/v2/e2e/killed/blobs/uploads/"
    status_is 202 "$WORK/h"
    url=$(location_on "${REPLICA_ADDR[victim]}" "$WORK/h")
    curl -sS -D "$WORK/h" -o /dev/null -X PATCH -H "Content-Range: 0-$((first - 1))" --data-binary @"$WORK/blob2.a" "$url"
    status_is 202 "$WORK/h"
    kill -KILL "${REPLICA_PID[victim]}"
    wait "${REPLICA_PID[victim]}" 2>/dev/null || true
    # The same session on a surviving replica: its state is in PostgreSQL and S3, not in the killed process.
    url=$(location_on "$survivor" "$WORK/h")
    curl -sS -D "$WORK/h" -o /dev/null "$url"
    status_is 204 "$WORK/h"
    tr -d '\r' <"$WORK/h" | grep -i "^range: 0-$((first - 1))\$"
    curl -sS -D "$WORK/h" -o /dev/null -X PATCH -H "Content-Range: $first-$((first + size - 1))" \
        --data-binary @"$WORK/blob2.b" "$url"
    status_is 202 "$WORK/h"
    url=$(location_on "$survivor" "$WORK/h")
    curl -sS -D "$WORK/h" -o /dev/null -X PUT "$(with_digest "$url" "$digest")"
    status_is 201 "$WORK/h"
    curl -sS -o "$WORK/got2" "http://${REPLICA_ADDR[2]}/v2/e2e/killed/blobs/$digest"
    cmp "$WORK/blob2" "$WORK/got2"
}
check "kill -9 of the replica holding an upload: another replica continues and commits it" t_kill_mid_upload
# Back to three replicas, here in the script's shell (checks run in subshells): the killed one starts again.
kill -KILL "${REPLICA_PID[1]}" 2>/dev/null || true
wait "${REPLICA_PID[1]}" 2>/dev/null || true
start_replica 1 || abort "setup: replica 1 starts again after kill -9"
set_backends "${REPLICA_ADDR[@]}"

t_tag_race() {
    # 8 clients move e2e/race:latest at once, each to its own image, through the proxy (so through every replica).
    local i pids=() digests=()
    for ((i = 0; i < 8; i++)); do
        python3 "$HERE/make_oci_layout.py" "$WORK/race$i" v1 $((100 + i)) >/dev/null
        digests+=("$(layout_digest "$WORK/race$i" v1)")
    done
    for ((i = 0; i < 8; i++)); do
        sk copy --dest-tls-verify=false "oci:$WORK/race$i:v1" "docker://$REG/e2e/race:latest" \
            >"$WORK/logs/race$i.log" 2>&1 &
        pids+=($!)
    done
    for i in "${!pids[@]}"; do wait "${pids[i]}" || { cat "$WORK/logs/race$i.log"; return 1; }; done
    # One winner, and every replica names the same one.
    local addr got first=""
    for addr in "${REPLICA_ADDR[@]}"; do
        got=$(sk inspect --raw --tls-verify=false "docker://$addr/e2e/race:latest" | sha256sum | sed 's/^\([0-9a-f]*\).*/sha256:\1/')
        echo "$addr: $got"
        [ -z "$first" ] && first=$got
        expect_eq "tag on $addr" "$first" "$got"
    done
    printf '%s\n' "${digests[@]}" | grep -qx "$first"
}
check "8 clients move one tag through different replicas: one winner, the same on every replica" t_tag_race

# --- garbage collection on one replica while the others serve pushes ------------------------------------------------

GC_GRACE=4
# s3_key DIGEST — the blob's key in the bucket (S3Layout: distribution's layout under rootdirectory).
s3_key() { local hex=${1#*:}; echo "${PREFIX#/}/docker/registry/v2/blobs/${1%%:*}/${hex:0:2}/$hex/data"; }
# s3_curl ARGS... — a request signed with SigV4 by curl (RGW wants x-amz-content-sha256, which curl 7.88 omits).
s3_curl() {
    curl -sS --max-time 30 --aws-sigv4 "aws:amz:$S3_REGION:s3" --user "$S3_ACCESS_KEY:$S3_SECRET_KEY" \
        -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" "$@"
}
# s3_blob_digests — every blob the bucket holds under this run's prefix (ListObjectsV2, every page), one a line.
s3_blob_digests() {
    local token="" page quote='import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))'
    for ((page = 0; page < 1000; page++)); do
        local query="list-type=2&prefix=$(python3 -c "$quote" "${PREFIX#/}/docker/registry/v2/blobs/")"
        [ -z "$token" ] || query="$query&continuation-token=$(python3 -c "$quote" "$token")"
        s3_curl -f -o "$WORK/list.xml" "$S3_ENDPOINT/$S3_BUCKET?$query" || return 1
        # Prints the digests, then the continuation token (an empty line when this was the last page).
        python3 - "$WORK/list.xml" >"$WORK/list.out" <<'PY'
import re, sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
for key in root.iter(ns + "Key"):
    m = re.search(r"/blobs/(sha256)/[0-9a-f]{2}/([0-9a-f]{64})/data$", key.text or "")
    if m:
        print(f"{m.group(1)}:{m.group(2)}")
truncated = root.find(ns + "IsTruncated")
token = root.find(ns + "NextContinuationToken")
print(token.text if truncated is not None and truncated.text == "true" and token is not None else "")
PY
        sed '$d' "$WORK/list.out"
        token=$(tail -n 1 "$WORK/list.out")
        [ -n "$token" ] || return 0
    done
}
db_sql() { "$PSQL" -X -q -At -v ON_ERROR_STOP=1 -d "$PG_CONNINFO dbname=$DB" -c "$1"; }
# gc_runs — how many collections replica 2 has finished (its log says "gc: removed ..." after each, with the time:
# counted once however many times it is logged).
gc_runs() { cat "$WORK/logs/replica2.out" "$WORK/logs/replica2.err" 2>/dev/null | { grep 'gc: removed' || true; } | sort -u | wc -l; }
# wait_gc_runs N — waits (at most 60 s) until replica 2 has finished N collections.
wait_gc_runs() {
    local i
    for ((i = 0; i < 600; i++)); do
        [ "$(gc_runs)" -ge "$1" ] && return 0
        sleep 0.1
    done
    echo "replica 2 finished $(gc_runs) collections in 60 s, waited for $1"
    grep -i 'gc' "$WORK/logs/replica2.out" "$WORK/logs/replica2.err" | tail -n 20
    return 1
}

# Garbage first: an image whose manifest is deleted by digest, on top of what the earlier checks left (the chunked
# and the kill -9 blobs, linked to no manifest; the 7 images that lost the tag race, untagged). More is made while
# the collector runs (t_gc_while_pushing deletes the race's tag and a manifest that shares its blobs). What those
# name, apart from what a kept image names too (layer 1 is the same for every seed), must go.
python3 "$HERE/make_oci_layout.py" "$WORK/doomed" v1 200 >/dev/null
for ((i = 0; i < 4; i++)); do python3 "$HERE/make_oci_layout.py" "$WORK/live$i" v1 $((400 + i)) >/dev/null; done

t_make_garbage() {
    local digest i d
    digest=$(layout_digest "$WORK/doomed" v1)
    sk copy --dest-tls-verify=false "oci:$WORK/doomed:v1" "docker://$REG/e2e/doomed:v1"
    expect_eq "DELETE manifest e2e/doomed@$digest" 202 "$(curl -sS -o /dev/null -w '%{http_code}' -X DELETE \
        "http://$REG/v2/e2e/doomed/manifests/$digest")"
    { echo "$digest"; manifest_blobs "$(layout_blob "$WORK/doomed" "$digest")"; } >"$WORK/doomed.digests"
    sha256_of "$WORK/blob" >>"$WORK/doomed.digests"
    sha256_of "$WORK/blob2" >>"$WORK/doomed.digests"
    # Every image of the race: the losers are untagged, the winner loses its tag during the collection.
    for ((i = 0; i < 8; i++)); do
        d=$(layout_digest "$WORK/race$i" v1)
        { echo "$d"; manifest_blobs "$(layout_blob "$WORK/race$i" "$d")"; } >>"$WORK/doomed.digests"
    done
    manifest_blobs "$SRC_MANIFEST" | sort -u >"$WORK/kept.digests"
    sort -u "$WORK/doomed.digests" | comm -23 - "$WORK/kept.digests" >"$WORK/garbage.digests"
    echo "garbage: $(wc -l <"$WORK/garbage.digests") blobs and manifests"
    # The garbage blobs are in the bucket now: the check after the collection must see them go.
    local present
    s3_blob_digests | sort -u >"$WORK/s3-before"
    present=$(comm -12 "$WORK/s3-before" "$WORK/garbage.digests" | wc -l)
    echo "garbage blobs in the bucket before the collection: $present"
    [ "$present" -ge 10 ]
}
check "garbage for the collector: a deleted image, uploads linked to no manifest, the tag race's images" \
    t_make_garbage

# Replica 2 becomes the collecting replica: it restarts with a collection every second, a grace of $GC_GRACE s and
# untagged manifests collected; it keeps serving its share of the requests meanwhile.
kill -TERM "${REPLICA_PID[2]}" 2>/dev/null || true
wait "${REPLICA_PID[2]}" 2>/dev/null || true
sleep "$GC_GRACE"   # the garbage is older than the grace period when the first collection starts
SWREGISTRY_GC_INTERVAL=1s SWREGISTRY_GC_GRACE=${GC_GRACE}s SWREGISTRY_GC_DELETEUNTAGGED=true \
    SWREGISTRY_LOG_LEVEL=info start_replica 2 || abort "setup: replica 2 starts again with gc.interval=1s"
set_backends "${REPLICA_ADDR[@]}"

t_gc_while_pushing() {
    local swcopy=${E2E_SWCOPY_BIN:-$(dirname "$BIN")/swcopy}
    local runs_before k pids=()
    runs_before=$(gc_runs)
    # Four clients push (two skopeo, two swcopy) through the proxy, each its own image under two tags, while
    # replica 2 collects; an acknowledged push is recorded with its digest. Meanwhile garbage is made: the race's
    # tag and e2e/swcopy's manifest (whose blobs e2e/img keeps) are deleted.
    for ((k = 0; k < 4; k++)); do
        (
            local j digest rc
            digest=$(layout_digest "$WORK/live$k" v1)
            for ((j = 0; j < 2; j++)); do
                rc=0
                if ((k % 2)); then
                    "$swcopy" copy --dest-tls-verify=false "oci:$WORK/live$k:v1" "docker://$REG/e2e/live$k:t$j" \
                        >>"$WORK/logs/live$k.log" 2>&1 || rc=$?
                else
                    sk copy --dest-tls-verify=false "oci:$WORK/live$k:v1" "docker://$REG/e2e/live$k:t$j" \
                        >>"$WORK/logs/live$k.log" 2>&1 || rc=$?
                fi
                if [ "$rc" -eq 0 ]; then echo "e2e/live$k:t$j $digest" >>"$WORK/acked.$k"; fi
                echo "push e2e/live$k:t$j: exit $rc" >>"$WORK/logs/live$k.log"
            done
        ) &
        pids+=($!)
    done
    expect_eq "DELETE tag e2e/race:latest" 202 "$(curl -sS -o /dev/null -w '%{http_code}' -X DELETE \
        "http://$REG/v2/e2e/race/manifests/latest")"
    expect_eq "DELETE manifest e2e/swcopy@$SRC_DIGEST" 202 "$(curl -sS -o /dev/null -w '%{http_code}' -X DELETE \
        "http://$REG/v2/e2e/swcopy/manifests/$SRC_DIGEST")"
    for k in "${!pids[@]}"; do wait "${pids[k]}"; done
    cat "$WORK"/acked.* >"$WORK/acked"
    echo "acknowledged pushes: $(wc -l <"$WORK/acked") of 8; collections during them: $(($(gc_runs) - runs_before))"
    grep -h 'exit [1-9]' "$WORK"/logs/live*.log || true
    [ "$(($(gc_runs) - runs_before))" -ge 1 ] || { echo "no collection finished while the clients pushed"; return 1; }
    # Every push succeeded: the collector never took what a push was about to name (the grace period and the
    # database's lock keep them apart).
    expect_eq "acknowledged pushes" 8 "$(wc -l <"$WORK/acked")"
    # Two more collections once the pushes are older than the grace period: still nothing of theirs goes.
    sleep "$GC_GRACE"
    wait_gc_runs $(($(gc_runs) + 2))
    grep -h 'gc: removed' "$WORK/logs/replica2.out" "$WORK/logs/replica2.err" | tail -n 3
}
check "gc every second on replica 2 while 4 clients push through all three replicas and others delete: all acknowledged" \
    t_gc_while_pushing

t_gc_kept_what_is_reachable() {
    local swcopy=${E2E_SWCOPY_BIN:-$(dirname "$BIN")/swcopy}
    local ref digest n=0 d
    # Every acknowledged push, and what the earlier checks left tagged, pulled through the proxy; skopeo and swcopy
    # both verify every blob against its digest as they read it; the manifest's digest is compared here.
    { cat "$WORK/acked"; echo "e2e/img:v1 $SRC_DIGEST"; } >"$WORK/expect-pull"
    while read -r ref digest; do
        rm -rf "$WORK/out"
        if ((n % 2)); then
            "$swcopy" copy --src-tls-verify=false "docker://$REG/$ref" "oci:$WORK/out:x"
        else
            sk copy --src-tls-verify=false "docker://$REG/$ref" "oci:$WORK/out:x"
        fi
        expect_eq "$ref" "$digest" "$(layout_digest "$WORK/out" x)"
        for d in "$digest" $(manifest_blobs "$(layout_blob "$WORK/out" "$digest")"); do
            [ "$(sha256_of "$(layout_blob "$WORK/out" "$d")")" = "$d" ] || { echo "$ref: $d re-hashes otherwise"; return 1; }
        done
        n=$((n + 1))
    done <"$WORK/expect-pull"
    echo "$n images pulled and re-hashed"
}
check "after the collections: every acknowledged push pulls, each blob re-hashing to its digest" \
    t_gc_kept_what_is_reachable

t_gc_removed_garbage() {
    local d left=0
    s3_blob_digests | sort -u >"$WORK/s3-after"
    echo "blobs in the bucket: $(wc -l <"$WORK/s3-before") before, $(wc -l <"$WORK/s3-after") after"
    # The garbage is gone from the bucket, from the database, and from the API.
    comm -12 "$WORK/s3-after" "$WORK/garbage.digests" >"$WORK/left"
    if [ -s "$WORK/left" ]; then echo "garbage still in the bucket:"; cat "$WORK/left"; left=1; fi
    db_sql "SELECT digest FROM blobs" | sort -u >"$WORK/db-blobs"
    comm -12 "$WORK/db-blobs" "$WORK/garbage.digests" >"$WORK/left"
    if [ -s "$WORK/left" ]; then echo "garbage still in the blobs table:"; cat "$WORK/left"; left=1; fi
    db_sql "SELECT DISTINCT digest FROM manifests" | sort -u | comm -12 - "$WORK/garbage.digests" >"$WORK/left"
    if [ -s "$WORK/left" ]; then echo "garbage manifests still stored:"; cat "$WORK/left"; left=1; fi
    expect_eq "GET of a doomed blob" 404 "$(curl -sS -o /dev/null -w '%{http_code}' \
        "http://$REG/v2/e2e/chunked/blobs/$(sha256_of "$WORK/blob")")"
    # No record without its content: every blob the database names is in the bucket.
    comm -23 "$WORK/db-blobs" "$WORK/s3-after" >"$WORK/left"
    if [ -s "$WORK/left" ]; then echo "recorded blobs missing from the bucket:"; cat "$WORK/left"; left=1; fi
    # No dangling names: every manifest's blobs are recorded, every tag's manifest stored (the tags table's foreign
    # key says so too), and through the API every tag of every repository answers its manifest.
    expect_eq "manifest references to missing blobs" 0 "$(db_sql "SELECT count(*) FROM manifest_references r
        WHERE NOT r.is_manifest AND NOT EXISTS (SELECT 1 FROM blobs b WHERE b.digest = r.reference_digest)")"
    expect_eq "tags naming a missing manifest" 0 "$(db_sql "SELECT count(*) FROM tags t WHERE NOT EXISTS
        (SELECT 1 FROM manifests m WHERE m.repository_id = t.repository_id AND m.digest = t.manifest_digest)")"
    local repo tag code tags=0
    for repo in $(curl -sS "http://$REG/v2/_catalog?n=1000" | python3 -c 'import json,sys; print("\n".join(json.load(sys.stdin)["repositories"]))'); do
        for tag in $(curl -sS "http://$REG/v2/$repo/tags/list" | python3 -c 'import json,sys; print("\n".join(json.load(sys.stdin).get("tags") or []))'); do
            code=$(curl -sS -o /dev/null -w '%{http_code}' -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
                -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' "http://$REG/v2/$repo/manifests/$tag")
            [ "$code" = 200 ] || { echo "$repo:$tag answers $code"; left=1; }
            tags=$((tags + 1))
        done
    done
    echo "$tags tags answer their manifests"
    return "$left"
}
check "after the collections: the garbage is gone (bucket, database, API), no record or tag dangles" \
    t_gc_removed_garbage

summary
[ "$FAIL" -eq 0 ]
