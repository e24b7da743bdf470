#!/usr/bin/env bash
# Prepares the build context of deploy/Containerfile from binaries built on this machine, so that the image is
# built FROM scratch with nothing pulled from a registry: the swregistry binary, every shared library ldd reports
# for it (glibc, OpenSSL, libcrypt, the Swift runtime from /opt/swift unless it was linked with
# --static-swift-stdlib) and its dynamic loader, busybox's wget for the healthcheck, CA certificates, a passwd and
# group naming the non-root user, and the default configuration.
#
# Usage: deploy/container-context.sh SWREGISTRY_BINARY CONTEXT_DIR
#   SWREGISTRY_BINARY  the release build for real use ($(swift build -c release --show-bin-path)/swregistry),
#                      or the debug build (faster to make, larger image)
#   CONTEXT_DIR        created (it must not exist or be empty); then:
#                      buildah build --format docker -f deploy/Containerfile -t swregistry CONTEXT_DIR
#
# Needs: ldd (libc-bin), busybox-static, ca-certificates. Any user may run it: COPY keeps the context's modes,
# and the Containerfile gives every file to root but the volume's folder, which it gives to the server's user.
set -euo pipefail

die() { echo "container-context.sh: $*" >&2; exit 1; }

[ $# -eq 2 ] || die "usage: deploy/container-context.sh SWREGISTRY_BINARY CONTEXT_DIR"
binary=$1
context=$2
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# The uid and gid the server runs as; deploy/Containerfile and deploy/kubernetes/statefulset.yaml name them too.
uid=65532
gid=65532

[ -f "$binary" ] && [ -x "$binary" ] || die "$binary: not an executable file"
busybox=$(command -v busybox || true)
[ -n "$busybox" ] || die "busybox not found (Debian: apt-get install busybox-static)"
# A static busybox, or the healthcheck would need libraries of its own.
if ldd "$busybox" >/dev/null 2>&1; then die "$busybox is dynamically linked: install busybox-static"; fi
cas=/etc/ssl/certs/ca-certificates.crt
[ -f "$cas" ] || die "$cas not found (Debian: apt-get install ca-certificates)"
if [ -e "$context" ] && [ -n "$(ls -A "$context")" ]; then die "$context exists and is not empty"; fi

rootfs="$context/rootfs"
mkdir -p "$rootfs"
umask 022

# copy_file SOURCE DEST_IN_ROOTFS — the file SOURCE resolves to (symlinks followed), mode kept, parents made.
copy_file() {
    mkdir -p "$rootfs$(dirname "$2")"
    cp -L --preserve=mode "$1" "$rootfs$2"
}

copy_file "$binary" /usr/bin/swregistry

# Every library at the path the loader found it, so that the binary's RUNPATH (/opt/swift/usr/lib/swift/linux
# for the Swift runtime) and the loader's default directories find them again in the image. ldd's lines are
# "name => /path (addr)", "/path (addr)" for the loader, or "linux-vdso.so.1 (addr)" with no file.
libraries=$(ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u)
[ -n "$libraries" ] || die "ldd lists no library for $binary (a static binary needs no context script)"
if ldd "$binary" | grep -q "not found"; then ldd "$binary" | grep "not found" >&2; die "libraries missing"; fi
for lib in $libraries; do copy_file "$lib" "$lib"; done

# busybox under the name wget runs only its wget applet: the healthcheck's HTTP client, no shell on the PATH.
copy_file "$busybox" /usr/libexec/swregistry/wget

copy_file "$cas" /etc/ssl/certs/ca-certificates.crt

cat >"$rootfs/etc/passwd" <<EOF
root:x:0:0:root:/root:/sbin/nologin
swregistry:x:$uid:$gid:swregistry:/var/lib/swregistry:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
EOF
cat >"$rootfs/etc/group" <<EOF
root:x:0:
swregistry:x:$gid:
nogroup:x:65534:
EOF
# Name lookups from files only: the image has no NSS modules beyond glibc's built-in ones.
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
printf '127.0.0.1 localhost\n::1 localhost\n' >"$rootfs/etc/hosts"

mkdir -p "$rootfs/etc/swregistry"
cp "$here/container.yml" "$rootfs/etc/swregistry/config.yml"
chmod 0644 "$rootfs/etc/swregistry/config.yml"

# The volume's mount point, owned by the server's user in the image (Containerfile COPY --chown): podman and
# Docker give a new named volume the ownership and mode of the image's folder, so the store starts out the
# server's and private (0700). /var/lib comes with the root-owned files, or COPY --chown would make it too.
mkdir -p "$rootfs/var/lib" "$context/volume/swregistry"
chmod 0700 "$context/volume/swregistry"

echo "context ready in $context: $(du -sh "$rootfs" | cut -f1) in $(find "$rootfs" -type f | wc -l) files"
