#!/usr/bin/env bash
# Metrics and probes of the real swregistry binary: /metrics parses as Prometheus text exposition (with
# prometheus_client's own parser) and its figures move by exactly the requests made; the http.debug.addr listener;
# /readyz turning 503 when the store cannot be written and during a shutdown; metrics.enabled false.
#
# Every check prints `PASS name` or `FAIL name`; the last line is `N passed, M failed`.
#
# Environment: E2E_SWREGISTRY_BIN (binary to use), E2E_KEEP=1 (keep the work folder).
# Needs: python3 with prometheus_client (PyPI; installed here with pip when missing), curl.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
E2E_NAME="metrics e2e"
E2E_SLUG="swregistry-metrics"
# shellcheck source=lib.sh
source "$HERE/lib.sh"
e2e_setup

if ! python3 -c 'import prometheus_client' 2>/dev/null; then
    python3 -m pip install --quiet prometheus_client >"$WORK/logs/pip.log" 2>&1 \
        || { tail -n 20 "$WORK/logs/pip.log"; abort "setup: pip install prometheus_client"; }
fi

# metrics URL — the exposition checked and flattened, one `name{label="value",…} value` a line (labels sorted),
# by prometheus_client's parser; fails on a wrong Content-Type or anything the parser refuses.
scrape() {
    python3 - "$1" <<'EOF'
import sys, urllib.request
from prometheus_client.parser import text_string_to_metric_families
with urllib.request.urlopen(sys.argv[1], timeout=10) as response:
    kind = response.headers.get("Content-Type")
    if kind != "text/plain; version=0.0.4; charset=utf-8":
        sys.exit("Content-Type: %r" % kind)
    text = response.read().decode("utf-8")
for family in text_string_to_metric_families(text):
    for sample in family.samples:
        labels = ",".join('%s="%s"' % (k, v) for k, v in sorted(sample.labels.items()))
        print("%s{%s} %r" % (sample.name, labels, sample.value))
EOF
}

# value FILE SERIES — the sample's value in a flattened scrape, 0 when absent.
value() { awk -v s="$2" '$1 == s { v = $2 } END { print (v == "" ? 0 : v) }' "$1"; }

# delta BEFORE AFTER SERIES — after − before, as an integer.
delta() { python3 -c "import sys; print(int(float(sys.argv[2]) - float(sys.argv[1])))" "$(value "$1" "$3")" "$(value "$2" "$3")"; }

# push_blob REPO FILE — monolithic upload; prints the digest.
push_blob() {
    local digest location
    digest=$(sha256_of "$2")
    location=$(curl -sS -o /dev/null -D - -X POST "http://$REG/v2/$1/blobs/uploads/" | tr -d '\r' \
        | sed -n 's/^[Ll]ocation: //p')
    case "$location" in http*) ;; *) location="http://$REG$location" ;; esac
    case "$location" in *\?*) location="$location&digest=$digest" ;; *) location="$location?digest=$digest" ;; esac
    [ "$(curl -sS -o /dev/null -w '%{http_code}' -X PUT --data-binary "@$2" \
        -H 'Content-Type: application/octet-stream' "$location")" = 201 ] || die "PUT blob $digest"
    echo "$digest"
}

start_registry --debug-address 127.0.0.1:0
debug_port() {
    local i port=""
    for ((i = 0; i < 100; i++)); do
        port=$(sed -n 's/^swregistry debug listener on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p;T;q' "$WORK/logs/server.out")
        [ -n "$port" ] && break
        sleep 0.1
    done
    echo "$port"
}
DEBUG="127.0.0.1:$(debug_port)"
[ "$DEBUG" != "127.0.0.1:" ] || abort "setup: swregistry prints 'swregistry debug listener on 127.0.0.1:PORT'"

# ---------------------------------------------------------------------------------------------------------

check "/metrics parses as Prometheus text exposition 0.0.4 and names the registry's families" eval '
    scrape "http://$REG/metrics" >"$WORK/first.txt"
    for family in swregistry_http_open_connections swregistry_uploads_in_progress \
                  swregistry_manifest_cache_hits_total swregistry_manifest_cache_misses_total \
                  swregistry_auth_failures_total swregistry_store_blobs swregistry_store_blob_bytes; do
        grep -q "^$family{" "$WORK/first.txt" || die "no $family"
    done
    grep "^swregistry_http_open_connections{" "$WORK/first.txt"
'

MANIFEST_GETS=7
check "request counts and bytes move by exactly the requests made" eval '
    head -c 3000 /dev/urandom >"$WORK/layer"
    echo "{\"architecture\":\"amd64\",\"os\":\"linux\"}" >"$WORK/config"
    layer=$(push_blob metrics/app "$WORK/layer")
    config=$(push_blob metrics/app "$WORK/config")
    printf "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"%s\",\"size\":%d},\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"%s\",\"size\":%d}]}" \
        "$config" "$(stat -c %s "$WORK/config")" "$layer" 3000 >"$WORK/manifest"
    [ "$(curl -sS -o /dev/null -w "%{http_code}" -X PUT --data-binary @"$WORK/manifest" \
        -H "Content-Type: application/vnd.oci.image.manifest.v1+json" "http://$REG/v2/metrics/app/manifests/v1")" = 201 ]
    scrape "http://$REG/metrics" >"$WORK/before.txt"
    for ((i = 0; i < MANIFEST_GETS; i++)); do
        curl -sS -o /dev/null "http://$REG/v2/metrics/app/manifests/v1"
    done
    curl -sS -o /dev/null "http://$REG/v2/metrics/app/manifests/absent"
    sleep 0.2  # each exchange is counted just after its response is written
    scrape "http://$REG/metrics" >"$WORK/after.txt"
    ok="swregistry_http_requests_total{method=\"GET\",route=\"manifest\",status=\"200\"}"
    missing="swregistry_http_requests_total{method=\"GET\",route=\"manifest\",status=\"404\"}"
    sent="swregistry_http_sent_bytes_total{route=\"manifest\"}"
    expect_eq "manifest GETs counted" "$MANIFEST_GETS" "$(delta "$WORK/before.txt" "$WORK/after.txt" "$ok")"
    expect_eq "missing manifests counted" 1 "$(delta "$WORK/before.txt" "$WORK/after.txt" "$missing")"
    size=$(stat -c %s "$WORK/manifest")
    notfound=$(curl -sS "http://$REG/v2/metrics/app/manifests/absent" | wc -c)
    expect_eq "manifest bytes sent" "$((MANIFEST_GETS * size + notfound))" "$(delta "$WORK/before.txt" "$WORK/after.txt" "$sent")"
    expect_eq "one PUT of a manifest" 1 "$(value "$WORK/after.txt" "swregistry_http_requests_total{method=\"PUT\",route=\"manifest\",status=\"201\"}" | cut -d. -f1)"
    received=$(value "$WORK/after.txt" "swregistry_http_received_bytes_total{route=\"upload\"}")
    expect_eq "blob bytes received" "$((3000 + $(stat -c %s "$WORK/config")))" "${received%.*}"
    hits=$(delta "$WORK/before.txt" "$WORK/after.txt" "swregistry_manifest_cache_hits_total{}")
    [ "$hits" -ge $((MANIFEST_GETS - 1)) ] || die "cache hits: $hits"
    count=$(delta "$WORK/before.txt" "$WORK/after.txt" "swregistry_http_request_duration_seconds_count{method=\"GET\",route=\"manifest\"}")
    expect_eq "latency observations" "$((MANIFEST_GETS + 1))" "$count"
    expect_eq "stored blobs (layer, config, manifest)" 3 "$(value "$WORK/after.txt" "swregistry_store_blobs{}" | cut -d. -f1)"
'

check "the debug listener serves /metrics, /healthz and /readyz without authentication, and nothing else" eval '
    scrape "http://$DEBUG/metrics" >"$WORK/debug.txt"   # to a file: grep -q on a pipe would cut the writer off
    grep -q "^swregistry_http_requests_total{" "$WORK/debug.txt"
    expect_eq "/healthz" 200 "$(curl -sS -o /dev/null -w "%{http_code}" "http://$DEBUG/healthz")"
    expect_eq "/readyz" "{\"status\":\"ok\"}" "$(curl -sS "http://$DEBUG/readyz")"
    expect_eq "/v2/" 404 "$(curl -sS -o /dev/null -w "%{http_code}" "http://$DEBUG/v2/")"
    expect_eq "/v2/_catalog" 404 "$(curl -sS -o /dev/null -w "%{http_code}" "http://$DEBUG/v2/_catalog")"
'

check "/readyz answers 503 with a reason while the store cannot be written, 200 again after" eval '
    mv "$STORE/tmp" "$STORE/tmp.away"
    touch "$STORE/tmp"   # a file where the folder was: creating in it fails even for root
    for ((i = 0; i < 30; i++)); do
        code=$(curl -sS -o "$WORK/readyz.json" -w "%{http_code}" "http://$REG/readyz")
        [ "$code" = 503 ] && break
        sleep 0.1
    done
    rm "$STORE/tmp"; mv "$STORE/tmp.away" "$STORE/tmp"
    expect_eq "status while broken" 503 "$code"
    python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d[\"status\"]==\"unavailable\" and \"storage not writable\" in d[\"reason\"], d; print(d)" "$WORK/readyz.json"
    expect_eq "/healthz while broken" 200 "$(curl -sS -o /dev/null -w "%{http_code}" "http://$REG/healthz")"
    sleep 1.1
    expect_eq "status once repaired" 200 "$(curl -sS -o /dev/null -w "%{http_code}" "http://$REG/readyz")"
'

check "/readyz answers 503 \"shutting down\" while a request in flight holds the shutdown" eval '
    location=$(curl -sS -o /dev/null -D - -X POST "http://$REG/v2/metrics/app/blobs/uploads/" | tr -d "\r" | sed -n "s/^[Ll]ocation: //p")
    python3 - "$REG" "$location" "$DEBUG" "$SERVER_PID" <<EOF
import json, os, signal, socket, sys, time, urllib.error, urllib.request
reg, location, debug, pid = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
host, port = reg.split(":")
held = socket.create_connection((host, int(port)))
# A PATCH whose body is not all sent: the request is in flight, so the server waits for it within its grace.
held.sendall(("PATCH %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/octet-stream\r\nContent-Length: 100\r\n\r\nhalf" % (location, reg)).encode())
time.sleep(0.3)
os.kill(pid, signal.SIGTERM)
deadline = time.time() + 5
while True:
    try:
        with urllib.request.urlopen("http://%s/readyz" % debug, timeout=5) as r:
            status, body = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, body = e.code, e.read()
    if status == 503 or time.time() > deadline:
        break
    time.sleep(0.05)
print(status, body)
held.close()
assert status == 503 and json.loads(body)["reason"] == "shutting down", (status, body)
EOF
'
stop_server || true

start_registry --metrics-enabled false --debug-address 127.0.0.1:0
DEBUG="127.0.0.1:$(debug_port)"
check "metrics.enabled false: /metrics is not found on either listener" eval '
    expect_eq "main /metrics" 404 "$(curl -sS -o /dev/null -w "%{http_code}" "http://$REG/metrics")"
    expect_eq "debug /metrics" 404 "$(curl -sS -o /dev/null -w "%{http_code}" "http://$DEBUG/metrics")"
    expect_eq "debug /readyz" 200 "$(curl -sS -o /dev/null -w "%{http_code}" "http://$DEBUG/readyz")"
'
stop_server

start_registry --debug-address 0.0.0.0:0
check "a debug listener on a non-loopback address is warned about" eval '
    for ((i = 0; i < 50; i++)); do grep -q "debug listener (http.debug.addr)" "$WORK/logs/server.err" && break; sleep 0.1; done
    grep "debug listener (http.debug.addr)" "$WORK/logs/server.err"
'
stop_server

summary
[ "$FAIL" -eq 0 ]
