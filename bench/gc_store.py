#!/usr/bin/env python3
"""Generates a swregistry store for the garbage-collection benchmark, straight on disk in the store's layout
(Sources/BlobStore/Layout.swift), as a server would have left it: REPOS repositories, MANIFESTS image manifests
spread over them (each with a config and LAYERS layers, half of the layers shared across the store), a quarter of
the manifests tagged, a quarter untagged, half deleted (their links and blobs left for the collector), every file
aged two hours so that a collection with the default grace of 1 h sees it all.

    python3 bench/gc_store.py ROOT [REPOS [MANIFESTS [LAYERS]]]
    /usr/bin/time -v swregistry gc --storage ROOT --delete-untagged        # time and peak RSS

Prints what it made (repositories, manifests, blobs, and what a collection with --delete-untagged should remove).
"""
import hashlib
import json
import os
import sys
import time

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def main():
    root = sys.argv[1]
    repos = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    manifests = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
    layers_per_image = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    old = time.time() - 7200
    made_dirs = set()
    blobs = set()

    def ensure_dir(path):
        if path not in made_dirs:
            os.makedirs(path, exist_ok=True)
            made_dirs.add(path)

    def write(path, data):
        ensure_dir(os.path.dirname(path))
        with open(path, "wb") as f:
            f.write(data)
        os.utime(path, (old, old))

    def blob(data):
        digest = hashlib.sha256(data).hexdigest()
        if digest not in blobs:
            write(f"{root}/blobs/sha256/{digest[:2]}/{digest}", data)
            blobs.add(digest)
        return digest

    def descriptor(media_type, digest, size):
        return {"mediaType": media_type, "digest": "sha256:" + digest, "size": size}

    shared = [os.urandom(64) + b"shared %d" % i for i in range(max(1, manifests // 20))]
    counts = {"tagged": 0, "untagged": 0, "deleted": 0}
    for i in range(manifests):
        repo = f"{root}/repositories/bench/r{i % repos}"
        config = json.dumps({"os": "linux", "n": i}).encode()
        config_digest = blob(config)
        layers = []
        for j in range(layers_per_image):
            data = shared[(i * 7 + j) % len(shared)] if j % 2 == 0 else b"unique %d %d" % (i, j)
            layers.append((blob(data), len(data)))
        body = json.dumps({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": descriptor(OCI_CONFIG, config_digest, len(config)),
            "layers": [descriptor(OCI_LAYER, d, s) for d, s in layers],
        }).encode()
        manifest_digest = blob(body)
        for digest in [config_digest] + [d for d, _ in layers]:
            write(f"{repo}/_layers/sha256/{digest}", b"")
        kind = ["tagged", "untagged", "deleted", "deleted"][i % 4]
        counts[kind] += 1
        if kind != "deleted":
            write(f"{repo}/_manifests/revisions/sha256/{manifest_digest}", OCI_MANIFEST.encode())
        if kind == "tagged":
            write(f"{repo}/_manifests/tags/t{i}", ("sha256:" + manifest_digest).encode())
    for path in ["uploads", "tmp"]:
        ensure_dir(f"{root}/{path}")
    print(f"{repos} repositories, {manifests} manifests ({counts['tagged']} tagged, {counts['untagged']} untagged, "
          f"{counts['deleted']} deleted), {len(blobs)} blobs")


if __name__ == "__main__":
    main()
