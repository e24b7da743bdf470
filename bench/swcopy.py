#!/usr/bin/env python3
"""swcopy vs skopeo, side by side in one run, against one swregistry on loopback.

    python3 bench/swcopy.py            (from the repository root; see bench/README.md)

Scenarios (issue 4's benchmark), each run ROUNDS times per tool, order alternating, median reported:
  pull   docker://REG/bench/big:v1 -> oci:NEW_DIR        (8 layers x 25 MiB, real tar+gzip)
  push   oci:LAYOUT -> docker://NEW_REG/bench/push:v1    (a fresh registry each time: every byte uploaded)
  mount  docker://REG/bench/big:v1 -> docker://REG/bench/copy-N:v1   (same registry: blobs mounted)
  tiny   docker://REG/bench/tiny:v1 -> oci:NEW_DIR       (60 layers of 1 KiB)
For each: wall seconds, CPU seconds (user+sys of the tool's process tree), the swcopy/skopeo ratio, and for
the big transfers swcopy's CPU nanoseconds per byte next to SHA-256's (OpenSSL, measured here).

Environment: SWREGISTRY_BIN, SWCOPY_BIN (default: release builds), BENCH_ROUNDS (default 5),
BENCH_LAYERS (8), BENCH_LAYER_MIB (25), BENCH_TINY_LAYERS (60), BENCH_DIR (default: a temp dir under /var/tmp),
BENCH_JOBS (swcopy --jobs, default 6).
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

from benchlib import ROOT, Registry, dir_bytes, log, release_binary, skopeo_policy, skopeo_version, timed

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
LAYERS = int(os.environ.get("BENCH_LAYERS", "8"))
LAYER_MIB = float(os.environ.get("BENCH_LAYER_MIB", "25"))
TINY = int(os.environ.get("BENCH_TINY_LAYERS", "60"))
JOBS = os.environ.get("BENCH_JOBS", "6")


def sha256_ns_per_byte(work):
    """OpenSSL's SHA-256 cost on this machine (openssl dgst over a 256 MiB file, warm cache)."""
    path = os.path.join(work, "hash.bin")
    with open(path, "wb") as f:
        f.write(os.urandom(256 << 20))
    subprocess.run(["openssl", "dgst", "-sha256", path], check=True, stdout=subprocess.DEVNULL)
    _, cpu = timed(["openssl", "dgst", "-sha256", path])
    os.unlink(path)
    return cpu * 1e9 / (256 << 20)


def main():
    swregistry = release_binary("swregistry", "SWREGISTRY_BIN")
    swcopy = release_binary("swcopy", "SWCOPY_BIN")
    if not shutil.which("skopeo"):
        sys.exit("skopeo is not installed (apt-get install -y skopeo)")
    work = os.environ.get("BENCH_DIR") or tempfile.mkdtemp(prefix="swcopy-bench-", dir="/var/tmp")
    os.makedirs(work, exist_ok=True)
    policy = skopeo_policy(work)

    log("images: %d x %g MiB, and %d tiny layers" % (LAYERS, LAYER_MIB, TINY))
    big = os.path.join(work, "big")
    tiny = os.path.join(work, "tiny")
    subprocess.run([sys.executable, os.path.join(ROOT, "bench", "make_test_data.py"), "image", big, str(LAYERS),
                    str(LAYER_MIB)], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([sys.executable, os.path.join(ROOT, "bench", "make_test_data.py"), "image", tiny, str(TINY),
                    str(1 / 1024)], check=True, stdout=subprocess.DEVNULL)
    big_bytes = dir_bytes(os.path.join(big, "blobs"))

    storage = os.path.join(work, "storage")
    server = Registry(swregistry, storage)
    reg = server.address
    log("swregistry %s on %s, storage %s" % (swregistry, reg, storage))
    push_server = [None]

    def sk(*args):
        return ["skopeo", "--policy", policy] + list(args)

    def sc(*args):
        return [swcopy] + list(args) + ["-q", "--jobs", JOBS]

    try:
        timed(sk("copy", "--dest-tls-verify=false", "oci:%s:v1" % big, "docker://%s/bench/big:v1" % reg))
        timed(sk("copy", "--dest-tls-verify=false", "oci:%s:v1" % tiny, "docker://%s/bench/tiny:v1" % reg))

        counter = [0]

        def fresh(kind):
            counter[0] += 1
            return "%s-%d" % (kind, counter[0])

        def scenario_commands(name, tool):
            n = fresh(tool)
            out = os.path.join(work, "out", n)
            os.makedirs(os.path.dirname(out), exist_ok=True)
            if name == "pull":
                args = ("copy", "--src-tls-verify=false", "docker://%s/bench/big:v1" % reg, "oci:%s:v1" % out)
            elif name == "push":
                # A registry of its own (fresh storage, new port): nothing to skip or mount, and skopeo's
                # blob-info cache knows no location there; every byte is uploaded. Started before the clock.
                target = os.path.join(work, "push-storage-" + n)
                push_server[0] = Registry(swregistry, target)
                args = ("copy", "--dest-tls-verify=false", "oci:%s:v1" % big,
                        "docker://%s/bench/push:v1" % push_server[0].address)
            elif name == "mount":
                args = ("copy", "--src-tls-verify=false", "--dest-tls-verify=false",
                        "docker://%s/bench/big:v1" % reg, "docker://%s/bench/copy-%s:v1" % (reg, n))
            else:
                args = ("copy", "--src-tls-verify=false", "docker://%s/bench/tiny:v1" % reg, "oci:%s:v1" % out)
            return (sc(*args) if tool == "swcopy" else sk(*args)), out

        def finish_push():
            if push_server[0]:
                push_server[0].stop()
                push_server[0] = None

        results = {}
        for name in ("pull", "push", "mount", "tiny"):
            for tool in ("skopeo", "swcopy"):  # warm-up: page cache, skopeo's blob-info cache
                cmd, out = scenario_commands(name, tool)
                timed(cmd)
                finish_push()
                shutil.rmtree(out, ignore_errors=True)
            for r in range(ROUNDS):
                order = ("swcopy", "skopeo") if r % 2 == 0 else ("skopeo", "swcopy")
                for tool in order:
                    cmd, out = scenario_commands(name, tool)
                    wall, cpu = timed(cmd)
                    results.setdefault((name, tool), []).append((wall, cpu))
                    finish_push()
                    shutil.rmtree(out, ignore_errors=True)
            log("%s done" % name)

        sha = sha256_ns_per_byte(work)
        print()
        print("swcopy vs skopeo %s, %d rounds (median), %s cores, jobs=%s; big image %.1f MiB in %d layers"
              % (skopeo_version(),
                 ROUNDS, os.cpu_count(), JOBS, big_bytes / (1 << 20), LAYERS))
        print()
        print("| scenario | swcopy wall s | skopeo wall s | wall ratio | swcopy CPU s | skopeo CPU s | CPU ratio | swcopy CPU ns/byte |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for name in ("pull", "push", "mount", "tiny"):
            s_wall = statistics.median(w for w, _ in results[(name, "swcopy")])
            s_cpu = statistics.median(c for _, c in results[(name, "swcopy")])
            k_wall = statistics.median(w for w, _ in results[(name, "skopeo")])
            k_cpu = statistics.median(c for _, c in results[(name, "skopeo")])
            per_byte = "%.2f" % (s_cpu * 1e9 / big_bytes) if name in ("pull", "push") else "-"
            print("| %s | %.3f | %.3f | %.2fx | %.3f | %.3f | %.2fx | %s |"
                  % (name, s_wall, k_wall, s_wall / k_wall, s_cpu, k_cpu, s_cpu / k_cpu, per_byte))
        print()
        print("SHA-256 (OpenSSL, this machine): %.2f ns/byte" % sha)
        print("Target (issue 4): wall ratio <= 0.6 in every scenario; CPU per byte close to SHA-256's.")
    finally:
        server.stop(remove=False)
        if push_server[0]:
            push_server[0].stop()
        if not os.environ.get("BENCH_DIR"):
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
