#!/usr/bin/env python3
"""Mount + manifest PUT throughput (bench/manifest_put.sh runs it).

  manifest_put.py PORT [--clients 8] [--seconds 10] [--prefix run1] [--count N]

Uploads one small blob to `src/base`, then each client (a process: no shared interpreter lock) repeats, on its own
keep-alive connection: mount the blob into a new repository `<prefix>/c<i>-<k>` (POST ?mount=&from=, 201), then PUT
a manifest naming it as config and layer, unique to the pair, tagged `latest` (201). Prints JSON: pairs, seconds,
pairs per second, and any failure. With --count, each client does exactly N pairs instead of running for --seconds.
Loopback only.
"""
import argparse
import hashlib
import http.client
import json
import multiprocessing
import os
import sys
import time


def request(conn, method, path, body=None, headers=None):
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    return response.status, response.getheader("Location"), data


def setup(port):
    blob = os.urandom(1024)
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    status, location, body = request(conn, "POST", "/v2/src/base/blobs/uploads/")
    if status != 202:
        sys.exit(f"POST upload answered {status}: {body[:200]!r}")
    if location.startswith("http"):
        location = "/" + location.split("/", 3)[3]
    sep = "&" if "?" in location else "?"
    status, _, body = request(conn, "PUT", f"{location}{sep}digest={digest}", blob,
                              {"Content-Type": "application/octet-stream"})
    if status != 201:
        sys.exit(f"PUT upload answered {status}: {body[:200]!r}")
    return digest


def client(port, index, digest, prefix, deadline, count, results):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    pairs = 0
    failure = None
    started = time.perf_counter()
    while (count and pairs < count) or (not count and time.perf_counter() < deadline):
        repo = f"{prefix}/c{index}-{pairs}"
        status, _, body = request(conn, "POST", f"/v2/{repo}/blobs/uploads/?mount={digest}&from=src/base")
        if status != 201:
            failure = f"mount answered {status}: {body[:200]!r}"
            break
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest, "size": 1024},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest, "size": 1024}],
            "annotations": {"pair": repo}}).encode()
        status, _, body = request(conn, "PUT", f"/v2/{repo}/manifests/latest", manifest,
                                  {"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
        if status != 201:
            failure = f"manifest PUT answered {status}: {body[:200]!r}"
            break
        pairs += 1
    results.put((pairs, time.perf_counter() - started, failure))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--prefix", default="bench")
    args = parser.parse_args()
    digest = setup(args.port)
    results = multiprocessing.Queue()
    deadline = time.perf_counter() + args.seconds
    started = time.perf_counter()
    workers = [multiprocessing.Process(target=client, args=(args.port, i, digest, args.prefix, deadline, args.count, results))
               for i in range(args.clients)]
    for w in workers:
        w.start()
    outcomes = [results.get() for _ in workers]
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - started
    pairs = sum(o[0] for o in outcomes)
    failures = [o[2] for o in outcomes if o[2]]
    print(json.dumps({"pairs": pairs, "seconds": round(elapsed, 3), "pairs_per_second": round(pairs / elapsed, 1),
                      "failures": failures}))
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
