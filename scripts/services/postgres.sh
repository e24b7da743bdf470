#!/usr/bin/env bash
# A PostgreSQL 15 cluster for the tests (one per machine): data under /tmp/swpg, TCP on 127.0.0.1:55432 only,
# user/password/database `swregistry` (scram-sha-256), the user allowed to CREATE DATABASE (tests make their own).
# Usage: scripts/services/postgres.sh start|stop|status|env
# Runs as the `postgres` OS user when started by root (PostgreSQL refuses to run as root). fsync stays on: the
# benchmarks measure durable commits.
set -euo pipefail

PGBIN=${SWPG_BIN:-/usr/lib/postgresql/15/bin}
BASE=/tmp/swpg
DATA=$BASE/data
RUN=$BASE/run          # the Unix socket (for the superuser's peer login) and its lock file
LOG=$BASE/postgres.log
PORT=55432
CONNINFO="host=127.0.0.1 port=$PORT user=swregistry password=swregistry dbname=swregistry"
TIMEOUT=${SWPG_TIMEOUT:-60}

# Commands run as the cluster's owner: `postgres` when we are root, ourselves otherwise.
if [[ $(id -u) -eq 0 ]]; then
    OWNER=postgres
    as_owner() { runuser -u postgres -- "$@"; }
else
    OWNER=$(id -un)
    as_owner() { "$@"; }
fi

die() { echo "postgres.sh: $*" >&2; exit 1; }

running() { [[ -f $DATA/PG_VERSION ]] && as_owner "$PGBIN/pg_ctl" status -D "$DATA" >/dev/null 2>&1; }

# Superuser SQL over the Unix socket (peer authentication as the owner).
superuser_sql() { as_owner "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$RUN" -p "$PORT" -d postgres -tA "$@"; }

initialize() {
    [[ -x $PGBIN/initdb ]] || "$(dirname "$0")/../install-deps" postgres
    [[ -x $PGBIN/initdb ]] || die "$PGBIN/initdb not found after installing postgresql-15"
    mkdir -p "$BASE"
    chmod 755 "$BASE"
    # initdb into a scratch directory then rename: an interrupted init never leaves a half-made cluster behind.
    rm -rf "$DATA.new"
    install -d -m 700 -o "$OWNER" "$DATA.new"
    # --no-sync: only initdb's own final flush is skipped (a test cluster in /tmp is re-made if the machine crashes
    # during init); the running server keeps fsync on.
    as_owner "$PGBIN/initdb" -D "$DATA.new" -U postgres --auth-local=peer --auth-host=scram-sha-256 \
        --encoding=UTF8 --locale=C --no-sync --no-instructions >"$BASE/initdb.log" 2>&1 \
        || { cat "$BASE/initdb.log" >&2; die "initdb failed"; }
    cat >>"$DATA.new/postgresql.conf" <<CONF

# swregistry test cluster (scripts/services/postgres.sh)
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$RUN'
max_connections = 300           # 3 replicas x pools + parallel tests
shared_buffers = 256MB
password_encryption = scram-sha-256
fsync = on                      # the default, stated: benchmarks measure durable commits
synchronous_commit = on
logging_collector = off
CONF
    # Only the loopback over TCP, with a password; the owner alone over the socket.
    cat >"$DATA.new/pg_hba.conf" <<HBA
local all postgres peer
host  all all 127.0.0.1/32 scram-sha-256
HBA
    mv "$DATA.new" "$DATA"
}

# The role and database, made once (and again if someone dropped them).
provision() {
    superuser_sql <<'SQL'
SELECT 'CREATE ROLE swregistry LOGIN CREATEDB' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'swregistry')
\gexec
ALTER ROLE swregistry WITH LOGIN CREATEDB PASSWORD 'swregistry';
SELECT 'CREATE DATABASE swregistry OWNER swregistry' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'swregistry')
\gexec
SQL
}

wait_tcp_ready() {
    local deadline=$((SECONDS + TIMEOUT))
    until "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" -t 1; do
        ((SECONDS < deadline)) || die "not accepting connections on 127.0.0.1:$PORT after ${TIMEOUT}s (log: $LOG)"
        sleep 0.05
    done
}

start() {
    if running; then
        wait_tcp_ready
        return 0
    fi
    [[ -f $DATA/PG_VERSION ]] || initialize
    install -d -m 755 -o "$OWNER" "$RUN"
    touch "$LOG" && chown "$OWNER" "$LOG"
    # pg_ctl detaches the postmaster (setsid) and -w polls until it accepts connections, -t bounds the wait.
    as_owner "$PGBIN/pg_ctl" start -D "$DATA" -l "$LOG" -w -t "$TIMEOUT" -s \
        || { tail -20 "$LOG" >&2; die "start failed (log: $LOG)"; }
    wait_tcp_ready
    provision
}

stop() {
    running || return 0
    # fast: roll back open transactions and disconnect clients, then a clean shutdown checkpoint.
    as_owner "$PGBIN/pg_ctl" stop -D "$DATA" -m fast -w -t "$TIMEOUT" -s \
        || as_owner "$PGBIN/pg_ctl" stop -D "$DATA" -m immediate -w -t "$TIMEOUT" -s
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status)
    if running; then
        "$PGBIN/pg_isready" -h 127.0.0.1 -p "$PORT" -t 2
    else
        echo "postgres: not running" >&2
        exit 3
    fi
    ;;
env) echo "export SWREGISTRY_TEST_POSTGRES=\"$CONNINFO\"" ;;
*) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
