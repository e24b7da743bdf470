#!/usr/bin/env bash
# Checks a live swregistry against openapi/openapi.yaml with schemathesis.
#
# Builds swregistry (debug), starts it on 127.0.0.1 (port chosen by the kernel) with a temporary store, seeds it
# with one small image through the API using curl, runs schemathesis against it, stops the server, and prints a
# one-line summary. Exits non-zero when the build, the seeding or any schemathesis check fails.
#
# Environment: MAX_EXAMPLES (default 30), SCHEMATHESIS_TIMEOUT (seconds, default 150), SEED (hypothesis seed,
# default 1), PHASES (default examples,coverage,fuzzing,stateful), KEEP=1 keeps the temporary folder (report, log).
# Requires: swift, curl, sha256sum, python3 with schemathesis 4 (`python3 -m pip install schemathesis`).
set -euo pipefail

cd "$(dirname "$0")/.."
SPEC=${SPEC:-openapi/openapi.yaml}
MAX_EXAMPLES=${MAX_EXAMPLES:-30}
SCHEMATHESIS_TIMEOUT=${SCHEMATHESIS_TIMEOUT:-150}
SEED=${SEED:-1}
PHASES=${PHASES:-examples,coverage,fuzzing,stateful}
CHECKS=${CHECKS:-not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,unsupported_method,allow_header_conformance}
started=$(date +%s)

fail() { echo "live_check: FAIL: $*" >&2; exit 1; }

command -v schemathesis >/dev/null || fail "schemathesis is not installed (python3 -m pip install schemathesis)"
st_version=$(schemathesis --version | awk '{print $NF}')
case "$st_version" in 4.*) ;; *) fail "schemathesis $st_version found; this script uses the v4 CLI" ;; esac

# Build. SwiftPM waits by itself while another build holds .build.
swift build --product swregistry >/dev/null 2>&1 || { swift build --product swregistry 2>&1 | tail -30; fail "build failed"; }
BIN="$(swift build --product swregistry --show-bin-path)/swregistry"
[[ -x "$BIN" ]] || fail "no binary at $BIN"

WORK=$(mktemp -d /tmp/swregistry-live-check.XXXXXX)
SERVER_PID=
cleanup() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    if [[ "${KEEP:-0}" == 1 ]]; then echo "live_check: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

"$BIN" serve --address 127.0.0.1:0 --storage "$WORK/store" --log-level warning >"$WORK/server.out" 2>"$WORK/server.err" &
SERVER_PID=$!
PORT=
for _ in $(seq 100); do
    PORT=$(sed -n 's/^swregistry listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/server.out" | head -1)
    [[ -n "$PORT" ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.err" >&2; fail "server exited"; }
    sleep 0.1
done
[[ -n "$PORT" ]] || fail "server did not report its port"
BASE="http://127.0.0.1:$PORT"

# ---- Seed: one image (config + layer + manifest, tag v1) and one referrer, in `seed`; the same in `scratch`,
# which the spec's examples name for the DELETE operations. The digests are the spec's examples.
expect() {  # expect <status> <curl args...>
    local want=$1; shift
    local got
    got=$(curl -sS -o "$WORK/body" -w '%{http_code}' "$@") || fail "curl $*"
    [[ "$got" == "$want" ]] || fail "seeding: curl $* -> $got (want $want): $(head -c 300 "$WORK/body")"
}
sha() { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }

printf '{}' >"$WORK/config"
printf 'swregistry live check layer\n' >"$WORK/layer"
CONFIG=$(sha "$WORK/config")
LAYER=$(sha "$WORK/layer")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}]}' \
    "$CONFIG" "$(stat -c %s "$WORK/config")" "$LAYER" "$(stat -c %s "$WORK/layer")" >"$WORK/manifest"
MANIFEST=$(sha "$WORK/manifest")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.example.sbom.v1","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"%s","size":2},"layers":[{"mediaType":"application/vnd.oci.empty.v1+json","digest":"%s","size":2}],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%d},"annotations":{"org.example.note":"live check"}}' \
    "$CONFIG" "$CONFIG" "$MANIFEST" "$(stat -c %s "$WORK/manifest")" >"$WORK/referrer"
REFERRER=$(sha "$WORK/referrer")
for digest in "$LAYER" "$MANIFEST"; do
    grep -q "$digest" "$SPEC" || fail "seeded digest $digest is not among the examples of $SPEC"
done

OCTET=(-H 'Content-Type: application/octet-stream')
MTYPE=(-H 'Content-Type: application/vnd.oci.image.manifest.v1+json')
expect 200 "$BASE/v2/"
expect 201 -X POST "${OCTET[@]}" --data-binary @"$WORK/config" "$BASE/v2/seed/blobs/uploads/?digest=$CONFIG"
expect 201 -X POST "${OCTET[@]}" --data-binary @"$WORK/layer" "$BASE/v2/seed/blobs/uploads/?digest=$LAYER"
expect 201 -X PUT "${MTYPE[@]}" --data-binary @"$WORK/manifest" "$BASE/v2/seed/manifests/v1"
expect 201 -X PUT "${MTYPE[@]}" --data-binary @"$WORK/referrer" "$BASE/v2/seed/manifests/$REFERRER"
for digest in "$CONFIG" "$LAYER"; do
    expect 201 -X POST "$BASE/v2/scratch/blobs/uploads/?mount=$digest&from=seed"
done
expect 201 -X PUT "${MTYPE[@]}" --data-binary @"$WORK/manifest" "$BASE/v2/scratch/manifests/v1"
expect 201 -X PUT "${MTYPE[@]}" --data-binary @"$WORK/referrer" "$BASE/v2/scratch/manifests/$REFERRER"
expect 200 "$BASE/v2/seed/manifests/v1"
cmp -s "$WORK/body" "$WORK/manifest" || fail "seeding: the manifest read back differs from the one pushed"

# ---- schemathesis
# Path parameters go out percent-encoded (a digest as `sha256%3A<hex>`); swregistry decodes path segments, so
# schemathesis exercises that too.
# The server runs open (no authentication), where /token does not exist (404 for every method, as any path
# outside the API); the token service is tested by the Swift suites and Tests/e2e/auth_tls_e2e.sh.
CMD=(schemathesis run "$SPEC" --url "$BASE" --checks "$CHECKS" --phases "$PHASES" --max-examples "$MAX_EXAMPLES"
     --exclude-path /token --seed "$SEED" --workers 1 --request-timeout 10 --max-failures 100 --no-color
     --report junit --report-junit-path "$WORK/junit.xml")
echo "live_check: ${CMD[*]}" >&2
set +e
timeout --kill-after=10 "$SCHEMATHESIS_TIMEOUT" "${CMD[@]}" >"$WORK/schemathesis.out" 2>&1
status=$?
set -e
cat "$WORK/schemathesis.out"

kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.err" >&2; fail "the server died during the run"; }
if [[ -s "$WORK/server.err" ]]; then
    echo "live_check: server stderr:" >&2
    tail -20 "$WORK/server.err" >&2
fi

summary=$(python3 - "$WORK/junit.xml" <<'EOF' 2>/dev/null || echo "no junit report"
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
tests = sum(int(s.get("tests", 0)) for s in suites)
failures = sum(int(s.get("failures", 0)) for s in suites)
errors = sum(int(s.get("errors", 0)) for s in suites)
skipped = sum(int(s.get("skipped", 0)) for s in suites)
print(f"{tests} test suites (operations + stateful), {failures} failed, {errors} errors")
EOF
)
cases=$(sed -n 's/^ *\([0-9]* generated.*\)$/\1/p' "$WORK/schemathesis.out" | tail -1)
summary="$summary; test cases: ${cases:-unknown}"
elapsed=$(( $(date +%s) - started ))
if [[ $status -eq 0 ]]; then
    echo "live_check: PASS: schemathesis $st_version against $BASE: $summary, ${elapsed}s"
elif [[ $status -eq 124 || $status -eq 137 ]]; then
    echo "live_check: FAIL: schemathesis $st_version timed out after ${SCHEMATHESIS_TIMEOUT}s: $summary, ${elapsed}s"
    exit 1
else
    echo "live_check: FAIL: schemathesis $st_version exit $status: $summary, ${elapsed}s"
    exit 1
fi
