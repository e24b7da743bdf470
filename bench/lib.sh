# Helpers shared by the bench/*.sh scripts (sourced, not run).

log() { printf '[bench] %s\n' "$*" >&2; }

die() { printf '[bench] error: %s\n' "$*" >&2; exit 1; }

# "10", "10s", "2m" -> seconds.
to_seconds() {
    local v=$1
    case $v in
        *m) v=${v%m}; [[ $v =~ ^[0-9]+$ ]] || return 1; echo $((v * 60)) ;;
        *s) v=${v%s}; [[ $v =~ ^[0-9]+$ ]] || return 1; echo "$v" ;;
        *)  [[ $v =~ ^[0-9]+$ ]] || return 1; echo "$v" ;;
    esac
}

stop_pid() {
    local pid=$1 sig=$2 grace=$3 i state
    STOP_RC=0
    kill "-$sig" "$pid" 2>/dev/null || true
    for ((i = 0; i < grace * 10; i++)); do
        state=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1) || state=""
        [[ -z $state || $state == Z ]] && break
        sleep 0.1
    done
    if [[ -n $state && $state != Z ]]; then
        log "warning: pid $pid still running ${grace}s after SIG$sig; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || STOP_RC=$?
}

# Converts wrk's "123.45us" / "1.23ms" / "1.02s" / "2.00m" to milliseconds.
parse_wrk() { # file -> "rps p99_ms socket_errors non2xx"
    awk '
        function ms(v,   n) {
            n = v + 0
            if (v ~ /us$/) return n / 1000
            if (v ~ /ms$/) return n
            if (v ~ /m$/)  return n * 60000
            if (v ~ /s$/)  return n * 1000
            return n
        }
        /^Requests\/sec:/           { rps = $2 }
        $1 == "99%"                 { p99 = ms($2) }
        /Socket errors:/            { gsub(/,/, ""); errs = $4 + $6 + $8 + $10 }
        /Non-2xx or 3xx responses:/ { non2xx = $NF }
        END {
            if (rps == "" || p99 == "") exit 1
            printf "%s %.3f %d %d\n", rps, p99, errs, non2xx
        }' "$1"
}

# The swregistry binary to measure: $SWREGISTRY_BIN when set, else a release build of this checkout (in the scratch
# folder $1, relative to the checkout, when given). Prints its path; the build's output goes to stderr.
swregistry_bin() {
    local root scratch=()
    if [[ -n ${SWREGISTRY_BIN:-} ]]; then echo "$SWREGISTRY_BIN"; return; fi
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    [[ -n ${1:-} ]] && scratch=(--scratch-path "$1")
    log "building swregistry (release)"
    (cd "$root" && swift build -c release --product swregistry "${scratch[@]}" >&2) || return 1
    echo "$(cd "$root" && swift build -c release "${scratch[@]}" --show-bin-path)/swregistry"
}

# $1 (default 1) distinct free loopback ports, on one line: all the sockets are open while choosing.
free_ports() {
    python3 -c '
import socket, sys
s = [socket.socket() for _ in range(int(sys.argv[1]))]
for x in s: x.bind(("127.0.0.1", 0))
print(*(x.getsockname()[1] for x in s))' "${1:-1}"
}

# Waits up to 30 s for URL to answer 2xx; dies when it does not, or when PID (if not empty) exits first.
wait_ready() { # name pid url log
    local name=$1 pid=$2 url=$3 i
    for ((i = 0; i < 300; i++)); do
        [[ -z $pid ]] || kill -0 "$pid" 2>/dev/null || die "$name exited during startup (log: $4): $(tail -5 "$4")"
        curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null && return 0
        sleep 0.1
    done
    die "$name did not answer $url within 30 s (log: $4)"
}

# Pushes bench/app:v1, an image with no layers (a config blob and its manifest), to 127.0.0.1:PORT, with a bearer
# TOKEN when given.
push_sample_manifest() { # port [token]
    python3 - "$1" "${2:-}" <<'PY'
import hashlib, http.client, json, sys
port, token = int(sys.argv[1]), sys.argv[2]
auth = {"Authorization": "Bearer " + token} if token else {}
def req(m, path, body=b"", headers={}):
    c = http.client.HTTPConnection("127.0.0.1", port); c.request(m, path, body=body, headers={**headers, **auth})
    r = c.getresponse(); r.read(); return r
cfg = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
d = "sha256:" + hashlib.sha256(cfg).hexdigest()
assert req("POST", f"/v2/bench/app/blobs/uploads/?digest={d}", cfg, {"Content-Length": str(len(cfg))}).status == 201
m = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
  "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": d, "size": len(cfg)},
  "layers": []}).encode()
assert req("PUT", "/v2/bench/app/manifests/v1", m,
           {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}).status == 201
PY
}

# Debian's docker-registry (distribution 2.8): its path, installed when missing (the package starts its own service
# on :5000; the benchmarks run their own instances, so it is stopped).
docker_registry_bin() {
    local bin=${DOCKER_REGISTRY_BIN:-$(command -v docker-registry || echo /usr/bin/docker-registry)}
    if [[ ! -x $bin ]]; then
        log "installing docker-registry"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-registry >&2
        systemctl stop docker-registry 2>/dev/null || service docker-registry stop >/dev/null 2>&1 || true
    fi
    echo "$bin"
}

# A docker-registry configuration like Debian's /etc/docker/registry/config.yml (filesystem storage, in-memory blob
# descriptor cache) without auth, on a loopback port, logging errors only, no upload purging.
docker_registry_config() { # rootdirectory port
    cat <<YML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $1
  cache:
    blobdescriptor: inmemory
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$2
YML
}
