#!/usr/bin/env bash
# A private registry end to end: swregistry over TLS (a CA made here, trusted per client) with htpasswd users and
# per-repository policies, then with its built-in token service, driven by real clients: skopeo, podman, buildah,
# containerd's ctr, oras-py and swcopy (login, copy, prepare).
#
# Every check prints `PASS name` or `FAIL name`; the last line is `N passed, M failed`.
#
# Environment: E2E_SWREGISTRY_BIN, E2E_SWCOPY_BIN (binaries to use), E2E_KEEP=1 (keep the work folder).
# Needs: skopeo, podman, buildah, containerd, apache2-utils (htpasswd), openssl (Debian); oras (PyPI).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
E2E_NAME="auth + TLS e2e"
E2E_SLUG="swregistry-auth"
# shellcheck source=lib.sh
source "$HERE/lib.sh"
e2e_setup

SWCOPY_BIN=${E2E_SWCOPY_BIN:-"$(cd "$ROOT" && swift build --show-bin-path)/swcopy"}
[ -x "$SWCOPY_BIN" ] || abort "setup: swcopy binary at $SWCOPY_BIN"
for tool in podman buildah containerd ctr htpasswd openssl; do
    command -v "$tool" >/dev/null || abort "setup: $tool installed (scripts/install-deps test)"
done

# ---------------------------------------------------------------------------------------------------------
# A CA, a server certificate for 127.0.0.1, users, a policy

PKI="$WORK/pki"
CERTS="$WORK/certs.d"   # containers/image's --cert-dir: *.crt are CAs
mkdir -p "$PKI" "$CERTS"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=swregistry-e2e-ca \
    -keyout "$PKI/ca.key" -out "$PKI/ca.crt" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
    -keyout "$PKI/server.key" -out "$PKI/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$PKI/ext"
openssl x509 -req -in "$PKI/server.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial -days 2 \
    -extfile "$PKI/ext" -out "$PKI/server.crt" 2>/dev/null
cp "$PKI/ca.crt" "$CERTS/ca.crt"

HTPASSWD="$WORK/htpasswd"
htpasswd -Bbc "$HTPASSWD" reader reader-pw 2>/dev/null
htpasswd -Bb "$HTPASSWD" writer writer-pw 2>/dev/null
htpasswd -Bb "$HTPASSWD" admin admin-pw 2>/dev/null
chmod 600 "$HTPASSWD"

# write_config FILE [EXTRA AUTH YAML] — TLS, htpasswd, and the policy every phase shares.
write_config() {
    cat >"$1" <<EOF
version: 0.1
http:
  tls:
    certificate: $PKI/server.crt
    key: $PKI/server.key
auth:
  htpasswd:
    realm: swregistry-e2e
    path: $HTPASSWD
${2:-}
accesscontrol:
  adminpolicy:
    users: [admin]
    actions: [pull, push, delete]
  repositories:
    "e2e/**":
      policies:
        - users: [writer]
          actions: [pull, push]
        - users: [reader]
          actions: [pull]
    "public/*":
      defaultpolicy: [pull]
      anonymouspolicy: [pull]
EOF
}

# https_status USER:PASS|- PATH — the status of a GET over TLS trusting the test CA.
https_status() {
    local creds=()
    [ "$1" = - ] || creds=(-u "$1")
    curl -s -o /dev/null -w '%{http_code}' --cacert "$PKI/ca.crt" "${creds[@]}" "https://$REG$2"
}

sk() { skopeo --policy "$WORK/policy.json" "$@"; }
P_ROOT="$WORK/containers"
pm() { podman --root "$P_ROOT/root" --runroot "$P_ROOT/run" --storage-driver vfs --events-backend file \
    --cgroup-manager cgroupfs "$@"; }
bu() { buildah --root "$P_ROOT/root" --runroot "$P_ROOT/run" --storage-driver vfs "$@"; }
sc() { "$SWCOPY_BIN" "$@"; }

L1="$WORK/layout-v1"
python3 "$HERE/make_oci_layout.py" "$L1" v1 1
V1=$(layout_digest "$L1" v1)

# ---------------------------------------------------------------------------------------------------------
# Phase 1: TLS + htpasswd (Basic)

write_config "$WORK/basic.yml"
start_registry --config "$WORK/basic.yml"

t_tls_only() {
    # Plain HTTP on the TLS port gets an answer, not a hang; the CA is needed.
    local code
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://$REG/v2/")
    expect_eq "plain HTTP on the TLS port" 400 "$code"
    ! curl -s -o /dev/null --max-time 5 "https://$REG/v2/"
    expect_eq "anonymous /v2/" 401 "$(https_status - /v2/)"
    expect_eq "wrong password" 401 "$(https_status reader:nope /v2/)"
    expect_eq "reader /v2/" 200 "$(https_status reader:reader-pw /v2/)"
    curl -s -D - -o /dev/null --cacert "$PKI/ca.crt" "https://$REG/v2/" | grep -i '^www-authenticate: Basic realm="swregistry-e2e"'
}
check "tls+basic: TLS only, 401 with a Basic challenge, wrong passwords refused" t_tls_only

t_skopeo_basic() {
    ! sk copy --dest-cert-dir "$CERTS" --dest-creds reader:reader-pw "oci:$L1:v1" "docker://$REG/e2e/img:v1"
    sk copy --dest-cert-dir "$CERTS" --dest-creds writer:writer-pw "oci:$L1:v1" "docker://$REG/e2e/img:v1"
    expect_eq "digest read by reader" "$V1" \
        "$(sk inspect --cert-dir "$CERTS" --creds reader:reader-pw --format '{{.Digest}}' "docker://$REG/e2e/img:v1")"
    ! sk inspect --cert-dir "$CERTS" --no-creds "docker://$REG/e2e/img:v1"
    ! sk delete --cert-dir "$CERTS" --creds writer:writer-pw "docker://$REG/e2e/img:v1"
}
check "skopeo (tls+basic): writer pushes, reader pulls but cannot push, anonymous and writer-delete refused" t_skopeo_basic

t_podman_basic() {
    ! pm login --cert-dir "$CERTS" -u writer -p wrong "$REG"
    pm login --cert-dir "$CERTS" -u writer -p writer-pw "$REG"
    pm pull --cert-dir "$CERTS" "$REG/e2e/img:v1"
    pm tag "$REG/e2e/img:v1" "$REG/e2e/podman:v1"
    pm push --cert-dir "$CERTS" "$REG/e2e/podman:v1"
    pm logout "$REG"
    ! pm pull --cert-dir "$CERTS" "$REG/e2e/podman:v1"
}
check "podman (tls+basic): login, pull, push, logout" t_podman_basic

t_buildah_basic() {
    local c
    c=$(bu from scratch)
    bu config --cmd /bin/true "$c"
    bu commit "$c" e2e-buildah
    bu push --cert-dir "$CERTS" --creds writer:writer-pw e2e-buildah "docker://$REG/e2e/buildah:v1"
    sk inspect --cert-dir "$CERTS" --creds reader:reader-pw "docker://$REG/e2e/buildah:v1" >/dev/null
}
check "buildah (tls+basic): push" t_buildah_basic

CTRD="$WORK/containerd"
CTRD_PID=""
# Started here, in the script's own shell (a check runs in a subshell), and stopped on every exit.
stop_containerd() {
    [ -n "$CTRD_PID" ] || return 0
    kill "$CTRD_PID" 2>/dev/null || true
    wait "$CTRD_PID" 2>/dev/null || true
    CTRD_PID=""
}
# set +e: under errexit, `(exit $rc)` with a failing status would end the trap before lib.sh's cleanup.
trap 'rc=$?; set +e; stop_containerd; (exit $rc); cleanup' EXIT
start_containerd() {
    mkdir -p "$CTRD"
    cat >"$CTRD/config.toml" <<EOF
version = 2
root = "$CTRD/root"
state = "$CTRD/state"
[grpc]
  address = "$CTRD/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  disable = true
EOF
    containerd --config "$CTRD/config.toml" >"$WORK/logs/containerd.log" 2>&1 &
    CTRD_PID=$!
    for _ in $(seq 100); do [ -S "$CTRD/containerd.sock" ] && return 0; sleep 0.1; done
    return 1
}
ct() { ctr --address "$CTRD/containerd.sock" "$@"; }
# containerd 1.6 speaks plain HTTP to 127.0.0.1 unless a hosts.toml says https (its documented way to trust a CA).
ctr_hosts() {
    local dir="$WORK/ctr-hosts/$REG"
    mkdir -p "$dir"
    printf 'server = "https://%s"\n[host."https://%s"]\n  ca = "%s"\n  capabilities = ["pull", "resolve", "push"]\n' \
        "$REG" "$REG" "$PKI/ca.crt" >"$dir/hosts.toml"
    echo "--hosts-dir=$WORK/ctr-hosts"
}

start_containerd || echo "containerd did not start; see $WORK/logs/containerd.log"
t_ctr_basic() {
    [ -S "$CTRD/containerd.sock" ]
    local hosts
    hosts=$(ctr_hosts)
    ct images pull "$hosts" --user reader:reader-pw "$REG/e2e/img:v1"
    ct images tag "$REG/e2e/img:v1" "$REG/e2e/ctr:v1"
    ! ct images push "$hosts" --user reader:reader-pw "$REG/e2e/ctr:v1"
    ct images push "$hosts" --user writer:writer-pw "$REG/e2e/ctr:v1"
    expect_eq "ctr pushed the same manifest" "$V1" \
        "$(sk inspect --cert-dir "$CERTS" --creds reader:reader-pw --format '{{.Digest}}' "docker://$REG/e2e/ctr:v1")"
}
check "containerd ctr (tls+basic): pull as reader, push refused to reader, push as writer" t_ctr_basic

# oras_roundtrip BACKEND USER PASS REPO — push and pull an artifact with oras-py. With the token backend, oras-py
# asks for a new token only after a 403, while Docker-protocol clients (containerd, docker) expect what distribution
# sends for a valid token without the scope: 401 error="insufficient_scope". So its push starts from a token with
# pull,push taken from /token by its own request_token (as after a 403), and its pull runs the whole challenge flow.
oras_roundtrip() {
    REQUESTS_CA_BUNDLE="$PKI/ca.crt" python3 - "$REG" "$1" "$2" "$3" "$4" "$WORK" <<'PY'
import os, sys, oras.client
from oras.auth.utils import parse_auth_header
reg, backend, user, password, repo, work = sys.argv[1:]
ca = os.environ["REQUESTS_CA_BUNDLE"]
os.chdir(work)
with open("artifact.txt", "w") as f:
    f.write("hello from oras\n")
def client():
    c = oras.client.OrasClient(hostname=reg, auth_backend=backend, tls_verify=ca)
    c.login(username=user, password=password, hostname=reg, tls_verify=ca,
            config_path=os.path.join(work, "oras-config.json"))
    return c
pusher = client()
if backend == "token":
    name = repo.split(":")[0]
    challenge = f'Bearer realm="https://{reg}/token",service="swregistry",scope="repository:{name}:pull,push"'
    pusher.auth.token = pusher.auth.request_token(parse_auth_header(challenge))
    assert pusher.auth.token, "no token from /token"
response = pusher.push(target=f"{reg}/{repo}", files=["artifact.txt"])
assert response.status_code in (200, 201), response.status_code
files = client().pull(target=f"{reg}/{repo}", outdir=os.path.join(work, "oras-out-" + backend))
assert open(files[0]).read() == "hello from oras\n", files
print("pulled", files)
PY
}
t_oras_basic() { oras_roundtrip basic writer writer-pw e2e/oras:basic; }
check "oras-py (tls+basic): push and pull an artifact" t_oras_basic

t_swcopy_basic() {
    local auth="$WORK/swcopy-auth.json"
    ! sc login --authfile "$auth" --cert-dir "$CERTS" -u writer -p wrong "$REG"
    [ ! -s "$auth" ] || ! grep -q "$REG" "$auth"
    sc login --authfile "$auth" --cert-dir "$CERTS" -u writer -p writer-pw "$REG"
    [ "$(stat -c %a "$auth")" = 600 ]
    sc copy --authfile "$auth" --dest-cert-dir "$CERTS" "oci:$L1:v1" "docker://$REG/e2e/swcopy:v1"
    sc copy --authfile "$auth" --src-cert-dir "$CERTS" "docker://$REG/e2e/swcopy:v1" "oci:$WORK/sc-pulled:v1"
    expect_eq "swcopy round trip" "$V1" "$(layout_digest "$WORK/sc-pulled" v1)"
    sc prepare --authfile "$auth" --cert-dir "$CERTS" --cache-dir "$WORK/cache" "$REG/e2e/swcopy:v1" "$WORK/bundle"
    [ -f "$WORK/bundle/config.json" ]
    sc logout --authfile "$auth" "$REG"
    ! sc copy --authfile "$auth" --src-cert-dir "$CERTS" "docker://$REG/e2e/swcopy:v1" "oci:$WORK/sc-anon:v1"
}
check "swcopy (tls+basic): login (wrong password stores nothing), copy both ways, prepare, logout" t_swcopy_basic

t_catalog_filtered() {
    sk copy --dest-cert-dir "$CERTS" --dest-creds admin:admin-pw "oci:$L1:v1" "docker://$REG/secret/img:v1"
    local seen
    seen=$(curl -s --cacert "$PKI/ca.crt" -u reader:reader-pw "https://$REG/v2/_catalog")
    echo "reader sees: $seen"
    ! grep -q secret <<<"$seen"
    grep -q e2e/img <<<"$seen"
    curl -s --cacert "$PKI/ca.crt" -u admin:admin-pw "https://$REG/v2/_catalog" | grep -q secret/img
}
check "catalog: a reader sees only what it may pull" t_catalog_filtered

stop_server

# ---------------------------------------------------------------------------------------------------------
# Phase 2: the built-in token service (Bearer), same store, same users

write_config "$WORK/token.yml" "  tokenservice:
    enabled: true
    key: $WORK/token-key.pem"
start_registry --config "$WORK/token.yml"

t_token_challenge() {
    curl -s -D - -o /dev/null --cacert "$PKI/ca.crt" "https://$REG/v2/e2e/img/manifests/v1" \
        | grep -i '^www-authenticate: Bearer realm="https://.*/token",service="[^"]*",scope="repository:e2e/img:pull"'
    [ "$(stat -c %a "$WORK/token-key.pem")" = 600 ]
    local token
    token=$(curl -s --cacert "$PKI/ca.crt" -u reader:reader-pw \
        "https://$REG/token?service=swregistry&scope=repository:e2e/img:pull,push" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
    expect_eq "bearer GET" 200 "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$PKI/ca.crt" \
        -H "Authorization: Bearer $token" -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
        "https://$REG/v2/e2e/img/manifests/v1")"
    expect_eq "bearer push (reader's token holds pull only, and the policy gives no more)" 403 "$(curl -s -o /dev/null -w '%{http_code}' \
        --cacert "$PKI/ca.crt" -X POST -H "Authorization: Bearer $token" "https://$REG/v2/e2e/img/blobs/uploads/")"
}
check "token service: Bearer challenge with the scope, tokens grant what the policy allows, key 0600" t_token_challenge

t_skopeo_token() {
    sk copy --dest-cert-dir "$CERTS" --dest-creds writer:writer-pw "oci:$L1:v1" "docker://$REG/e2e/token:v1"
    ! sk copy --dest-cert-dir "$CERTS" --dest-creds reader:reader-pw "oci:$L1:v1" "docker://$REG/e2e/token2:v1"
    expect_eq "anonymous pull of public/" "$V1" "$(sk copy --dest-cert-dir "$CERTS" --dest-creds admin:admin-pw \
        "oci:$L1:v1" "docker://$REG/public/img:v1" >/dev/null && \
        sk inspect --cert-dir "$CERTS" --no-creds --format '{{.Digest}}' "docker://$REG/public/img:v1")"
}
check "skopeo (token): writer pushes, reader refused, anonymous pulls public/" t_skopeo_token

t_podman_token() {
    pm login --cert-dir "$CERTS" -u writer -p writer-pw "$REG"
    pm pull --cert-dir "$CERTS" "$REG/e2e/token:v1"
    pm tag "$REG/e2e/token:v1" "$REG/e2e/podman-token:v1"
    pm push --cert-dir "$CERTS" "$REG/e2e/podman-token:v1"
    pm logout "$REG"
}
check "podman (token): login, pull, push" t_podman_token

t_buildah_token() {
    bu push --cert-dir "$CERTS" --creds writer:writer-pw e2e-buildah "docker://$REG/e2e/buildah-token:v1"
}
check "buildah (token): push" t_buildah_token

t_ctr_token() {
    [ -S "$CTRD/containerd.sock" ]
    local hosts
    hosts=$(ctr_hosts)
    ct images pull "$hosts" --user reader:reader-pw "$REG/e2e/token:v1"
    ct images tag "$REG/e2e/token:v1" "$REG/e2e/ctr-token:v1"
    ! ct images push "$hosts" --user reader:reader-pw "$REG/e2e/ctr-token:v1"
    ct images push "$hosts" --user writer:writer-pw "$REG/e2e/ctr-token:v1"
}
check "containerd ctr (token): pull as reader, push refused to reader, push as writer" t_ctr_token

t_oras_token() { oras_roundtrip token writer writer-pw e2e/oras:token; }
check "oras-py (token): push and pull an artifact" t_oras_token

t_swcopy_token() {
    local auth="$WORK/swcopy-auth-token.json"
    sc login --authfile "$auth" --cert-dir "$CERTS" -u writer -p writer-pw "$REG"
    sc copy --authfile "$auth" --dest-cert-dir "$CERTS" "oci:$L1:v1" "docker://$REG/e2e/swcopy-token:v1"
    sc prepare --authfile "$auth" --cert-dir "$CERTS" --cache-dir "$WORK/cache" "$REG/e2e/swcopy-token:v1" \
        "$WORK/bundle-token"
    [ -f "$WORK/bundle-token/config.json" ]
}
check "swcopy (token): login, copy, prepare" t_swcopy_token

stop_server
stop_containerd
summary
[ "$FAIL" -eq 0 ]
