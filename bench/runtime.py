#!/usr/bin/env python3
"""swcopy prepare vs skopeo + umoci, side by side in one run (issue 5's benchmark).

    python3 bench/runtime.py         (from the repository root, as root; see bench/README.md)

For the same 8-layer image (~200 MB of gzip layers, each a tar of a few hundred files, part random, part text):
  cold     swcopy prepare --flatten docker://REG/rt/img:v1 (empty cache)  vs  skopeo copy docker://… oci: && umoci unpack
  unpack   swcopy prepare --flatten oci:LAYOUT:v1 (empty cache)          vs  umoci unpack --image LAYOUT:v1
  again    a second swcopy prepare of the same image (warm cache), --flatten and --overlay
  sibling  swcopy prepare of an image sharing all but its top layer with a cached one (how many layers unpacked)
Each timed ROUNDS times (median), order alternating. Every run writes to fresh directories, all removed at the end:
on an ext4 without a journal (this VM's disk) creating inodes just after thousands were deleted makes the kernel
scan past each recently deleted one (ext4 `recently_deleted`), which made the figures of both tools vary 2-3x.
Each timed run starts after a sync, with the page cache dropped and the inputs read back in (see timed()).
Environment: SWREGISTRY_BIN, SWCOPY_BIN, BENCH_ROUNDS (3), BENCH_LAYERS (8), BENCH_FILES (files per layer, 300),
BENCH_DIR (work folder under /var/tmp), BENCH_FS=fresh-ext4 (everything on a new loop-mounted ext4, see
fresh_filesystem()).
"""
import gzip
import hashlib
import io
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile

from benchlib import Registry, dir_bytes, log, release_binary, skopeo_policy, skopeo_version
from benchlib import timed as timed_now

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
LAYERS = int(os.environ.get("BENCH_LAYERS", "8"))
FILES = int(os.environ.get("BENCH_FILES", "300"))


def fresh_filesystem():
    """BENCH_FS=fresh-ext4: a new ext4 (mkfs defaults, with its journal) on a loop device for everything the
    benchmark writes, so that no earlier activity on the machine's disk (deleted inodes, dirty pages) weighs on
    either tool. Returns its mount point."""
    mount = tempfile.mkdtemp(prefix="runtime-bench-fs-", dir="/var/tmp")
    image = mount + ".img"
    subprocess.run(["truncate", "-s", "16G", image], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", image], check=True)
    # Direct I/O: the loop device writes to the disk itself, not into a second page-cache copy of every block.
    device = subprocess.run(["losetup", "-f", "--show", "--direct-io=on", image], check=True, capture_output=True,
                            text=True).stdout.strip()
    subprocess.run(["mount", device, mount], check=True)
    log("work folder on a fresh ext4 at %s" % mount)
    return mount


# Inputs every run reads (the layout, the registry's storage): cached before each timed run.
WARM_PATHS = []


def timed(cmd, shell=False, drop=True):
    """timed(), every run starting from the same memory state: nothing dirty (swcopy makes its cache durable with
    syncfs, which would otherwise also write back what the previous run of either tool left unwritten), the outputs
    of earlier runs dropped from the page cache (they pile up to gigabytes over a run and the reclaim slowed later
    runs), and the inputs cached."""
    os.sync()
    if not drop:  # a warm-cache scenario: its cache stays in memory
        return timed_now(cmd, shell=shell)
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("1")
    for path in WARM_PATHS:
        for root, _, files in os.walk(path):
            for name in files:
                with open(os.path.join(root, name), "rb") as f:
                    while f.read(1 << 20):
                        pass
    return timed_now(cmd, shell=shell)


def make_layer(seed):
    """A gzip tar of FILES files (sizes 1 KiB-220 KiB; 60% random bytes, the rest text), some dirs and links."""
    rng = random.Random(seed)
    buf = io.BytesIO()
    words = [b"alpha", b"beta", b"gamma", b"delta", b"config", b"value", b"layer", b"image", b"\n"]
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in range(10):
            info = tarfile.TarInfo("usr/share/l%d/d%d" % (seed, d))
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 1767225600
            tar.addfile(info)
        for i in range(FILES):
            size = rng.randint(1 << 10, 220 << 10)
            if rng.random() < 0.6:
                data = rng.randbytes(size)
            else:
                data = b" ".join(rng.choice(words) for _ in range(size // 5))[:size]
            info = tarfile.TarInfo("usr/share/l%d/d%d/f%d" % (seed, i % 10, i))
            info.size, info.mode, info.mtime = len(data), 0o644, 1767225600
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("usr/share/l%d/link" % seed)
        link.type, link.linkname, link.mtime = tarfile.SYMTYPE, "d0/f0", 1767225600
        tar.addfile(link)
    raw = buf.getvalue()
    return raw, gzip.compress(raw, compresslevel=6, mtime=0)


def make_layout(out, seeds_by_ref):
    blobs = os.path.join(out, "blobs", "sha256")
    os.makedirs(blobs, exist_ok=True)

    def put(data):
        digest = hashlib.sha256(data).hexdigest()
        with open(os.path.join(blobs, digest), "wb") as f:
            f.write(data)
        return {"digest": "sha256:" + digest, "size": len(data)}

    layers = {}
    entries = []
    for ref, seeds in seeds_by_ref.items():
        descs, diff_ids = [], []
        for seed in seeds:
            if seed not in layers:
                raw, gz = make_layer(seed)
                layers[seed] = (put(gz), "sha256:" + hashlib.sha256(raw).hexdigest())
            desc, diff_id = layers[seed]
            descs.append(dict(desc, mediaType="application/vnd.oci.image.layer.v1.tar+gzip"))
            diff_ids.append(diff_id)
        config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
                             "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
        c = dict(put(config), mediaType="application/vnd.oci.image.config.v1+json")
        manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                               "config": c, "layers": descs}).encode()
        m = dict(put(manifest), mediaType="application/vnd.oci.image.manifest.v1+json",
                 annotations={"org.opencontainers.image.ref.name": ref})
        entries.append(m)
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": entries}, f)
    with open(os.path.join(out, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')


def main():
    if os.geteuid() != 0:
        sys.exit("run as root (umoci unpack and overlay mounts need it)")
    for tool in ("skopeo", "umoci"):
        if not shutil.which(tool):
            sys.exit("%s is not installed (apt-get install -y %s)" % (tool, tool))
    swregistry = release_binary("swregistry", "SWREGISTRY_BIN")
    swcopy = release_binary("swcopy", "SWCOPY_BIN")
    fresh_fs = fresh_filesystem() if os.environ.get("BENCH_FS") == "fresh-ext4" else None
    work = os.environ.get("BENCH_DIR") or tempfile.mkdtemp(prefix="runtime-bench-", dir=fresh_fs or "/var/tmp")
    os.makedirs(work, exist_ok=True)
    policy = skopeo_policy(work)
    layout = os.path.join(work, "layout")
    log("image: %d layers of %d files" % (LAYERS, FILES))
    make_layout(layout, {"v1": list(range(1, LAYERS + 1)), "v2": list(range(1, LAYERS)) + [100]})
    image_bytes = dir_bytes(os.path.join(layout, "blobs"))
    registry = Registry(swregistry, os.path.join(work, "storage"))
    WARM_PATHS[:] = [layout, os.path.join(work, "storage")]
    reg = registry.address
    n = [0]

    def fresh(kind):
        n[0] += 1
        return os.path.join(work, "%s-%d" % (kind, n[0]))

    def sk(*args):
        return ["skopeo", "--policy", policy] + list(args)

    try:
        for ref in ("v1", "v2"):
            timed(sk("copy", "--dest-tls-verify=false", "oci:%s:%s" % (layout, ref), "docker://%s/rt/img:%s" % (reg, ref)))

        def swcopy_prepare(source, cache, bundle, mode="--flatten"):
            return [swcopy, "prepare", "-q", mode, "--tls-verify=false", "--cache-dir", cache, source, bundle]

        results = {}

        def record(name, tool, sample):
            results.setdefault((name, tool), []).append(sample)

        for r in range(ROUNDS):
            order = ("swcopy", "peer") if r % 2 == 0 else ("peer", "swcopy")
            for tool in order:
                if tool == "swcopy":
                    cache, bundle = fresh("cache"), fresh("bundle")
                    record("cold", tool, timed(swcopy_prepare("docker://%s/rt/img:v1" % reg, cache, bundle)))
                    cache, bundle = fresh("cache"), fresh("bundle")
                    record("unpack", tool, timed(swcopy_prepare("oci:%s:v1" % layout, cache, bundle)))
                else:
                    oci, bundle = fresh("oci"), fresh("umoci")
                    record("cold", tool, timed("%s && umoci unpack --image %s:v1 %s >/dev/null" % (
                        " ".join(sk("copy", "-q", "--src-tls-verify=false", "docker://%s/rt/img:v1" % reg,
                                    "oci:%s:v1" % oci)), oci, bundle), shell=True))
                    bundle = fresh("umoci")
                    record("unpack", tool, timed(["umoci", "unpack", "--image", "%s:v1" % layout, bundle]))
            log("round %d done" % (r + 1))

        # Warm cache: the same image again, then its sibling.
        cache = fresh("cache")
        timed(swcopy_prepare("docker://%s/rt/img:v1" % reg, cache, fresh("bundle")))
        for r in range(ROUNDS):
            bundle = fresh("bundle")
            record("again --flatten", "swcopy",
                   timed(swcopy_prepare("docker://%s/rt/img:v1" % reg, cache, bundle), drop=False))
            bundle = fresh("bundle")
            record("again --overlay", "swcopy",
                   timed(swcopy_prepare("docker://%s/rt/img:v1" % reg, cache, bundle, "--overlay"), drop=False))
            subprocess.run([swcopy, "cache", "rm-bundle", "--cache-dir", cache, bundle], check=True)
        bundle = fresh("bundle")
        result = subprocess.run([swcopy, "prepare", "--flatten", "--tls-verify=false", "--cache-dir", cache,
                                 "docker://%s/rt/img:v2" % reg, bundle], capture_output=True, text=True)
        unpacked = re.search(r"Unpacked (\d+) of (\d+) layers", result.stderr)
        sibling = "%s of %s layers unpacked" % unpacked.groups() if unpacked else "?: " + result.stderr[-300:]

        print()
        print("swcopy prepare vs skopeo %s + umoci; %d rounds (median); %s cores; image %.1f MiB in %d gzip layers"
              % (skopeo_version(), ROUNDS, os.cpu_count(), image_bytes / (1 << 20), LAYERS))
        print()
        print("| scenario | swcopy wall s | peer wall s | wall ratio | swcopy CPU s | peer CPU s |")
        print("|---|---:|---:|---:|---:|---:|")
        for name in ("cold", "unpack"):
            s = results[(name, "swcopy")]
            p = results[(name, "peer")]
            sw, pw = statistics.median(x for x, _ in s), statistics.median(x for x, _ in p)
            print("| %s | %.3f | %.3f | %.2fx | %.3f | %.3f |" % (
                name, sw, pw, sw / pw, statistics.median(c for _, c in s), statistics.median(c for _, c in p)))
        for name in ("again --flatten", "again --overlay"):
            s = results[(name, "swcopy")]
            print("| %s (warm cache) | %.3f | - | - | %.3f | - |" % (
                name, statistics.median(x for x, _ in s), statistics.median(c for _, c in s)))
        print()
        print("sibling image (all but the top layer cached): %s" % sibling)
        print("Targets (issue 5): cold and unpack <= 0.5x the peers' wall time; a second prepare <= 50 ms; a sibling "
              "decompresses only its new layer.")
    finally:
        registry.stop()
        if fresh_fs:
            subprocess.run("umount %s/*/bundle-*/rootfs 2>/dev/null; umount -d %s && rmdir %s && rm -f %s.img"
                           % (fresh_fs, fresh_fs, fresh_fs, fresh_fs), shell=True)
        if not os.environ.get("BENCH_DIR"):
            subprocess.run("umount %s/bundle-*/rootfs 2>/dev/null" % work, shell=True)
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
