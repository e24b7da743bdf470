#!/usr/bin/env python3
"""Latency of manifest GETs and of pushes against a running swregistry, in phases, for bench/gc.sh.

    python3 bench/gc_load.py PORT --repos N --manifests M --control DIR

Runs GET_THREADS keep-alive clients fetching tagged manifests of the store bench/gc_store.py wrote, and one client
pushing small images (two blobs by monolithic upload + a manifest PUT) into `bench-push/<n>`. The phase is named by
the contents of DIR/phase (e.g. "idle", "gc"); the script stops when DIR/stop exists and prints one JSON line:
per phase, the number of requests and p50/p99/max latency in ms for GETs and for whole pushes."""
import argparse, hashlib, http.client, json, os, random, threading, time


def percentile(sorted_values, p):
    if not sorted_values:
        return None
    k = min(len(sorted_values) - 1, int(round(p / 100.0 * (len(sorted_values) - 1))))
    return sorted_values[k]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--repos", type=int, required=True)
    ap.add_argument("--manifests", type=int, default=10)
    ap.add_argument("--control", required=True)
    ap.add_argument("--get-threads", type=int, default=4)
    a = ap.parse_args()
    lock = threading.Lock()
    samples = {}  # (phase, kind) -> [ms]
    errors = {}
    stop = threading.Event()

    def phase():
        try:
            with open(os.path.join(a.control, "phase")) as f:
                return f.read().strip() or "idle"
        except OSError:
            return "idle"

    def record(kind, ms, ok):
        p = phase()
        with lock:
            if ok:
                samples.setdefault((p, kind), []).append(ms)
            else:
                errors[(p, kind)] = errors.get((p, kind), 0) + 1

    def getter(seed):
        rng = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=30)
        accept = "application/vnd.oci.image.manifest.v1+json"
        while not stop.is_set():
            r = rng.randrange(a.repos)
            m = 2 * rng.randrange((a.manifests + 1) // 2)
            path = f"/v2/team{r % 100}/app{r}/manifests/v{m}"
            t = time.perf_counter()
            try:
                conn.request("GET", path, headers={"Accept": accept})
                resp = conn.getresponse()
                resp.read()
                record("get", (time.perf_counter() - t) * 1000, resp.status == 200)
            except Exception:
                record("get", 0, False)
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=30)

    def pusher():
        conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=60)
        n = 0
        while not stop.is_set():
            n += 1
            repo = f"bench-push/{n % 50}"
            config = json.dumps({"architecture": "amd64", "os": "linux", "n": n, "t": time.time()}).encode()
            layer = os.urandom(4096)
            t = time.perf_counter()
            ok = True
            try:
                for data in (config, layer):
                    digest = "sha256:" + hashlib.sha256(data).hexdigest()
                    conn.request("POST", f"/v2/{repo}/blobs/uploads/?digest={digest}", body=data,
                                 headers={"Content-Type": "application/octet-stream"})
                    resp = conn.getresponse()
                    resp.read()
                    ok = ok and resp.status == 201
                manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                                  "digest": "sha256:" + hashlib.sha256(config).hexdigest(), "size": len(config)},
                                       "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                                   "digest": "sha256:" + hashlib.sha256(layer).hexdigest(), "size": len(layer)}]}).encode()
                conn.request("PUT", f"/v2/{repo}/manifests/latest", body=manifest,
                             headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
                resp = conn.getresponse()
                resp.read()
                ok = ok and resp.status == 201
            except Exception:
                ok = False
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=60)
            record("push", (time.perf_counter() - t) * 1000, ok)

    threads = [threading.Thread(target=getter, args=(i,), daemon=True) for i in range(a.get_threads)]
    threads.append(threading.Thread(target=pusher, daemon=True))
    for t in threads:
        t.start()
    while not os.path.exists(os.path.join(a.control, "stop")):
        time.sleep(0.1)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    out = {}
    for (p, kind), values in sorted(samples.items()):
        values.sort()
        out.setdefault(p, {})[kind] = dict(n=len(values), p50=round(percentile(values, 50), 3),
                                           p99=round(percentile(values, 99), 3), max=round(values[-1], 3),
                                           errors=errors.get((p, kind), 0))
    for (p, kind), count in errors.items():
        out.setdefault(p, {}).setdefault(kind, dict(n=0, errors=count))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
