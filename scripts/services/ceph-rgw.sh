#!/usr/bin/env bash
# A one-node Ceph cluster (one mon, one BlueStore OSD on a sparse file, one radosgw) serving S3 for the tests, as
# /work/shared/notes/s3-ceph-rgw.md describes: everything under /tmp/swceph, listening on 127.0.0.1 only, RGW on
# 127.0.0.1:7480 (path-style), S3 user swregistry-test / swregistry-test-secret, bucket swregistry-test.
# Usage: scripts/services/ceph-rgw.sh start|stop|status|env
# Ports are fixed (mon 3300/6789, osd 6800-6807, rgw 7480): one cluster per machine.
set -euo pipefail

BASE=/tmp/swceph            # short: admin socket paths must fit in 107 bytes
CONF=$BASE/ceph.conf
RUN=$BASE/run               # admin sockets and our pid files
LOGS=$BASE/log
RGW_PORT=7480
ENDPOINT=http://127.0.0.1:$RGW_PORT
REGION=us-east-1
ACCESS_KEY=swregistry-test
SECRET_KEY=swregistry-test-secret
BUCKET=swregistry-test
TIMEOUT=${SWCEPH_TIMEOUT:-120}  # per step; a loaded 2-core CI machine is slow, a healthy start takes seconds
export CEPH_CONF=$CONF
# The pools radosgw would otherwise create lazily (the data pool on the first PUT costs 2+ s).
RGW_POOLS=(.rgw.root default.rgw.log default.rgw.control default.rgw.meta default.rgw.buckets.index
    default.rgw.buckets.data default.rgw.buckets.non-ec)

die() { echo "ceph-rgw.sh: $*" >&2; exit 1; }
now() { echo "${EPOCHREALTIME/./}"; }   # microseconds
elapsed() { local us=$(($(now) - $1)); printf '%d.%d' $((us / 1000000)) $((us / 100000 % 10)); }
say() { [[ -n ${SWCEPH_QUIET:-} ]] || echo "ceph-rgw: $*" >&2; }

# Daemons drop to the `ceph` user Debian's packages create; their directories belong to it.
if [[ $(id -u) -eq 0 ]] && id ceph >/dev/null 2>&1; then
    DAEMON_USER=(--setuser ceph --setgroup ceph)
    own() { chown -R ceph:ceph "$@"; }
else
    DAEMON_USER=()
    own() { :; }
fi

# --- processes -------------------------------------------------------------------------------------------------------

# The pid of daemon $1 (mon.a, osd.0, rgw.gw) if it is alive: a zombie (a killed daemon PID 1 has not reaped yet)
# still passes `kill -0`, and a recycled pid runs another program, so both the state and the program are checked.
declare -A PROGRAM=([mon.a]=ceph-mon [osd.0]=ceph-osd [rgw.gw]=radosgw)
pid_of() {
    local pidfile=$RUN/$1.pid pid stat state exe
    [[ -r $pidfile ]] || return 1
    pid=$(<"$pidfile")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
    state=${stat##*) }
    state=${state%% *}
    [[ $state != Z && $state != X ]] || return 1
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
    [[ ${exe##*/} == "${PROGRAM[$1]}" ]] || return 1
    echo "$pid"
}

# Starts daemon $1 in the foreground of its own session: their own daemonizing handshake can hang forever when the
# mon goes away during start. setsid execs in place (a background job of a script is no group leader): $! is the
# daemon's pid.
spawn() {
    local name=$1
    shift
    setsid "$@" "${DAEMON_USER[@]}" -f </dev/null >>"$LOGS/$name.out" 2>&1 &
    echo $! >"$RUN/$name.pid"
}

# Runs "$@" until it succeeds, for at most $TIMEOUT seconds, while daemon $1 lives; $2 says what is awaited.
wait_for() {
    local name=$1 what=$2 deadline=$((SECONDS + TIMEOUT)) started=$SECONDS
    shift 2
    until "$@" >/dev/null 2>&1; do
        # Give exec a moment before judging the program behind the pid.
        if ((SECONDS - started >= 1)) && ! pid_of "$name" >/dev/null; then
            tail -n 5 "$LOGS/$name.out" "$LOGS/"*"$name.log" >&2 2>/dev/null || true
            die "$name exited while waiting for $what (logs: $LOGS)"
        fi
        ((SECONDS < deadline)) || die "timed out after ${TIMEOUT}s waiting for $what (logs: $LOGS)"
        sleep 0.1
    done
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A daemon's own state through its admin socket (no cluster round trip), e.g. the OSD's "active".
asok_state() {
    /usr/bin/python3 - "$RUN/ceph-$1.asok" <<'PY'
import json, socket, struct, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(b'{"prefix": "status"}\0')
data = b""
while len(data) < 4 or len(data) < 4 + struct.unpack(">I", data[:4])[0]:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
print(json.loads(data[4:]).get("state", ""))
PY
}
osd_active() { [[ $(asok_state osd.0 2>/dev/null) == active ]]; }

ceph_cli() { timeout "$TIMEOUT" ceph --connect-timeout "$TIMEOUT" "$@"; }

# --- S3 (curl signs with SigV4; RGW requires x-amz-content-sha256, which curl 7.88 does not add by itself) --------

EMPTY_SHA256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
s3() {
    curl -sS -o /dev/null -w '%{http_code}' --max-time 30 --aws-sigv4 "aws:amz:$REGION:s3" \
        --user "$ACCESS_KEY:$SECRET_KEY" -H "x-amz-content-sha256: $EMPTY_SHA256" "$@"
}
rgw_answers() { [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$ENDPOINT/") == 200 ]]; }

# --- cluster ---------------------------------------------------------------------------------------------------------

write_conf() {
    local fsid=$1
    cat >"$CONF" <<CONF
# One-node test cluster (scripts/services/ceph-rgw.sh); see /work/shared/notes/s3-ceph-rgw.md.
[global]
fsid = $fsid
mon initial members = a
mon host = [v2:127.0.0.1:3300,v1:127.0.0.1:6789]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
# No cephx on a loopback cluster. Without "crc secure" radosgw loops on get_initial_auth_request returned -13.
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc secure
# One replica, few placement groups, no autoscaler (there is no mgr).
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
# Map changes in 0.1 s rather than 1 s (pool creation would take 10 s+).
paxos propose interval = 0.1
paxos min wait = 0.01
run dir = $RUN
log file = $LOGS/\$name.log
log to stderr = false
err to stderr = true

[mon]
mon data = $BASE/mon/\$cluster-\$id
admin socket = $RUN/\$cluster-\$name.asok

[osd]
osd data = $BASE/osd/\$cluster-\$id
admin socket = $RUN/\$cluster-\$name.asok
osd objectstore = bluestore
# A 20 GiB sparse file, no loop device; blocks are allocated as data arrives.
bluestore block create = true
bluestore block size = 21474836480
osd memory target = 939524096
osd op num shards = 1
osd op num threads per shard = 2

[client.rgw.gw]
admin socket = $RUN/\$cluster-\$name.asok
rgw data = $BASE/rgw
# Without tcp_nodelay every small GET waits ~40 ms (Nagle + delayed ACK).
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT tcp_nodelay=1
CONF
}

# A new cluster from nothing (the caller has stopped and removed any half-made one).
create_cluster() {
    local t fsid uuid
    t=$(now)
    fsid=$(uuidgen)
    install -d -m 755 "$BASE"
    install -d -m 750 "$RUN" "$LOGS" "$BASE/mon" "$BASE/osd" "$BASE/rgw"
    write_conf "$fsid"
    monmaptool --create --fsid "$fsid" --addv a '[v2:127.0.0.1:3300,v1:127.0.0.1:6789]' "$BASE/monmap" >/dev/null
    install -d -m 750 "$BASE/mon/ceph-a"
    own "$BASE"
    ceph-mon --mkfs -i a --monmap "$BASE/monmap" "${DAEMON_USER[@]}" >>"$LOGS/mkfs.out" 2>&1 \
        || die "ceph-mon --mkfs failed (see $LOGS/mkfs.out)"
    start_mon
    uuid=$(uuidgen)
    local id
    id=$(ceph_cli osd new "$uuid") || die "ceph osd new failed"
    [[ $id == 0 ]] || die "expected osd id 0, got '$id'"
    install -d -m 750 "$BASE/osd/ceph-0"
    own "$BASE/osd"
    ceph-osd -i 0 --mkfs --osd-uuid "$uuid" "${DAEMON_USER[@]}" >>"$LOGS/mkfs.out" 2>&1 \
        || die "ceph-osd --mkfs failed (see $LOGS/mkfs.out)"
    start_osd
    create_pools
    start_rgw
    provision
    touch "$BASE/initialized"
    say "created the cluster in $(elapsed "$t") s"
}

create_pools() {
    local pool commands=()
    for pool in "${RGW_POOLS[@]}"; do
        commands+=("osd pool create $pool 8 8" "osd pool application enable $pool rgw")
    done
    # One CLI process for all the commands (it reads them from standard input): each start of the Python CLI costs
    # a fraction of a second even on an idle machine.
    printf '%s\n' "${commands[@]}" | ceph_cli >>"$LOGS/pools.out" 2>&1 || die "pool creation failed ($LOGS/pools.out)"
}

start_mon() {
    pid_of mon.a >/dev/null || { spawn mon.a ceph-mon -i a; }
    wait_for mon.a "the monitor on 127.0.0.1:3300" port_open 3300
}

start_osd() {
    pid_of osd.0 >/dev/null || { spawn osd.0 ceph-osd -i 0; }
    wait_for osd.0 "osd.0 to become active" osd_active
}

start_rgw() {
    pid_of rgw.gw >/dev/null || { spawn rgw.gw radosgw -n client.rgw.gw; }
    wait_for rgw.gw "radosgw on $ENDPOINT" rgw_answers
}

# The S3 user and the bucket, made if missing.
provision() {
    if ! radosgw-admin user info --uid="$ACCESS_KEY" >/dev/null 2>&1; then
        radosgw-admin user create --uid="$ACCESS_KEY" --display-name="swregistry tests" \
            --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" >/dev/null || die "radosgw-admin user create failed"
    fi
    local code
    code=$(s3 -I "$ENDPOINT/$BUCKET") || true
    if [[ $code != 200 ]]; then
        code=$(s3 -X PUT "$ENDPOINT/$BUCKET") || true
        [[ $code == 200 ]] || die "creating bucket $BUCKET answered HTTP $code"
    fi
}

start() {
    local t
    t=$(now)
    if pid_of rgw.gw >/dev/null && pid_of osd.0 >/dev/null && pid_of mon.a >/dev/null && [[ -e $BASE/initialized ]] \
        && rgw_answers; then
        return 0
    fi
    command -v radosgw >/dev/null && command -v ceph-osd >/dev/null && command -v ceph-mon >/dev/null \
        && command -v ceph >/dev/null \
        || "$(dirname "$0")/../install-deps" ceph
    if [[ ! -e $BASE/initialized ]]; then
        # Nothing, or a creation that was interrupted: start over.
        stop
        rm -rf "$BASE"
        create_cluster
        return 0
    fi
    # The daemons drop to the `ceph` user: a cluster made before that user existed (or by another user) is theirs.
    own "$BASE"
    start_mon
    start_osd
    start_rgw
    provision  # cheap, and brings back a bucket a test removed
    say "started in $(elapsed "$t") s"
}

# Stops the daemons in reverse order: SIGTERM, then SIGKILL after a grace period; waits until each is gone (a zombie
# counts as gone: it holds no port, file or lock).
stop() {
    local name pid deadline
    for name in rgw.gw osd.0 mon.a; do
        pid=$(pid_of "$name") || { rm -f "$RUN/$name.pid"; continue; }
        kill -TERM "$pid" 2>/dev/null || true
        deadline=$((SECONDS + 20))
        while pid_of "$name" >/dev/null && ((SECONDS < deadline)); do sleep 0.05; done
        if pid_of "$name" >/dev/null; then
            echo "ceph-rgw: $name (pid $pid) ignored SIGTERM for 20 s, killing it" >&2
            kill -KILL "$pid" 2>/dev/null || true
            deadline=$((SECONDS + 20))
            while pid_of "$name" >/dev/null && ((SECONDS < deadline)); do sleep 0.05; done
            ! pid_of "$name" >/dev/null || die "$name (pid $pid) survives SIGKILL"
        fi
        rm -f "$RUN/$name.pid"
    done
}

status() {
    local name pid rc=0
    for name in mon.a osd.0 rgw.gw; do
        if pid=$(pid_of "$name"); then echo "$name: running (pid $pid)"; else echo "$name: not running"; rc=3; fi
    done
    if rgw_answers; then echo "rgw: $ENDPOINT answers"; else echo "rgw: $ENDPOINT does not answer"; rc=3; fi
    return $rc
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) status ;;
env)
    echo "export SWREGISTRY_TEST_S3_ENDPOINT=$ENDPOINT SWREGISTRY_TEST_S3_REGION=$REGION" \
        "SWREGISTRY_TEST_S3_ACCESS_KEY=$ACCESS_KEY SWREGISTRY_TEST_S3_SECRET_KEY=$SECRET_KEY" \
        "SWREGISTRY_TEST_S3_BUCKET=$BUCKET"
    ;;
*) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
