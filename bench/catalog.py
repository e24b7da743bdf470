#!/usr/bin/env python3
"""Catalog and tag-list page latency (bench/catalog.sh runs it).

  catalog.py write SW_ROOT DR_ROOT --repos N --tags N [--nested]
      writes the same repositories into a swregistry store and a docker-registry (distribution 2.8) store:
      N repositories (flat `repo-000001`, or nested `ns-0001/app-001` with --nested), and one repository,
      `big/tags`, holding N tags of one manifest.
  catalog.py measure PORT --repos N --tags N [--nested] [--requests K]
      times sequential GETs on one keep-alive connection: catalog pages of 100 (the first, one from the middle and
      one near the end, through `last`) and tag-list pages of 100 (first and middle), and prints JSON.
Loopback only.
"""
import argparse
import hashlib
import http.client
import json
import os
import statistics
import sys
import time

TAGGED = "big/tags"


def names(count, nested):
    if nested:
        per = 100
        return [f"ns-{i // per:04d}/app-{i % per:03d}" for i in range(count)]
    return [f"repo-{i:06d}" for i in range(count)]


def write(args):
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": "sha256:" + "0" * 64, "size": 2}, "layers": []}).encode()
    hexd = hashlib.sha256(manifest).hexdigest()
    digest = "sha256:" + hexd
    repos = names(args.repos, args.nested)
    sw = os.path.join(args.sw_root, "repositories")
    dr = os.path.join(args.dr_root, "docker/registry/v2/repositories")
    for name in repos:
        # A repository is a folder holding `_layers` (docker-registry's catalog looks for exactly that).
        os.makedirs(os.path.join(sw, name, "_layers"))
        os.makedirs(os.path.join(dr, name, "_layers"))
    # The tagged repository: the manifest's blob and revision, and the tags.
    blob = os.path.join(args.sw_root, "blobs/sha256", hexd[:2])
    os.makedirs(blob, exist_ok=True)
    with open(os.path.join(blob, hexd), "wb") as f:
        f.write(manifest)
    drblob = os.path.join(args.dr_root, "docker/registry/v2/blobs/sha256", hexd[:2], hexd)
    os.makedirs(drblob, exist_ok=True)
    with open(os.path.join(drblob, "data"), "wb") as f:
        f.write(manifest)
    rev = os.path.join(sw, TAGGED, "_manifests/revisions/sha256")
    os.makedirs(rev)
    with open(os.path.join(rev, hexd), "w") as f:
        f.write("application/vnd.oci.image.manifest.v1+json")
    os.makedirs(os.path.join(sw, TAGGED, "_layers"), exist_ok=True)
    drrev = os.path.join(dr, TAGGED, "_manifests/revisions/sha256", hexd)
    os.makedirs(drrev)
    with open(os.path.join(drrev, "link"), "w") as f:
        f.write(digest)
    os.makedirs(os.path.join(dr, TAGGED, "_layers"), exist_ok=True)
    tags = os.path.join(sw, TAGGED, "_manifests/tags")
    os.makedirs(tags)
    drtags = os.path.join(dr, TAGGED, "_manifests/tags")
    for i in range(args.tags):
        tag = f"v{i:06d}"
        with open(os.path.join(tags, tag), "w") as f:
            f.write(digest)
        current = os.path.join(drtags, tag, "current")
        os.makedirs(current)
        with open(os.path.join(current, "link"), "w") as f:
            f.write(digest)
    print(json.dumps({"repositories": len(repos) + 1, "tags": args.tags, "nested": args.nested}))


def measure(args):
    repos = sorted(names(args.repos, args.nested) + [TAGGED])
    tags = [f"v{i:06d}" for i in range(args.tags)]
    conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=120)
    cases = {
        "catalog-first": "/v2/_catalog?n=100",
        "catalog-middle": f"/v2/_catalog?n=100&last={repos[len(repos) // 2]}",
        "catalog-end": f"/v2/_catalog?n=100&last={repos[-150]}",
        "tags-first": f"/v2/{TAGGED}/tags/list?n=100",
        "tags-middle": f"/v2/{TAGGED}/tags/list?n=100&last={tags[len(tags) // 2]}",
    }
    result = {}
    for case, path in cases.items():
        times = []
        returned = 0
        for i in range(args.requests + 3):
            start = time.perf_counter()
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read()
            elapsed = time.perf_counter() - start
            if response.status != 200:
                sys.exit(f"{case}: {path} answered {response.status}: {body[:200]!r}")
            if i >= 3:  # the first ones warm the caches (and swregistry's listing of the folder)
                times.append(elapsed * 1000)
            doc = json.loads(body)
            returned = len(doc.get("repositories", doc.get("tags", [])) or [])
        times.sort()
        result[case] = {"median_ms": round(statistics.median(times), 3),
                        "p90_ms": round(times[int(len(times) * 0.9) - 1], 3), "returned": returned}
    print(json.dumps(result))


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("write")
    w.add_argument("sw_root")
    w.add_argument("dr_root")
    m = sub.add_parser("measure")
    m.add_argument("port", type=int)
    m.add_argument("--requests", type=int, default=50)
    for p in (w, m):
        p.add_argument("--repos", type=int, default=100000)
        p.add_argument("--tags", type=int, default=100000)
        p.add_argument("--nested", action="store_true")
    args = parser.parse_args()
    write(args) if args.command == "write" else measure(args)


if __name__ == "__main__":
    main()
