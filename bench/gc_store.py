#!/usr/bin/env python3
"""Writes a synthetic swregistry store for the GC benchmark, straight into the on-disk layout
(Sources/BlobStore/Layout.swift): REPOS repositories with MANIFESTS image manifests each (half tagged),
each manifest with its own config and layer plus one of 100 shared base layers, and garbage older than the
grace period: ORPHANS linked-but-unreferenced layers per repository and the blobs of deleted manifests.

    python3 bench/gc_store.py ROOT [--repos 10000] [--manifests 10] [--orphans 2]

Prints one JSON line: what it wrote (blobs, bytes, links, revisions, tags, garbage)."""
import argparse, hashlib, json, os, time

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OLD = time.time() - 3 * 86400  # older than any grace period the benchmark uses


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("--repos", type=int, default=10000)
    ap.add_argument("--manifests", type=int, default=10)
    ap.add_argument("--orphans", type=int, default=2)
    a = ap.parse_args()
    root = a.root.rstrip("/")
    made_dirs = set()
    stats = dict(blobs=0, bytes=0, links=0, revisions=0, tags=0, garbage_blobs=0, garbage_bytes=0, garbage_links=0)

    def mkdirs(d):
        if d not in made_dirs:
            os.makedirs(d, mode=0o700, exist_ok=True)
            made_dirs.add(d)

    def write(path, data):
        mkdirs(os.path.dirname(path))
        with open(path, "wb") as f:
            f.write(data)
        os.utime(path, (OLD, OLD))

    def blob(data):
        h = hashlib.sha256(data).hexdigest()
        path = f"{root}/blobs/sha256/{h[:2]}/{h}"
        if not os.path.exists(path):
            write(path, data)
            stats["blobs"] += 1
            stats["bytes"] += len(data)
        return h

    def link(repo, h):
        write(f"{root}/repositories/{repo}/_layers/sha256/{h}", b"")
        stats["links"] += 1

    for d in ("blobs", "repositories", "uploads", "tmp"):
        mkdirs(f"{root}/{d}")
    bases = [blob(hashlib.sha256(b"base%d" % i).digest() * 16 + b"base%d" % i) for i in range(100)]
    # Four processes, each writing every fourth repository (file creation waits on the disk, not the CPU).
    workers = 4
    me = 0
    for w in range(1, workers):
        if os.fork() == 0:
            me = w
            for k in stats: stats[k] = 0
            break
    for r in range(me, a.repos, workers):
        repo = f"team{r % 100}/app{r}"
        base = bases[r % len(bases)]
        link(repo, base)
        for m in range(a.manifests):
            config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []},
                                 "config": {"Labels": {"repo": repo, "n": str(m)}}}).encode()
            # Eight layers per repository, shared by its manifests: 10 configs + 8 layers + 2 orphans = 20 blobs.
            layer = hashlib.sha256(f"{repo}/{m % 8}".encode()).digest() * 22
            c, l = blob(config), blob(layer)
            link(repo, c)
            link(repo, l)
            manifest = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST,
                                   "config": {"mediaType": CONFIG, "digest": "sha256:" + c, "size": len(config)},
                                   "layers": [{"mediaType": LAYER, "digest": "sha256:" + base, "size": 512 + len(b"base%d" % (r % len(bases)))},
                                              {"mediaType": LAYER, "digest": "sha256:" + l, "size": len(layer)}]},
                                  separators=(",", ":")).encode()
            mh = blob(manifest)
            write(f"{root}/repositories/{repo}/_manifests/revisions/sha256/{mh}", MANIFEST.encode())
            stats["revisions"] += 1
            if m % 2 == 0:
                write(f"{root}/repositories/{repo}/_manifests/tags/v{m}", ("sha256:" + mh).encode())
                stats["tags"] += 1
        for o in range(a.orphans):
            data = os.urandom(900) + f"orphan {repo}/{o}".encode()
            h = blob(data)
            link(repo, h)
            stats["garbage_blobs"] += 1
            stats["garbage_bytes"] += len(data)
            stats["garbage_links"] += 1
    if me != 0:
        with open(f"{root}/tmp/gen-{me}.json", "w") as f:
            json.dump(stats, f)
        os._exit(0)
    for _ in range(1, workers):
        os.wait()
    for w in range(1, workers):
        with open(f"{root}/tmp/gen-{w}.json") as f:
            for k, v in json.load(f).items(): stats[k] += v
        os.unlink(f"{root}/tmp/gen-{w}.json")
    print(json.dumps(stats))


if __name__ == "__main__":
    main()
