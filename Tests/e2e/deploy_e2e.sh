#!/usr/bin/env bash
# The container image of deploy/: deploy/container-context.sh gathers the binary under test and its libraries,
# buildah builds deploy/Containerfile FROM scratch (nothing pulled), podman runs it as Kubernetes would
# (read-only root, no capabilities, no new privileges, a named volume), skopeo and podman push to it and pull
# back, the volume belongs to the non-root user, SIGTERM stops it with exit 0, and a restart keeps the images.
#
# Every check prints `PASS name` or `FAIL name`; the last line is `N passed, M failed`.
#
# Environment: E2E_SWREGISTRY_BIN (the binary to put in the image; the debug build in CI, the release build for
# real use), E2E_KEEP=1 (keep the work folder).
# Needs: buildah, podman, skopeo (Debian), run as root (rootful podman: published ports, volume ownership).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
E2E_NAME="deploy e2e"
E2E_SLUG="swregistry-deploy"
# shellcheck source=lib.sh
source "$HERE/lib.sh"
e2e_setup

for tool in podman buildah; do
    command -v "$tool" >/dev/null || abort "setup: $tool installed (scripts/install-deps test)"
done
[ "$(id -u)" -eq 0 ] || abort "setup: run as root (rootful podman)"

if [ -n "${E2E_SWREGISTRY_BIN:-}" ]; then
    BIN=$E2E_SWREGISTRY_BIN
else
    (cd "$ROOT" && swift build --product swregistry) >"$WORK/logs/build.log" 2>&1 \
        || { tail -n 30 "$WORK/logs/build.log"; abort "setup: swift build --product swregistry"; }
    BIN="$(cd "$ROOT" && swift build --show-bin-path)/swregistry"
fi
[ -x "$BIN" ] || abort "setup: swregistry binary at $BIN"

# Containers storage of our own (vfs: no overlay mounts to leak), so that nothing here touches the machine's
# images and removing the work folder removes every layer. Networks and firewall rules are the machine's: the
# container is removed by the trap below, which takes its rules away.
P_ROOT="$WORK/containers"
pm() { podman --root "$P_ROOT/root" --runroot "$P_ROOT/run" --storage-driver vfs --events-backend file \
    --cgroup-manager cgroupfs "$@"; }
bu() { buildah --root "$P_ROOT/root" --runroot "$P_ROOT/run" --storage-driver vfs "$@"; }

SUFFIX="$$-$RANDOM"
IMAGE="localhost/swregistry-e2e:$SUFFIX"
NAME="swregistry-e2e-$SUFFIX"
VOLUME="swregistry-e2e-$SUFFIX"
SERVER_UID=65532

remove_containers() {
    [ -d "$P_ROOT" ] || return 0
    pm rm -f -t 0 "$NAME" >/dev/null 2>&1 || true
    pm volume rm -f "$VOLUME" >/dev/null 2>&1 || true
    pm rmi -f "$IMAGE" >/dev/null 2>&1 || true
    # Anything else made in this storage (buildah's working containers, pulled images) goes with it.
    bu rm -a >/dev/null 2>&1 || true
    pm rmi -a -f >/dev/null 2>&1 || true
    # conmon runs `podman container cleanup` on this storage after a container ends, on its own: the work folder
    # can only be removed once those are done (10 s at most).
    local i
    for ((i = 0; i < 100; i++)); do
        pgrep -f -- "$P_ROOT/" >/dev/null || break
        sleep 0.1
    done
}
# set +e: under errexit, `(exit $rc)` with a failing status would end the trap before lib.sh's cleanup.
trap 'rc=$?; set +e; remove_containers; (exit $rc); cleanup' EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ---------------------------------------------------------------------------------------------------------
# Build

t_context() {
    "$ROOT/deploy/container-context.sh" "$BIN" "$WORK/context"
    local rootfs="$WORK/context/rootfs"
    [ -x "$rootfs/usr/bin/swregistry" ]
    [ -x "$rootfs/usr/libexec/swregistry/wget" ]
    [ -f "$rootfs/etc/ssl/certs/ca-certificates.crt" ]
    grep -q "^swregistry:x:$SERVER_UID:$SERVER_UID:" "$rootfs/etc/passwd"
    # Every library ldd names is in the context, at the path the loader finds it.
    local lib missing=0
    for lib in $(ldd "$BIN" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
        if [ -f "$rootfs$lib" ]; then echo "copied: $lib"; else echo "missing: $lib"; missing=1; fi
    done
    return "$missing"
}
check "context: the binary, every library ldd names, the loader, CA certificates, passwd" t_context

t_build() {
    # No network here: the build must not try to pull (FROM scratch, --pull=never makes sure).
    bu build --pull=never --format docker -f "$ROOT/deploy/Containerfile" \
        --build-arg VERSION=e2e --build-arg REVISION="$(cd "$ROOT" && git rev-parse HEAD 2>/dev/null || echo unknown)" \
        --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
        -t "$IMAGE" "$WORK/context"
}
check "buildah builds deploy/Containerfile from scratch, nothing pulled" t_build

t_image_config() {
    local f="$WORK/image.json"
    pm image inspect "$IMAGE" >"$f"
    python3 - "$f" "$SERVER_UID" <<'EOF'
import json, sys
image = json.load(open(sys.argv[1]))[0]
uid = sys.argv[2]
config = image["Config"]
problems = []
def expect(what, actual, wanted):
    print("%s: %r" % (what, actual))
    if actual != wanted:
        problems.append("%s: expected %r, got %r" % (what, wanted, actual))
expect("user", config.get("User"), "%s:%s" % (uid, uid))
expect("exposed ports", sorted(config.get("ExposedPorts", {})), ["5000/tcp"])
expect("volumes", sorted(config.get("Volumes", {})), ["/var/lib/swregistry"])
expect("entrypoint", config.get("Entrypoint"), ["/usr/bin/swregistry"])
expect("cmd", config.get("Cmd"), ["serve"])
expect("stop signal", config.get("StopSignal"), "SIGTERM")
health = image.get("Healthcheck") or {}
expect("healthcheck", (health.get("Test") or [None, None])[:2], ["CMD", "/usr/libexec/swregistry/wget"])
labels = image.get("Labels") or config.get("Labels") or {}
for key in ("title", "description", "version", "revision", "created", "licenses"):
    if not labels.get("org.opencontainers.image." + key):
        problems.append("label org.opencontainers.image.%s missing" % key)
expect("version label", labels.get("org.opencontainers.image.version"), "e2e")
if problems:
    sys.exit("\n".join(problems))
EOF
}
check "image: non-root user, port 5000, volume, entrypoint, SIGTERM, healthcheck, OCI labels" t_image_config

# ---------------------------------------------------------------------------------------------------------
# Run as Kubernetes' securityContext would: read-only root with no tmpfs added, every capability dropped, no new
# privileges. Published port: rootful podman's port forwarding works here (127.0.0.1 only).
# podman's default ulimits (nofile 1048576, nproc of the host) are above this sandbox's hard limits, which runc
# may not raise: lower ones are given.

PORT=$(free_port)
REG="127.0.0.1:$PORT"

run_container() {
    pm run -d --name "$NAME" -p "$REG:5000" -v "$VOLUME:/var/lib/swregistry" \
        --read-only --read-only-tmpfs=false --cap-drop=all --security-opt no-new-privileges \
        --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 \
        --health-interval=disable "$IMAGE"
}

# wait_healthy NAME URL [CURL ARGS...] — until URL (/healthz) answers 200, while the container runs (30 s at most).
wait_healthy() {
    local name=$1 url=$2 t0=$SECONDS code
    shift 2
    while ((SECONDS - t0 < 30)); do
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$@" "$url" || true)
        [ "$code" = 200 ] && { echo "$url answers after $((SECONDS - t0)) s"; return 0; }
        [ "$(pm inspect "$name" --format '{{.State.Running}}')" = true ] || { pm logs "$name"; return 1; }
        sleep 0.1
    done
    pm logs "$name"
    return 1
}
wait_ready() { wait_healthy "$NAME" "http://$REG/healthz"; }

t_run() {
    run_container
    wait_ready
    # The server's process on the host: its user (uid), no capabilities.
    pm top "$NAME" user huser capeff
    expect_eq "host uid of the server" "$SERVER_UID" "$(pm top "$NAME" huser | tail -n 1 | tr -d ' ')"
    expect_eq "effective capabilities" none "$(pm top "$NAME" capeff | tail -n 1 | tr -d ' ')"
    pm logs "$NAME" 2>&1 | grep "swregistry listening on 0.0.0.0:5000 storing under /var/lib/swregistry/data"
}
check "podman runs it read-only, no capabilities, non-root; /healthz answers on the published port" t_run

t_healthcheck() {
    pm healthcheck run "$NAME"
    expect_eq "health" healthy "$(pm inspect "$NAME" --format '{{.State.Health.Status}}')"
}
check "the image's HEALTHCHECK passes (podman healthcheck run)" t_healthcheck

L1="$WORK/layout-v1"
python3 "$HERE/make_oci_layout.py" "$L1" v1 2
V1=$(layout_digest "$L1" v1)

t_skopeo() {
    sk copy --dest-tls-verify=false "oci:$L1:v1" "docker://$REG/e2e/img:v1"
    expect_eq "digest" "$V1" "$(sk inspect --tls-verify=false --format '{{.Digest}}' "docker://$REG/e2e/img:v1")"
    sk copy --src-tls-verify=false "docker://$REG/e2e/img:v1" "oci:$WORK/back:v1"
    expect_eq "digest pulled back" "$V1" "$(layout_digest "$WORK/back" v1)"
    local m="$WORK/back-manifest.json" d
    cp "$(layout_blob "$WORK/back" "$V1")" "$m"
    for d in $(manifest_blobs "$m"); do
        expect_eq "blob $d" "$d" "$(sha256_of "$(layout_blob "$WORK/back" "$d")")"
    done
}
check "skopeo pushes an image into the container and pulls it back byte for byte" t_skopeo

t_podman() {
    # The registry's own image, from podman's storage into the registry, then pulled back as a new name.
    pm push --tls-verify=false --digestfile "$WORK/pushed.digest" "$IMAGE" "$REG/e2e/swregistry:self"
    expect_eq "digest" "$(cat "$WORK/pushed.digest")" \
        "$(sk inspect --tls-verify=false --format '{{.Digest}}' "docker://$REG/e2e/swregistry:self")"
    pm rmi "$REG/e2e/swregistry:self" >/dev/null 2>&1 || true
    pm pull --tls-verify=false "$REG/e2e/swregistry:self"
    expect_eq "image id pulled back" "$(pm image inspect --format '{{.Id}}' "$IMAGE")" \
        "$(pm image inspect --format '{{.Id}}' "$REG/e2e/swregistry:self")"
}
check "podman pushes an image into the container and pulls it back" t_podman

t_volume() {
    local mp
    mp=$(pm volume inspect "$VOLUME" --format '{{.Mountpoint}}')
    expect_eq "volume owner and mode" "$SERVER_UID:$SERVER_UID 700" "$(stat -c '%u:%g %a' "$mp")"
    expect_eq "store owner and mode" "$SERVER_UID:$SERVER_UID 700" "$(stat -c '%u:%g %a' "$mp/data")"
    # Nothing in the volume belongs to anyone else.
    expect_eq "files not the server's" "" "$(find "$mp" ! -uid "$SERVER_UID" -print)"
    find "$mp/data/blobs" -type f | head -n 3
    [ "$(find "$mp/data/blobs" -type f | wc -l)" -gt 0 ]
}
check "the store's volume belongs to the non-root user (uid $SERVER_UID), private" t_volume

t_stop() {
    local t0=$EPOCHSECONDS
    pm stop -t 30 "$NAME"
    expect_eq "exit code" 0 "$(pm inspect "$NAME" --format '{{.State.ExitCode}}')"
    # Well inside the 30 s after which podman would have sent SIGKILL.
    [ $((EPOCHSECONDS - t0)) -lt 20 ]
    pm logs "$NAME" 2>&1 | grep "signal 15: shutting down"
    pm logs "$NAME" 2>&1 | grep "stopped"
}
check "podman stop: SIGTERM, clean shutdown, exit 0" t_stop

t_restart() {
    pm start "$NAME"
    wait_ready
    expect_eq "digest after restart" "$V1" \
        "$(sk inspect --tls-verify=false --format '{{.Digest}}' "docker://$REG/e2e/img:v1")"
    pm stop -t 30 "$NAME"
    expect_eq "exit code" 0 "$(pm inspect "$NAME" --format '{{.State.ExitCode}}')"
}
check "restarted on the same volume, it still serves what was pushed" t_restart

# ---------------------------------------------------------------------------------------------------------
# As the Kubernetes StatefulSet runs it: the ConfigMap's configuration (TLS, htpasswd, GC) and the Secrets' files
# mounted where deploy/kubernetes/statefulset.yaml mounts them, owned by root with group fsGroup and mode 0440 as
# kubelet makes them, a fresh volume.

KUBE="$ROOT/deploy/kubernetes"
K_NAME="$NAME-k8s"
K_VOLUME="$VOLUME-k8s"
K_PORT=$(free_port)
K_REG="127.0.0.1:$K_PORT"
remove_k8s_container() {
    [ -d "$P_ROOT" ] || return 0
    pm rm -f -t 0 "$K_NAME" >/dev/null 2>&1 || true
    pm volume rm -f "$K_VOLUME" >/dev/null 2>&1 || true
}
trap 'rc=$?; set +e; remove_k8s_container; remove_containers; (exit $rc); cleanup' EXIT

t_k8s_run() {
    local files="$WORK/k8s"
    mkdir -p "$files/config" "$files/tls" "$files/auth"
    # Where the StatefulSet puts each file, read from it (kubernetes_refs.py checks they agree with the config).
    python3 - "$KUBE" "$files" "$K_VOLUME" >"$files/mounts" <<'EOF'
import os, sys, yaml
kube, files, volume = sys.argv[1:4]
sts = yaml.safe_load(open(os.path.join(kube, "statefulset.yaml")))
container = sts["spec"]["template"]["spec"]["containers"][0]
mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
for name in ("config", "tls", "htpasswd"):
    print("-v %s/%s:%s:ro" % (files, {"htpasswd": "auth"}.get(name, name), mounts[name]))
print("-v %s:%s" % (volume, mounts["data"]))
for e in container["env"]:
    if "value" in e:
        print("-e %s=%s" % (e["name"], e["value"]))
EOF
    cat "$files/mounts"
    python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["data"]["config.yml"], end="")' \
        "$KUBE/configmap.yaml" >"$files/config/config.yml"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
        -addext subjectAltName=IP:127.0.0.1 -keyout "$files/tls/tls.key" -out "$files/tls/tls.crt" 2>/dev/null
    htpasswd -Bbc "$files/auth/htpasswd" pusher pusher-pw 2>/dev/null
    chown -R "0:$SERVER_UID" "$files/tls" "$files/auth"
    chmod 0440 "$files/tls/"* "$files/auth/htpasswd"
    chmod 0755 "$files/config" "$files/tls" "$files/auth"
    chmod 0644 "$files/config/config.yml"
    mkdir -p "$WORK/k8s-certs.d" && cp "$files/tls/tls.crt" "$WORK/k8s-certs.d/ca.crt"
    # shellcheck disable=SC2046 # an option and its value per line, no spaces in them
    pm run -d --name "$K_NAME" -p "$K_REG:5000" $(cat "$files/mounts") \
        --read-only --read-only-tmpfs=false --cap-drop=all --security-opt no-new-privileges \
        --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 --health-interval=disable "$IMAGE"
    wait_healthy "$K_NAME" "https://$K_REG/healthz" --cacert "$files/tls/tls.crt"
    # The readiness probe's path answers without credentials, as kubelet asks it.
    expect_eq "/readyz over HTTPS, anonymous" 200 \
        "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$files/tls/tls.crt" "https://$K_REG/readyz")"
    expect_eq "anonymous /v2/" 401 \
        "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$files/tls/tls.crt" "https://$K_REG/v2/")"
    sk copy --dest-cert-dir "$WORK/k8s-certs.d" --dest-creds pusher:pusher-pw "oci:$L1:v1" "docker://$K_REG/e2e/img:v1"
    expect_eq "digest" "$V1" "$(sk inspect --cert-dir "$WORK/k8s-certs.d" --creds pusher:pusher-pw \
        --format '{{.Digest}}' "docker://$K_REG/e2e/img:v1")"
    pm stop -t 30 "$K_NAME"
    expect_eq "exit code" 0 "$(pm inspect "$K_NAME" --format '{{.State.ExitCode}}')"
}
check "as the StatefulSet runs it: the ConfigMap's configuration, Secrets 0440 root:65532, probes over HTTPS, htpasswd, push" t_k8s_run

remove_k8s_container
remove_containers
t_cleaned() {
    expect_eq "containers left" "" "$(pm ps -a --format '{{.Names}}')"
    expect_eq "volumes left" "" "$(pm volume ls --format '{{.Name}}')"
    expect_eq "images left" "" "$(pm images --format '{{.Repository}}:{{.Tag}}')"
}
check "every container, volume and image made here is removed" t_cleaned

summary
[ "$FAIL" -eq 0 ]
