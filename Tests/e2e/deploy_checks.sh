#!/usr/bin/env bash
# The systemd unit and the Kubernetes manifests of deploy/, checked without systemd or a cluster:
# - systemd-analyze verifies the unit and scores its exposure; the server then runs under what the unit's hardening
#   asks of the kernel (system-call filter, address families, no writable-executable memory: unit_sandbox.py)
#   with the shipped configuration (TLS, htpasswd, GC scheduled), and skopeo pushes and pulls through it;
# - every shipped configuration passes `swregistry config check`;
# - kubernetes-validate (PyPI; schemas bundled, no network) validates the manifests strictly for the oldest and the
#   newest Kubernetes we claim, and kubernetes_refs.py checks that they refer to each other rightly.
#
# Every check prints `PASS name` or `FAIL name`; the last line is `N passed, M failed`.
#
# Environment: E2E_SWREGISTRY_BIN (the binary to use), E2E_KEEP=1 (keep the work folder).
# Needs: systemd (systemd-analyze), libseccomp2, openssl, apache2-utils (htpasswd), skopeo (Debian);
# kubernetes-validate, PyYAML (PyPI); Linux 6.3+ (PR_SET_MDWE).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
E2E_NAME="deploy checks"
E2E_SLUG="swregistry-deploy-checks"
# shellcheck source=lib.sh
source "$HERE/lib.sh"
e2e_setup

for tool in systemd-analyze kubernetes-validate openssl htpasswd; do
    command -v "$tool" >/dev/null || abort "setup: $tool installed (scripts/install-deps test)"
done
if [ -n "${E2E_SWREGISTRY_BIN:-}" ]; then
    REAL_BIN=$E2E_SWREGISTRY_BIN
else
    (cd "$ROOT" && swift build --product swregistry) >"$WORK/logs/build.log" 2>&1 \
        || { tail -n 30 "$WORK/logs/build.log"; abort "setup: swift build --product swregistry"; }
    REAL_BIN="$(cd "$ROOT" && swift build --show-bin-path)/swregistry"
fi
[ -x "$REAL_BIN" ] || abort "setup: swregistry binary at $REAL_BIN"
DEPLOY="$ROOT/deploy"
UNIT="$DEPLOY/swregistry.service"

# The files the configurations name (TLS, htpasswd) are made here; their keys point at them through SWREGISTRY_*
# variables, which override the file's keys, so that the shipped files are checked as they are.
PKI="$WORK/pki"
mkdir -p "$PKI"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$PKI/key.pem" -out "$PKI/cert.pem" 2>/dev/null
mkdir -p "$WORK/certs.d" && cp "$PKI/cert.pem" "$WORK/certs.d/ca.crt"
htpasswd -Bbc "$WORK/htpasswd" deployer deployer-pw 2>/dev/null
chmod 600 "$WORK/htpasswd" "$PKI/key.pem"
files_env=(SWREGISTRY_HTTP_TLS_CERTIFICATE="$PKI/cert.pem" SWREGISTRY_HTTP_TLS_KEY="$PKI/key.pem"
    SWREGISTRY_AUTH_HTPASSWD_PATH="$WORK/htpasswd")

# ---------------------------------------------------------------------------------------------------------
# systemd

t_unit_verify() {
    # verify wants ExecStart's binary to exist: the unit's path is replaced by the binary under test.
    local copy="$WORK/swregistry.service" out="$WORK/verify.out"
    grep -q '^ExecStart=/usr/local/bin/swregistry ' "$UNIT"
    sed "s|/usr/local/bin/swregistry|$REAL_BIN|" "$UNIT" >"$copy"
    systemd-analyze verify --man=no "$copy" >"$out" 2>&1 || { cat "$out"; return 1; }
    # Unknown or misspelt settings are only warned about, with exit 0: any output is a failure.
    cat "$out"
    [ ! -s "$out" ]
}
check "systemd-analyze verify: the unit parses, no unknown setting" t_unit_verify

t_unit_security() {
    # Exposure 0-10 (lower is better); the unit scores 1.4: above 2.0 means a hardening setting was lost.
    systemd-analyze security --offline=true --threshold=20 --no-pager "$WORK/swregistry.service" | tail -n 25
}
check "systemd-analyze security: the unit's exposure is at most 2.0" t_unit_security

for f in "$DEPLOY/swregistry.yml" "$DEPLOY/container.yml"; do
    t_config_check() { env "${files_env[@]}" "$REAL_BIN" config check "$1"; }
    check "swregistry config check deploy/$(basename "$f")" t_config_check "$f"
done

# The server under the unit's sandbox, with the unit's configuration file (TLS, htpasswd, GC every 24 h): a
# wrapper that start_registry runs as if it were the binary.
SANDBOXED="$WORK/swregistry-sandboxed"
printf '#!/bin/sh\nexec python3 %q %q %q "$@"\n' "$HERE/unit_sandbox.py" "$UNIT" "$REAL_BIN" >"$SANDBOXED"
chmod +x "$SANDBOXED"
export "${files_env[@]}"
E2E_SWREGISTRY_BIN=$SANDBOXED start_registry --config "$DEPLOY/swregistry.yml"
unset SWREGISTRY_HTTP_TLS_CERTIFICATE SWREGISTRY_HTTP_TLS_KEY SWREGISTRY_AUTH_HTPASSWD_PATH

t_sandboxed() {
    local status
    status=$(grep -E '^(NoNewPrivs|Seccomp):' "/proc/$SERVER_PID/status" | tr -s '\t ' ' ' | tr '\n' ' ')
    expect_eq "sandbox of the server" "NoNewPrivs: 1 Seccomp: 2 " "$status"
    expect_eq "anonymous /v2/" 401 \
        "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$PKI/cert.pem" "https://$REG/v2/")"
    python3 "$HERE/make_oci_layout.py" "$WORK/layout" v1 2
    local digest
    digest=$(layout_digest "$WORK/layout" v1)
    sk copy --dest-cert-dir "$WORK/certs.d" --dest-creds deployer:deployer-pw "oci:$WORK/layout:v1" "docker://$REG/deploy/img:v1"
    sk copy --src-cert-dir "$WORK/certs.d" --src-creds deployer:deployer-pw "docker://$REG/deploy/img:v1" "oci:$WORK/back:v1"
    expect_eq "digest pulled back" "$digest" "$(layout_digest "$WORK/back" v1)"
    local d
    for d in $(manifest_blobs "$(layout_blob "$WORK/back" "$digest")"); do
        expect_eq "blob $d" "$d" "$(sha256_of "$(layout_blob "$WORK/back" "$d")")"
    done
    kill -0 "$SERVER_PID"
}
check "the server under the unit's sandbox (@system-service ~@privileged, INET/INET6/UNIX, no W+X memory): TLS, htpasswd, push, pull" t_sandboxed

# Stopped here, in the script's own shell: the server is its child, not a check's.
SANDBOXED_RC=0
stop_server || SANDBOXED_RC=$?
t_sandboxed_stop() {
    # A call outside the filter would have killed it with SIGSYS: status 159, and no log line to say so.
    expect_eq "exit status after SIGTERM" 0 "$SANDBOXED_RC"
}
check "the sandboxed server stops on SIGTERM with exit 0 (no call outside the filter)" t_sandboxed_stop

# ---------------------------------------------------------------------------------------------------------
# Kubernetes

KUBE="$DEPLOY/kubernetes"
# The oldest Kubernetes the manifests claim (deploy/README.md) and the newest the validator knows.
K8S_VERSIONS=(1.29 "$(python3 -c 'import kubernetes_validate.utils as u; print(u.latest_version())')")

t_kube_schema() {
    local v
    for v in "${K8S_VERSIONS[@]}"; do
        kubernetes-validate --strict --kubernetes-version "$v" \
            "$KUBE/configmap.yaml" "$KUBE/service.yaml" "$KUBE/statefulset.yaml"
    done
}
check "kubernetes-validate --strict: ConfigMap, Services, StatefulSet for Kubernetes ${K8S_VERSIONS[*]}" t_kube_schema

t_kube_secrets() {
    # The Secrets as the README's kubectl create secret and the kustomization make them, from files made here.
    python3 - "$PKI/cert.pem" "$PKI/key.pem" "$WORK/htpasswd" >"$WORK/secrets.yaml" <<'EOF'
import base64, sys, yaml
data = lambda path: base64.b64encode(open(path, "rb").read()).decode()
docs = [
    {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls", "metadata": {"name": "swregistry-tls"},
     "data": {"tls.crt": data(sys.argv[1]), "tls.key": data(sys.argv[2])}},
    {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": {"name": "swregistry-htpasswd"},
     "data": {"htpasswd": data(sys.argv[3])}},
]
yaml.safe_dump_all(docs, sys.stdout)
EOF
    kubernetes-validate --strict --kubernetes-version "${K8S_VERSIONS[0]}" "$WORK/secrets.yaml"
}
check "kubernetes-validate --strict: the TLS and htpasswd Secrets as generated" t_kube_secrets

t_kube_refs() { python3 "$HERE/kubernetes_refs.py" "$DEPLOY"; }
check "Kubernetes manifests refer to each other: volumes, Secrets, ConfigMap keys, ports, probes, image user" t_kube_refs

t_kube_config() {
    python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["data"]["config.yml"], end="")' \
        "$KUBE/configmap.yaml" >"$WORK/k8s-config.yml"
    env "${files_env[@]}" "$REAL_BIN" config check "$WORK/k8s-config.yml"
}
check "swregistry config check: the ConfigMap's configuration" t_kube_config

t_no_secrets() {
    # Nothing but the .gitignore is committed under secrets/, and the ignore rules keep it that way.
    expect_eq "committed under secrets/" "deploy/kubernetes/secrets/.gitignore" \
        "$(cd "$ROOT" && git ls-files deploy/kubernetes/secrets)"
    local f
    for f in tls.crt tls.key htpasswd; do (cd "$ROOT" && git check-ignore "deploy/kubernetes/secrets/$f"); done
}
check "no secret committed: deploy/kubernetes/secrets/ holds only its .gitignore" t_no_secrets

summary
[ "$FAIL" -eq 0 ]
