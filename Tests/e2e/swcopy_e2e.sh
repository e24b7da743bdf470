#!/usr/bin/env bash
# swcopy end-to-end test: the real swcopy against the real swregistry on 127.0.0.1, with skopeo as the peer.
#
# Covers every transport pair (docker://, oci:, dir:, oci-archive:), interop with skopeo in both directions
# (digests identical, each reads the other's oci:, dir: and oci-archive: output), cross-repository mounts,
# multi-platform indexes (--all and platform selection), format conversion, sync (repository and YAML, skipping
# what is already there), list-tags, inspect, delete, login/logout and clear errors with a non-zero exit.
#
# Every check prints `PASS name` or `FAIL name`; the last line is `N passed, M failed`.
#
# Environment:
#   E2E_SWREGISTRY_BIN, E2E_SWCOPY_BIN  binaries to use instead of building them
#   E2E_KEEP=1                          keep the work folder
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
E2E_NAME="swcopy e2e"
E2E_SLUG="swcopy"
# shellcheck source=lib.sh
source "$HERE/lib.sh"
e2e_setup
start_registry

if [ -n "${E2E_SWCOPY_BIN:-}" ]; then
    SWCOPY_BIN=$E2E_SWCOPY_BIN
else
    (cd "$ROOT" && swift build --product swcopy) >"$WORK/logs/build-swcopy.log" 2>&1 \
        || { tail -n 30 "$WORK/logs/build-swcopy.log"; abort "setup: swift build --product swcopy"; }
    SWCOPY_BIN="$(cd "$ROOT" && swift build --show-bin-path)/swcopy"
fi
[ -x "$SWCOPY_BIN" ] || abort "setup: swcopy binary at $SWCOPY_BIN"

# swcopy with the test's auth file and no TLS for the loopback registry.
sc() { "$SWCOPY_BIN" "$@"; }
INSECURE=(--src-tls-verify=false --dest-tls-verify=false)

# registry_digest NAME REF — the digest the registry serves for a manifest.
registry_digest() {
    curl -sfI -H 'Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json' \
        "http://$REG/v2/$1/manifests/$2" | tr -d '\r' | sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: //p'
}

# same_blobs DIR_A DIR_B — the two layouts hold the same set of blob files with the same bytes.
same_blobs() { diff <(cd "$1/blobs" && find . -type f | sort | xargs sha256sum) <(cd "$2/blobs" && find . -type f | sort | xargs sha256sum); }

L1="$WORK/layout-v1"
t_generate() {
    python3 "$HERE/make_oci_layout.py" "$L1" v1 11
    python3 "$HERE/make_oci_layout.py" "$WORK/amd" multi 12
    python3 "$HERE/make_oci_layout.py" "$WORK/arm" multi 13
    # A two-platform index over the two images, in one layout.
    python3 - "$WORK/amd" "$WORK/arm" "$WORK/multi" <<'PY'
import hashlib, json, os, shutil, sys
amd, arm, out = sys.argv[1:]
shutil.copytree(amd, out)
for root, _, files in os.walk(os.path.join(arm, "blobs")):
    for f in files:
        dst = os.path.join(out, os.path.relpath(os.path.join(root, f), arm))
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copyfile(os.path.join(root, f), dst)
def top(layout):
    return json.load(open(os.path.join(layout, "index.json")))["manifests"][0]
entries = []
for layout, arch in ((amd, "amd64"), (arm, "arm64")):
    d = dict(top(layout)); d.pop("annotations", None)
    d["platform"] = {"architecture": arch, "os": "linux"}
    entries.append(d)
index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                    "manifests": entries}, separators=(",", ":")).encode()
digest = hashlib.sha256(index).hexdigest()
open(os.path.join(out, "blobs", "sha256", digest), "wb").write(index)
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json",
           "digest": "sha256:" + digest, "size": len(index),
           "annotations": {"org.opencontainers.image.ref.name": "multi"}}]},
          open(os.path.join(out, "index.json"), "w"))
PY
    sk inspect --raw "oci:$WORK/multi:multi" | grep -q '"arm64"'
}
check "setup: deterministic layouts (one image, one two-platform index)" t_generate
V1=$(layout_digest "$L1" v1 2>/dev/null || echo none)
MULTI=$(layout_digest "$WORK/multi" multi 2>/dev/null || echo none)
AMD=$(layout_digest "$WORK/amd" multi 2>/dev/null || echo none)
ARM=$(layout_digest "$WORK/arm" multi 2>/dev/null || echo none)

t_push_pull() {
    sc copy "${INSECURE[@]}" "oci:$L1:v1" "docker://$REG/sc/img:v1"
    expect_eq "registry digest after swcopy push" "$V1" "$(registry_digest sc/img v1)"
    sc copy "${INSECURE[@]}" "docker://$REG/sc/img:v1" "oci:$WORK/pulled:v1"
    expect_eq "layout digest after swcopy pull" "$V1" "$(layout_digest "$WORK/pulled" v1)"
    same_blobs "$L1" "$WORK/pulled"
}
check "swcopy: oci: → docker:// → oci: keeps every byte and the digest" t_push_pull

t_swcopy_to_skopeo() {
    sk copy --src-tls-verify=false "docker://$REG/sc/img:v1" "oci:$WORK/sk-pulled:v1"
    expect_eq "skopeo pulls what swcopy pushed" "$V1" "$(layout_digest "$WORK/sk-pulled" v1)"
    same_blobs "$L1" "$WORK/sk-pulled"
}
check "interop: swcopy pushes, skopeo pulls, digests identical" t_swcopy_to_skopeo

t_skopeo_to_swcopy() {
    sk copy --dest-tls-verify=false "oci:$L1:v1" "docker://$REG/sk/img:v1"
    sc copy "${INSECURE[@]}" "docker://$REG/sk/img:v1" "oci:$WORK/sc-pulled:v1"
    expect_eq "swcopy pulls what skopeo pushed" "$V1" "$(layout_digest "$WORK/sc-pulled" v1)"
    same_blobs "$L1" "$WORK/sc-pulled"
}
check "interop: skopeo pushes, swcopy pulls, digests identical" t_skopeo_to_swcopy

t_layout_interop() {
    # swcopy reads skopeo's oci: output; skopeo reads swcopy's.
    sc copy "${INSECURE[@]}" "oci:$WORK/sk-pulled:v1" "docker://$REG/sc/from-skopeo-layout:v1"
    expect_eq "digest" "$V1" "$(registry_digest sc/from-skopeo-layout v1)"
    sk copy "oci:$WORK/pulled:v1" "oci:$WORK/sk-from-sc:v1"
    expect_eq "skopeo read swcopy's layout" "$V1" "$(layout_digest "$WORK/sk-from-sc" v1)"
}
check "interop: each tool reads the other's oci: layout" t_layout_interop

t_dir_interop() {
    sc copy "${INSECURE[@]}" "docker://$REG/sc/img:v1" "dir:$WORK/sc-dir"
    test -f "$WORK/sc-dir/manifest.json" && test -f "$WORK/sc-dir/version"
    sk copy "dir:$WORK/sc-dir" "oci:$WORK/sk-from-dir:v1"
    expect_eq "skopeo reads swcopy's dir:" "$V1" "$(layout_digest "$WORK/sk-from-dir" v1)"
    sk copy "oci:$L1:v1" "dir:$WORK/sk-dir"
    sc copy "${INSECURE[@]}" "dir:$WORK/sk-dir" "docker://$REG/sc/from-dir:v1"
    expect_eq "swcopy reads skopeo's dir:" "$V1" "$(registry_digest sc/from-dir v1)"
    diff <(cd "$WORK/sc-dir" && sha256sum * | sort) <(cd "$WORK/sk-dir" && sha256sum * | sort)
}
check "interop: dir: written by each tool is read by the other, files identical" t_dir_interop

t_archive_interop() {
    sc copy "${INSECURE[@]}" "docker://$REG/sc/img:v1" "oci-archive:$WORK/sc.tar:v1"
    sk copy "oci-archive:$WORK/sc.tar:v1" "oci:$WORK/sk-from-archive:v1"
    expect_eq "skopeo reads swcopy's oci-archive:" "$V1" "$(layout_digest "$WORK/sk-from-archive" v1)"
    sk copy "oci:$L1:v1" "oci-archive:$WORK/sk.tar:v1"
    sc copy "${INSECURE[@]}" "oci-archive:$WORK/sk.tar:v1" "oci:$WORK/sc-from-archive:v1"
    expect_eq "swcopy reads skopeo's oci-archive:" "$V1" "$(layout_digest "$WORK/sc-from-archive" v1)"
    ls -a "$WORK" | { ! grep -q swcopy-archive; }
}
check "interop: oci-archive: written by each tool is read by the other" t_archive_interop

t_mount() {
    sc copy "${INSECURE[@]}" "docker://$REG/sc/img:v1" "docker://$REG/sc/mounted:v1" 2>"$WORK/mount.err"
    cat "$WORK/mount.err"
    grep -q "mounted" "$WORK/mount.err"
    expect_eq "digest" "$V1" "$(registry_digest sc/mounted v1)"
}
check "registry → registry in one registry: blobs are mounted, no bytes uploaded" t_mount

t_all() {
    sc copy "${INSECURE[@]}" --all "oci:$WORK/multi:multi" "docker://$REG/sc/multi:all"
    expect_eq "index digest kept" "$MULTI" "$(registry_digest sc/multi all)"
    expect_eq "arm64 child present" "$ARM" "$(registry_digest sc/multi "$ARM")"
    sk copy --all --src-tls-verify=false "docker://$REG/sc/multi:all" "oci:$WORK/sk-multi:all"
    expect_eq "skopeo pulls the whole index" "$MULTI" "$(layout_digest "$WORK/sk-multi" all)"
}
check "--all copies a multi-platform index and every image, digests kept" t_all

t_platform() {
    sc copy "${INSECURE[@]}" --override-arch arm64 --override-os linux "docker://$REG/sc/multi:all" "oci:$WORK/arm-only:x"
    expect_eq "arm64 image selected" "$ARM" "$(layout_digest "$WORK/arm-only" x)"
    sc copy "${INSECURE[@]}" --override-arch amd64 "docker://$REG/sc/multi:all" "oci:$WORK/amd-only:x"
    expect_eq "amd64 image selected" "$AMD" "$(layout_digest "$WORK/amd-only" x)"
    ! sc copy "${INSECURE[@]}" --override-arch s390x "docker://$REG/sc/multi:all" "oci:$WORK/none:x" 2>"$WORK/none.err"
    grep -q "s390x" "$WORK/none.err"
}
check "an index resolves to one platform (--override-arch), unknown platform is a clear error" t_platform

t_format() {
    sc copy "${INSECURE[@]}" --format v2s2 "oci:$L1:v1" "docker://$REG/sc/docker:v1" 2>"$WORK/format.err"
    grep -q "digest changed" "$WORK/format.err"
    curl -sfI -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' "http://$REG/v2/sc/docker/manifests/v1" \
        | tr -d '\r' | grep -qi '^content-type: application/vnd.docker.distribution.manifest.v2+json'
    ! sc copy "${INSECURE[@]}" --format v2s2 --preserve-digests "oci:$L1:v1" "docker://$REG/sc/docker:v2"
}
check "--format v2s2 converts (and says the digest changed); --preserve-digests refuses" t_format

t_inspect() {
    sc inspect --tls-verify=false "docker://$REG/sc/img:v1" >"$WORK/inspect.json"
    python3 - "$WORK/inspect.json" "$V1" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["Digest"] == sys.argv[2], d["Digest"]
assert d["RepoTags"] == ["v1"], d["RepoTags"]
assert len(d["Layers"]) == 3 and len(d["LayersData"]) == 3
for key in ("Name", "Created", "Architecture", "Os", "Env", "Labels"):
    assert key in d, key
PY
    sc inspect --tls-verify=false --raw "docker://$REG/sc/img:v1" | sha256sum | grep -q "${V1#sha256:}"
    sc inspect --tls-verify=false --config "docker://$REG/sc/img:v1" | python3 -c 'import json,sys; assert json.load(sys.stdin)["rootfs"]["type"] == "layers"'
}
check "inspect: skopeo-style summary, --raw bytes hash to the digest, --config" t_inspect

t_tags_delete() {
    for t in a b c; do sc copy "${INSECURE[@]}" -q "oci:$L1:v1" "docker://$REG/sc/tags:$t"; done
    sc list-tags --tls-verify=false "docker://$REG/sc/tags" | python3 -c 'import json,sys; assert json.load(sys.stdin)["Tags"] == ["a","b","c"]'
    sc delete --tls-verify=false "docker://$REG/sc/tags:b"
    ! sk inspect --tls-verify=false "docker://$REG/sc/tags:a" >/dev/null 2>&1   # delete removes the manifest, as skopeo does
    expect_eq "other repositories keep the image" "$V1" "$(registry_digest sc/img v1)"
}
check "list-tags lists every tag; delete removes the manifest" t_tags_delete

t_sync() {
    for t in s1 s2 s3; do sc copy "${INSECURE[@]}" -q "oci:$L1:v1" "docker://$REG/src/app:$t"; done
    sc sync "${INSECURE[@]}" --src-repo "docker://$REG/src/app" --dst "docker://$REG/mirror" 2>"$WORK/sync1.err"
    cat "$WORK/sync1.err"
    expect_eq "s1 mirrored" "$V1" "$(registry_digest mirror/app s1)"
    expect_eq "s2 mirrored" "$V1" "$(registry_digest mirror/app s2)"
    sc sync "${INSECURE[@]}" --src-repo "docker://$REG/src/app" --dst "docker://$REG/mirror" 2>"$WORK/sync2.err"
    grep -q "3 already present" "$WORK/sync2.err"
    cat >"$WORK/sync.yaml" <<YAML
$REG:
  tls-verify: false
  images:
    src/app: ["s1"]
  images-by-tag-regex:
    src/app: ^s[2]$
YAML
    sc sync --dest-tls-verify=false --src-yaml "$WORK/sync.yaml" --dst "docker://$REG/yaml" 2>"$WORK/sync3.err"
    cat "$WORK/sync3.err"
    expect_eq "yaml: src/app:s1" "$V1" "$(registry_digest yaml/app s1)"
    expect_eq "yaml: regex-selected src/app:s2" "$V1" "$(registry_digest yaml/app s2)"
    test -z "$(registry_digest yaml/app s3)"   # neither listed nor matched
}
check "sync: a repository's tags, a YAML file, and a second run skips what is there" t_sync

t_errors() {
    local out rc=0
    out=$(sc copy "${INSECURE[@]}" "docker://$REG/sc/nothing:here" "oci:$WORK/x:y" 2>&1) || rc=$?
    echo "$out"
    [ "$rc" -ne 0 ] && [ "$(echo "$out" | wc -l)" -eq 1 ] && echo "$out" | grep -q "MANIFEST_UNKNOWN\|NAME_UNKNOWN"
    rc=0; out=$(sc copy "bogus:thing" "oci:$WORK/x:y" 2>&1) || rc=$?
    echo "$out"; [ "$rc" -ne 0 ] && echo "$out" | grep -q "unknown transport"
    test ! -e "$WORK/x/index.json"
}
check "errors: one line naming the registry's error code, non-zero exit, nothing written" t_errors

t_login() {
    sc login --tls-verify=false --authfile "$WORK/login.json" -u alice -p secret "$REG"
    python3 -c 'import json,sys,base64; d=json.load(open(sys.argv[1])); assert base64.b64decode(d["auths"][sys.argv[2]]["auth"]) == b"alice:secret"' "$WORK/login.json" "$REG"
    sc logout --authfile "$WORK/login.json" "$REG"
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert sys.argv[2] not in d.get("auths", {})' "$WORK/login.json" "$REG"
}
check "login writes auth.json the way skopeo/docker do; logout removes the entry" t_login

summary
[ "$FAIL" -eq 0 ]
