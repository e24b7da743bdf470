# Shared harness of the end-to-end scripts (sourced, not run): checks that print PASS/FAIL, a summary, a
# throw-away work folder, skopeo with a permissive policy, and the real swregistry started on 127.0.0.1:0.
#
# The sourcing script sets HERE (this folder), E2E_NAME (for the summary) and E2E_SLUG (the work folder's name) and calls e2e_setup, then
# start_registry, which sets REG (host:port), STORE (its storage folder) and SERVER_PID.

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
T_START=$EPOCHREALTIME

PASS=0
FAIL=0
CHECK_NO=0
SERVER_PID=""
WORK=""

# Keep the run hermetic: no proxies, no server settings leaking in from the caller's environment.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
export NO_PROXY="127.0.0.1,localhost" no_proxy="127.0.0.1,localhost"
while read -r var; do unset "$var"; done < <(compgen -e | grep '^SWREGISTRY_' || true)

summary() {
    local elapsed
    elapsed=$(awk -v a="$T_START" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
    echo "$E2E_NAME: ${elapsed}s"
    echo "$PASS passed, $FAIL failed"
}

stop_server() {
    # Sends SIGTERM and waits (at most ~15 s, then SIGKILL); returns the server's exit status.
    local pid=$SERVER_PID rc=0 i
    [ -n "$pid" ] || return 0
    SERVER_PID=""
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "swregistry (pid $pid) ignored SIGTERM, killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || rc=$?
    return "$rc"
}

cleanup() {
    local rc=$?
    stop_server || true
    if [ -n "$WORK" ] && [ -d "$WORK" ]; then
        if [ "${E2E_KEEP:-0}" = 1 ]; then
            echo "work folder kept: $WORK" >&2
        else
            rm -rf "$WORK"
        fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# check NAME COMMAND... — runs COMMAND in a subshell with `set -e` in force, prints PASS/FAIL, and on failure
# the tail of what the command printed.
check() {
    local name=$1 rc
    shift
    CHECK_NO=$((CHECK_NO + 1))
    local out="$WORK/logs/check-$(printf '%02d' "$CHECK_NO").log" t0=$EPOCHREALTIME took
    set +e
    ( set -e; "$@" ) >"$out" 2>&1
    rc=$?
    set -e
    took=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
    if [ "$rc" -eq 0 ]; then
        PASS=$((PASS + 1))
        echo "PASS $name [${took}s]"
    else
        FAIL=$((FAIL + 1))
        echo "FAIL $name [${took}s, exit $rc]"
        tail -n 30 "$out" | sed 's/^/    | /'
    fi
}

# abort MESSAGE — for a broken setup: counts one failure and ends the run with the summary.
abort() {
    FAIL=$((FAIL + 1))
    echo "FAIL $1"
    summary
    exit 1
}

die() { echo "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------------------
# helpers (all run inside checks or command substitutions)

sk() { skopeo --policy "$WORK/policy.json" "$@"; }

# layout_digest LAYOUT REF — the manifest digest that index.json lists under REF.
layout_digest() {
    python3 - "$1" "$2" <<'EOF'
import json, sys
index = json.load(open(sys.argv[1] + "/index.json"))
found = [m["digest"] for m in index["manifests"]
         if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == sys.argv[2]]
if len(found) != 1:
    sys.exit("ref %s: %d entries in index.json" % (sys.argv[2], len(found)))
print(found[0])
EOF
}

# layout_blob LAYOUT DIGEST — path of a blob in an OCI layout.
layout_blob() { echo "$1/blobs/${2%%:*}/${2#*:}"; }

# manifest_blobs MANIFEST_FILE — config then layer digests, one a line.
manifest_blobs() {
    python3 - "$1" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
print(m["config"]["digest"])
for layer in m["layers"]:
    print(layer["digest"])
EOF
}

# manifest_layers MANIFEST_FILE — layer digests, one a line.
manifest_layers() { manifest_blobs "$1" | tail -n +2; }

sha256_of() { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }

expect_eq() { # expect_eq WHAT EXPECTED ACTUAL
    if [ "$2" != "$3" ]; then
        echo "$1: expected '$2', got '$3'"
        return 1
    fi
    echo "$1: $3"
}

store_blob_count() { find "$STORE/blobs" -type f | wc -l; }

# has_layer_links REPO DIGEST... — every DIGEST is linked into REPO (DIR/repositories/REPO/_layers/sha256/HEX).
has_layer_links() {
    local repo=$1 d missing=0
    shift
    for d in "$@"; do
        local link="$STORE/repositories/$repo/_layers/${d%%:*}/${d#*:}"
        if [ -e "$link" ]; then echo "linked: $link"; else echo "missing link: $link"; missing=1; fi
    done
    return "$missing"
}

# has_store_blobs DIGEST... — every DIGEST is stored once, at DIR/blobs/sha256/<2 hex>/<hex>, with that digest.
has_store_blobs() {
    local d missing=0
    for d in "$@"; do
        local hex=${d#*:}
        local path="$STORE/blobs/${d%%:*}/${hex:0:2}/$hex"
        if [ ! -f "$path" ]; then echo "missing blob: $path"; missing=1; continue; fi
        if [ "$(sha256_of "$path")" != "$d" ]; then echo "wrong content: $path"; missing=1; continue; fi
        echo "stored: $path"
    done
    return "$missing"
}

# ---------------------------------------------------------------------------------------------------------
# setup

e2e_setup() {
    command -v skopeo >/dev/null || { echo "skopeo not found (Debian: apt-get install -y skopeo)"; abort "setup: skopeo installed"; }
    command -v python3 >/dev/null || abort "setup: python3 installed"
    command -v curl >/dev/null || abort "setup: curl installed"

    WORK="$(mktemp -d "${TMPDIR:-/tmp}/${E2E_SLUG:-swregistry}-e2e.XXXXXX")"
    mkdir -p "$WORK/logs"
    STORE="$WORK/storage"
    echo "skopeo: $(skopeo --version)"

    echo '{"default": [{"type": "insecureAcceptAnything"}]}' >"$WORK/policy.json"
    echo '{"auths": {}}' >"$WORK/auth.json"
    echo 'unqualified-search-registries = []' >"$WORK/registries.conf"
    export REGISTRY_AUTH_FILE="$WORK/auth.json"
    export CONTAINERS_REGISTRIES_CONF="$WORK/registries.conf"
}

# start_registry [EXTRA serve FLAGS...]
start_registry() {
    if [ -n "${E2E_SWREGISTRY_BIN:-}" ]; then
        BIN=$E2E_SWREGISTRY_BIN
    else
        echo "building swregistry (swift build --product swregistry)"
        (cd "$ROOT" && swift build --product swregistry) >"$WORK/logs/build.log" 2>&1 \
            || { tail -n 30 "$WORK/logs/build.log"; abort "setup: swift build --product swregistry"; }
        BIN="$(cd "$ROOT" && swift build --show-bin-path)/swregistry"
    fi
    [ -x "$BIN" ] || abort "setup: swregistry binary at $BIN"

    # Created here, not by the background job's redirection, which may not have run yet when we first read it.
    : >"$WORK/logs/server.out"
    : >"$WORK/logs/server.err"
    "$BIN" serve --address 127.0.0.1:0 --storage "$STORE" --log-level warning "$@" \
        >"$WORK/logs/server.out" 2>"$WORK/logs/server.err" &
    SERVER_PID=$!

    PORT=""
    local i
    for ((i = 0; i < 300; i++)); do
        PORT=$(sed -n 's/^swregistry listening on 127\.0\.0\.1:\([0-9][0-9]*\) storing under .*/\1/p' \
            "$WORK/logs/server.out" | head -n 1 || true)
        [ -n "$PORT" ] && break
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$PORT" ]; then
        cat "$WORK/logs/server.out" "$WORK/logs/server.err" | tail -n 30
        abort "setup: swregistry prints 'swregistry listening on 127.0.0.1:PORT storing under DIR'"
    fi
    REG="127.0.0.1:$PORT"
    echo "swregistry $BIN listening on $REG, storage $STORE"
}
