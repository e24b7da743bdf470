#!/usr/bin/env bash
# skopeo interoperability end-to-end test for swregistry.
#
# Starts swregistry on a free 127.0.0.1 port with a throw-away storage folder, generates deterministic OCI
# image layouts (make_oci_layout.py, no network) and drives skopeo against the registry: push, pull, inspect,
# list-tags, cross-repository copy (blob mounts, no layer bytes moved), dir: round trip, delete.
#
# Every check prints `PASS name` or `FAIL name`; the last line is `N passed, M failed` and the exit status is
# non-zero when anything failed.
#
# Environment:
#   E2E_SWREGISTRY_BIN  use this swregistry binary instead of running `swift build --product swregistry`
#   E2E_KEEP=1          keep the work folder (storage, layouts, logs) and print where it is
#
# Needs: bash, skopeo (Debian: apt-get install -y skopeo), python3, curl, coreutils. All traffic stays on
# 127.0.0.1 (proxy variables are cleared). skopeo keeps its blob-info cache under /var/lib/containers/cache
# when run as root (its normal behaviour); entries are keyed by host:port, so runs do not disturb each other.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
E2E_NAME="skopeo interop"
E2E_SLUG="swregistry-skopeo"
# shellcheck source=lib.sh
source "$HERE/lib.sh"
e2e_setup
start_registry

# ---------------------------------------------------------------------------------------------------------
# source images

L1="$WORK/layout-v1"   # seed 1, ref v1
L2="$WORK/layout-v2"   # seed 2, ref v2: shares the base layer with L1

t_generate() {
    python3 "$HERE/make_oci_layout.py" "$L1" v1 1
    python3 "$HERE/make_oci_layout.py" "$L2" v2 2
    python3 "$HERE/make_oci_layout.py" "$WORK/layout-v1-again" v1 1
    diff -r "$L1" "$WORK/layout-v1-again"   # deterministic
    rm -rf "$WORK/layout-v1-again"
    sk inspect "oci:$L1:v1" >/dev/null      # skopeo accepts the layout
    local m
    m=$(layout_blob "$L1" "$(layout_digest "$L1" v1)")
    [ "$(manifest_layers "$m" | wc -l)" -eq 3 ]
}
check "layout: make_oci_layout.py writes a deterministic 3-layer OCI layout that skopeo reads" t_generate

SRC_DIGEST=$(layout_digest "$L1" v1 2>/dev/null || echo "sha256:unknown-source")
SRC_MANIFEST=$(layout_blob "$L1" "$SRC_DIGEST")
V2_DIGEST=$(layout_digest "$L2" v2 2>/dev/null || echo "sha256:unknown-v2")
mapfile -t SRC_BLOBS < <(manifest_blobs "$SRC_MANIFEST" 2>/dev/null || true)
mapfile -t SRC_LAYERS < <(manifest_layers "$SRC_MANIFEST" 2>/dev/null || true)
echo "source manifest $SRC_DIGEST (layers: ${SRC_LAYERS[*]:-none})"

# ---------------------------------------------------------------------------------------------------------
# push, digests, pull

t_push() {
    sk copy --dest-tls-verify=false "oci:$L1:v1" "docker://$REG/e2e/img:v1"
    has_store_blobs "${SRC_BLOBS[@]}" "$SRC_DIGEST"
    has_layer_links e2e/img "${SRC_BLOBS[@]}"
    test -f "$STORE/repositories/e2e/img/_manifests/tags/v1"
}
check "push: skopeo copy oci:LAYOUT:v1 -> docker://$REG/e2e/img:v1 (storage holds blobs and links)" t_push

t_https_probe() {
    # skopeo with --tls-verify=false tries https first and falls back to http when that fails. A plain-HTTP
    # server should refuse the TLS ClientHello at once (its first byte, 0x16, cannot start a request line);
    # otherwise every skopeo call waits for Go's 10 s TLS handshake timeout before falling back.
    local t0 t1 ms
    t0=$EPOCHREALTIME
    sk --debug inspect --raw --tls-verify=false "docker://$REG/e2e/img:v1" >"$WORK/probe.out" 2>&1
    t1=$EPOCHREALTIME
    ms=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%d", (b - a) * 1000 }')
    grep -E 'Ping https?://' "$WORK/probe.out" || true
    echo "skopeo inspect took ${ms} ms"
    if grep -q 'TLS handshake timeout' "$WORK/probe.out"; then
        echo "the https probe hung until the client's TLS handshake timeout"
        return 1
    fi
    [ "$ms" -lt 3000 ]
}
check "https probe: skopeo's https attempt on the plain-HTTP port fails fast (no 10 s TLS handshake timeout)" t_https_probe

t_registry_digest_raw() {
    sk inspect --raw --tls-verify=false "docker://$REG/e2e/img:v1" >"$WORK/raw-v1.json"
    cmp "$SRC_MANIFEST" "$WORK/raw-v1.json"
    expect_eq "sha256 of skopeo inspect --raw" "$SRC_DIGEST" "$(sha256_of "$WORK/raw-v1.json")"
}
check "digest: skopeo inspect --raw returns the source manifest bytes (same sha256)" t_registry_digest_raw

t_registry_digest_header() {
    curl -sS --noproxy '*' -I -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
        "http://$REG/v2/e2e/img/manifests/v1" | tr -d '\r' >"$WORK/head-v1.txt"
    cat "$WORK/head-v1.txt"
    head -n 1 "$WORK/head-v1.txt" | grep -q '^HTTP/1\.[01] 200'
    local got
    got=$(sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest:[[:space:]]*//p' "$WORK/head-v1.txt")
    expect_eq "Docker-Content-Digest" "$SRC_DIGEST" "$got"
}
check "digest: HEAD /v2/e2e/img/manifests/v1 Docker-Content-Digest equals the source digest" t_registry_digest_header

OUT="$WORK/pulled"
t_pull() {
    sk copy --src-tls-verify=false "docker://$REG/e2e/img:v1" "oci:$OUT:v1"
    expect_eq "copied-back manifest digest" "$SRC_DIGEST" "$(layout_digest "$OUT" v1)"
    local d
    for d in "$SRC_DIGEST" "${SRC_BLOBS[@]}"; do
        cmp "$(layout_blob "$L1" "$d")" "$(layout_blob "$OUT" "$d")"
    done
}
check "pull: skopeo copy docker://…/e2e/img:v1 -> oci:OUT:v1 gives the same manifest digest and blobs" t_pull

t_inspect() {
    sk inspect --tls-verify=false "docker://$REG/e2e/img:v1" >"$WORK/inspect-v1.json"
    cat "$WORK/inspect-v1.json"
    python3 - "$WORK/inspect-v1.json" "$SRC_DIGEST" "${SRC_LAYERS[@]}" <<'EOF'
import json, sys
info = json.load(open(sys.argv[1]))
assert info["Digest"] == sys.argv[2], ("Digest", info["Digest"])
assert info["Layers"] == sys.argv[3:], ("Layers", info["Layers"])
assert len(info["Layers"]) == 3
assert info["Architecture"] == "amd64" and info["Os"] == "linux", (info["Architecture"], info["Os"])
assert info["Labels"] == {"org.swregistry.e2e.seed": "1"}, info["Labels"]
EOF
}
check "inspect: skopeo inspect docker://…/e2e/img:v1 shows the digest, platform and 3 layers" t_inspect

# ---------------------------------------------------------------------------------------------------------
# tags

t_push_v2() {
    sk copy --dest-tls-verify=false "oci:$L2:v2" "docker://$REG/e2e/img:v2"
    expect_eq "e2e/img:v2 digest" "$V2_DIGEST" \
        "$(sk inspect --raw --tls-verify=false "docker://$REG/e2e/img:v2" | sha256sum | sed 's/^\([0-9a-f]*\).*/sha256:\1/')"
}
check "push: a second image as e2e/img:v2" t_push_v2

t_list_tags() {
    sk list-tags --tls-verify=false "docker://$REG/e2e/img" >"$WORK/tags.json"
    cat "$WORK/tags.json"
    python3 - "$WORK/tags.json" <<'EOF'
import json, sys
tags = json.load(open(sys.argv[1]))
assert sorted(tags["Tags"]) == ["v1", "v2"], tags["Tags"]
EOF
}
check "list-tags: skopeo list-tags docker://…/e2e/img lists v1 and v2" t_list_tags

# ---------------------------------------------------------------------------------------------------------
# copy between repositories of the same registry: layers are mounted, not transferred

t_cross_repo() {
    local before after d
    before=$(store_blob_count)
    sk --debug copy --src-tls-verify=false --dest-tls-verify=false \
        "docker://$REG/e2e/img:v1" "docker://$REG/e2e/other:v1" >"$WORK/cross.out" 2>&1 \
        || { tail -n 40 "$WORK/cross.out"; return 1; }
    after=$(store_blob_count)
    grep -v '^time=' "$WORK/cross.out"
    grep -E 'mount|Skipping blob|Upload of layer|GET http://[^"]*/blobs/' "$WORK/cross.out" | sed 's/^time="[^"]*" //'
    expect_eq "blob files in storage (before -> after)" "$before" "$after"
    has_layer_links e2e/other "${SRC_LAYERS[@]}"
    for d in "${SRC_LAYERS[@]}"; do
        grep -q "Skipping blob $d (already present)" "$WORK/cross.out" \
            || { echo "skopeo did not skip layer $d"; return 1; }
        if grep -Eq "Upload of layer $d|(PATCH|PUT) http://[^\"]*/e2e/other/blobs/uploads/[^\"]*digest=sha256%3A${d#*:}|GET http://[^\"]*/blobs/$d" \
            "$WORK/cross.out"; then
            echo "layer $d was transferred"
            return 1
        fi
    done
    expect_eq "e2e/other:v1 digest" "$SRC_DIGEST" \
        "$(sk inspect --raw --tls-verify=false "docker://$REG/e2e/other:v1" | sha256sum | sed 's/^\([0-9a-f]*\).*/sha256:\1/')"
}
check "cross-repo: docker://…/e2e/img:v1 -> docker://…/e2e/other:v1 moves no layer bytes (links, no new blobs, skipped)" t_cross_repo

# ---------------------------------------------------------------------------------------------------------
# dir: round trip, into a third repository

DIRCOPY="$WORK/dircopy"
t_dir_out() {
    sk copy --src-tls-verify=false "docker://$REG/e2e/img:v1" "dir:$DIRCOPY"
    expect_eq "dir: manifest.json digest" "$SRC_DIGEST" "$(sha256_of "$DIRCOPY/manifest.json")"
    local d
    for d in "${SRC_BLOBS[@]}"; do
        cmp "$(layout_blob "$L1" "$d")" "$DIRCOPY/${d#*:}"
    done
}
check "dir: skopeo copy docker://…/e2e/img:v1 -> dir: keeps the manifest and blobs byte for byte" t_dir_out

t_dir_in() {
    sk copy --dest-tls-verify=false "dir:$DIRCOPY" "docker://$REG/e2e/third:v1"
    expect_eq "e2e/third:v1 digest" "$SRC_DIGEST" \
        "$(sk inspect --raw --tls-verify=false "docker://$REG/e2e/third:v1" | sha256sum | sed 's/^\([0-9a-f]*\).*/sha256:\1/')"
    has_layer_links e2e/third "${SRC_BLOBS[@]}"
    sk inspect --tls-verify=false "docker://$REG/e2e/third:v1" >/dev/null
}
check "dir: skopeo copy dir: -> docker://…/e2e/third:v1 gives the same digest" t_dir_in

t_catalog() {
    curl -sS --noproxy '*' --fail "http://$REG/v2/_catalog" >"$WORK/catalog.json"
    cat "$WORK/catalog.json"; echo
    python3 - "$WORK/catalog.json" <<'EOF'
import json, sys
repos = json.load(open(sys.argv[1]))["repositories"]
assert {"e2e/img", "e2e/other", "e2e/third"} <= set(repos), repos
EOF
}
check "catalog: /v2/_catalog lists e2e/img, e2e/other and e2e/third" t_catalog

# ---------------------------------------------------------------------------------------------------------
# delete

t_delete() {
    sk delete --tls-verify=false "docker://$REG/e2e/img@$SRC_DIGEST"
    if sk inspect --tls-verify=false "docker://$REG/e2e/img@$SRC_DIGEST" >"$WORK/after-delete.out" 2>&1; then
        echo "inspect by digest still works after delete"; return 1
    fi
    cat "$WORK/after-delete.out"
    grep -qi 'manifest unknown' "$WORK/after-delete.out"   # refused for the right reason
    if sk inspect --raw --tls-verify=false "docker://$REG/e2e/img:v1" >>"$WORK/after-delete.out" 2>&1; then
        echo "inspect e2e/img:v1 still works after its manifest was deleted"; return 1
    fi
    echo "inspect of the deleted manifest fails, as it should"
}
check "delete: skopeo delete docker://…/e2e/img@<digest>, then inspect fails" t_delete

t_delete_scope() {
    # The deletion is of one manifest in one repository: e2e/img:v2 and e2e/other:v1 are untouched.
    expect_eq "e2e/img:v2 digest" "$V2_DIGEST" \
        "$(sk inspect --raw --tls-verify=false "docker://$REG/e2e/img:v2" | sha256sum | sed 's/^\([0-9a-f]*\).*/sha256:\1/')"
    expect_eq "e2e/other:v1 digest" "$SRC_DIGEST" \
        "$(sk inspect --raw --tls-verify=false "docker://$REG/e2e/other:v1" | sha256sum | sed 's/^\([0-9a-f]*\).*/sha256:\1/')"
    sk list-tags --tls-verify=false "docker://$REG/e2e/img" >"$WORK/tags-after.json"
    cat "$WORK/tags-after.json"
    python3 - "$WORK/tags-after.json" <<'EOF'
import json, sys
tags = json.load(open(sys.argv[1]))["Tags"]
assert sorted(tags) == ["v2"], tags
EOF
}
check "delete: other tags and repositories still resolve; list-tags shows only v2" t_delete_scope

# ---------------------------------------------------------------------------------------------------------
# shutdown

t_stop() {
    local rc=0
    stop_server || rc=$?
    cat "$WORK/logs/server.err"
    expect_eq "swregistry exit status after SIGTERM" 0 "$rc"
}
# Not in a subshell: stop_server clears SERVER_PID in this shell.
set +e
CHECK_NO=$((CHECK_NO + 1))
t_stop >"$WORK/logs/check-$(printf '%02d' "$CHECK_NO").log" 2>&1
rc=$?
set -e
if [ "$rc" -eq 0 ]; then
    PASS=$((PASS + 1)); echo "PASS shutdown: SIGTERM stops swregistry with exit status 0"
else
    FAIL=$((FAIL + 1)); echo "FAIL shutdown: SIGTERM stops swregistry with exit status 0"
    tail -n 30 "$WORK/logs/check-$(printf '%02d' "$CHECK_NO").log" | sed 's/^/    | /'
fi

summary
[ "$FAIL" -eq 0 ]
