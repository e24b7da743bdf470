#!/usr/bin/env bash
# Events (webhooks) end-to-end test for swregistry.
#
# Starts a webhook receiver (event_receiver.py, Python standard library) and the real swregistry configured with
# one endpoint pointing at it, pushes, pulls and deletes with skopeo, and checks what the receiver got: each event
# once, in order per repository, in distribution's envelope with the configured header — also after the receiver
# was down for a while and came back, and after swregistry was restarted with events still queued on disk.
#
# Every check prints `PASS name` or `FAIL name`; the last line is `N passed, M failed` and the exit status is
# non-zero when anything failed.
#
# Environment:
#   E2E_SWREGISTRY_BIN  use this swregistry binary instead of running `swift build --product swregistry`
#   E2E_KEEP=1          keep the work folder (storage, receiver's events, logs) and print where it is
#
# Needs: bash, skopeo, python3, curl, coreutils. All traffic stays on 127.0.0.1.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
E2E_NAME="events e2e"
E2E_SLUG="swregistry-events"
# shellcheck source=lib.sh
source "$HERE/lib.sh"
e2e_setup

EVENTS="$WORK/received.jsonl"
TOKEN="e2e-$RANDOM$RANDOM"
RECEIVER_PID=""
RPORT=0

start_receiver() {
    rm -f "$WORK/receiver.port"
    python3 "$HERE/event_receiver.py" "$RPORT" "$WORK/receiver.port" "$EVENTS" 2>>"$WORK/logs/receiver.err" &
    RECEIVER_PID=$!
    local i
    for ((i = 0; i < 100; i++)); do
        [ -s "$WORK/receiver.port" ] && break
        sleep 0.1
    done
    [ -s "$WORK/receiver.port" ] || abort "setup: the receiver starts"
    RPORT=$(cat "$WORK/receiver.port")
}

stop_receiver() {
    [ -n "$RECEIVER_PID" ] || return 0
    kill "$RECEIVER_PID" 2>/dev/null || true
    wait "$RECEIVER_PID" 2>/dev/null || true
    RECEIVER_PID=""
}
trap 'stop_receiver; cleanup' EXIT

count() { python3 "$HERE/check_events.py" "$EVENTS" count; }
sequence() { python3 "$HERE/check_events.py" "$EVENTS" sequence "$1"; }

# wait_count N — waits (at most 60 s) until the receiver holds at least N events.
wait_count() {
    local i
    for ((i = 0; i < 600; i++)); do
        [ "$(count)" -ge "$1" ] && return 0
        sleep 0.1
    done
    echo "expected at least $1 events, got $(count)"
    return 1
}

# matches REPO REGEX — the repository's event sequence matches the extended regular expression.
matches() {
    local seq
    seq=$(sequence "$1")
    echo "$1: $seq"
    [[ "$seq" =~ $2 ]] || { echo "does not match: $2"; return 1; }
}

start_receiver
# A second receiver on HTTPS with a self-signed certificate no CA vouches for: swregistry must refuse to send to it
# (TLS is verified), and that endpoint's failures must not hold back the first one.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/untrusted.key" \
    -out "$WORK/untrusted.pem" -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null
python3 "$HERE/event_receiver.py" 0 "$WORK/untrusted.port" "$WORK/untrusted.jsonl" "$WORK/untrusted.pem" \
    "$WORK/untrusted.key" 2>>"$WORK/logs/untrusted.err" &
UNTRUSTED_PID=$!
for ((i = 0; i < 100; i++)); do [ -s "$WORK/untrusted.port" ] && break; sleep 0.1; done
trap 'stop_receiver; kill "$UNTRUSTED_PID" 2>/dev/null || true; cleanup' EXIT
cat >"$WORK/config.yml" <<YAML
notifications:
  endpoints:
    - name: e2e
      url: http://127.0.0.1:$RPORT/events
      headers: { Authorization: [Bearer $TOKEN] }
      timeout: 2s
      threshold: 2
      backoff: 100ms
    - name: off
      url: http://127.0.0.1:9/never
      disabled: true
    - name: untrusted
      url: https://127.0.0.1:$(cat "$WORK/untrusted.port")/events
      timeout: 2s
      threshold: 1
      backoff: 100ms
YAML
start_registry --config "$WORK/config.yml"

L1="$WORK/layout-v1"
L2="$WORK/layout-v2"
python3 "$HERE/make_oci_layout.py" "$L1" v1 1 >/dev/null
python3 "$HERE/make_oci_layout.py" "$L2" v2 2 >/dev/null

# 4 blob pushes (config and 3 layers), then the manifest push with its tag.
t_push() {
    sk copy --dest-tls-verify=false "oci:$L1:v1" "docker://$REG/e2e/app:v1"
    wait_count 5
    matches e2e/app '^(push-blob ){4}push-manifest:v1$'
}
check "push: the receiver gets 4 blob pushes, then the manifest push with tag v1" t_push

t_pull() {
    sk copy --src-tls-verify=false "docker://$REG/e2e/app:v1" "dir:$WORK/pulled"
    wait_count 10   # the manifest and its 4 blobs
    sleep 0.5
    local before
    before=$(count)
    # Served from the response cache the second time: a pull all the same. HEAD is not a pull.
    curl -fsS -o /dev/null -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$REG/v2/e2e/app/manifests/v1"
    curl -fsS -o /dev/null -I -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$REG/v2/e2e/app/manifests/v1"
    wait_count $((before + 1))
    sleep 0.5
    expect_eq "events after one GET and one HEAD" $((before + 1)) "$(count)"
    matches e2e/app '^(push-blob ){4}push-manifest:v1 pull-manifest:v1 (pull-blob |pull-manifest[^ ]* )*pull-manifest:v1$'
}
check "pull: manifest GET (also from the cache) and blob GETs are pulls; HEAD is not" t_pull

# The receiver and the server are started and stopped here, outside the checks: a check runs in a subshell, which
# can neither wait for the parent's children nor hand a new process id back.
stop_receiver
t_down() {
    local before
    before=$(count)
    # While the receiver is down: a push sharing a layer, a cross-repository copy (mounts), a tag move, a tag delete.
    sk copy --dest-tls-verify=false "oci:$L2:v2" "docker://$REG/e2e/app:v2"
    sk copy --dest-tls-verify=false "oci:$L1:v1" "docker://$REG/e2e/copy:v1"
    sk copy --dest-tls-verify=false "oci:$L2:v2" "docker://$REG/e2e/app:v1"
    curl -fsS -o /dev/null -X DELETE "http://$REG/v2/e2e/copy/manifests/v1"
    sleep 3   # several failed attempts, backing off
    grep "events to e2e:" "$WORK/logs/server.err" | tail -n 3
    expect_eq "events received while down" "$before" "$(count)"
}
BEFORE_DOWN=$(count)
check "down: while the receiver is down, events wait and attempts back off" t_down

start_receiver   # on the same port
t_back() {
    wait_count $((BEFORE_DOWN + 10))
    sleep 1
    matches e2e/app '^(push-blob ){4}push-manifest:v1 pull-manifest:v1 (pull-blob |pull-manifest[^ ]* )*pull-manifest:v1 (push-blob ){2,4}push-manifest:v2 (push-blob )*push-manifest:v1$'
    matches e2e/copy '^(mount-blob |push-blob ){4}push-manifest:v1 delete-tag:v1$'
}
check "back: the events made while the receiver was down arrive, in order" t_back

stop_receiver
BEFORE_RESTART=$(count)
t_queued() {
    sk copy --dest-tls-verify=false "oci:$L1:v1" "docker://$REG/e2e/later:v1"
    curl -fsS -o /dev/null -X DELETE "http://$REG/v2/e2e/app/manifests/$(layout_digest "$L2" v2)"
    sleep 1
    expect_eq "events received" "$BEFORE_RESTART" "$(count)"
}
check "queued: more events while the receiver is down" t_queued

SERVER_RC=0
stop_server || SERVER_RC=$?
t_on_disk() {
    expect_eq "swregistry's exit status on SIGTERM" 0 "$SERVER_RC"
    # The events are on disk, in the endpoint's queue, private to the server's user; a disabled endpoint has none.
    ls -la "$STORE/_events" "$STORE/_events/e2e"
    expect_eq "mode of the queue folder" 700 "$(stat -c %a "$STORE/_events/e2e")"
    [ -n "$(find "$STORE/_events/e2e" -name '*.events' -size +0)" ]
    [ -z "$(find "$STORE/_events/e2e" -type f -perm /077)" ]
    [ ! -e "$STORE/_events/off" ]
}
check "stop: the undelivered events are in the endpoint's queue on disk (0700)" t_on_disk

start_receiver
start_registry --config "$WORK/config.yml"
t_restart() {
    wait_count $((BEFORE_RESTART + 6))
    sleep 1
    matches e2e/later '^(mount-blob |push-blob ){4}push-manifest:v1$'
    sequence e2e/app
    [[ "$(sequence e2e/app)" == *" push-manifest:v1 delete" ]]
}
check "restart: events queued when swregistry stopped are sent by the next start" t_restart

# kill -9 while events wait: what the writer thread had synced is sent after the next start.
stop_receiver
BEFORE_KILL=$(count)
t_before_kill() {
    sk copy --dest-tls-verify=false "oci:$L2:v2" "docker://$REG/e2e/killed:v2"
    sleep 1
    expect_eq "events received" "$BEFORE_KILL" "$(count)"
}
check "kill: events made while the receiver is down, then swregistry is killed with SIGKILL" t_before_kill
kill -KILL "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=""
start_receiver
start_registry --config "$WORK/config.yml"
t_after_kill() {
    wait_count $((BEFORE_KILL + 5))
    sleep 1
    matches e2e/killed '^(mount-blob |push-blob ){4}push-manifest:v2$'
}
check "kill: after SIGKILL, the next start sends the queued events" t_after_kill

t_untrusted() {
    grep "events to untrusted:" "$WORK/logs/server.err" | tail -n 2
    grep -q "events to untrusted:.*\(certificate\|SSL\)" "$WORK/logs/server.err"
    expect_eq "events received over unverified TLS" 0 "$(cat "$WORK/untrusted.jsonl" 2>/dev/null | wc -l)"
}
check "tls: an https endpoint whose certificate no CA vouches for gets nothing (and holds back no other)" t_untrusted

t_once() {
    python3 "$HERE/check_events.py" "$EVENTS" verify "$TOKEN"
}
check "each event once, in distribution's envelope, with the configured header" t_once

stop_receiver
summary
[ "$FAIL" -eq 0 ]
