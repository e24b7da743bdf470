#!/usr/bin/env python3
"""How long a replica over S3 + PostgreSQL can serve a tag that another replica moved (README, "What is cached").

    eval "$(bash scripts/services/postgres.sh env)" "$(bash scripts/services/ceph-rgw.sh env)"
    python3 bench/staleness.py --bin .build-bench/release/swregistry [--moves 50]

Two replicas, A and B; B reaches PostgreSQL through Tests/e2e/faultproxy.py.
  1. Notification: the tag is moved through A (a manifest PUT), and B is polled every 2 ms until it serves the new
     digest; the delay over MOVES moves (B had the old answer cached each time).
  2. A silently dropped listening connection: the proxy holds B's connections (forwards nothing, closes nothing, as a
     network that drops packets), the tag is moved through A, and B is polled: the time during which B still serves
     the old digest, and when its /readyz turns 503 — the bound the README gives (about 20 s: TCP user timeout,
     10 s heartbeat).
Prints a JSON summary on stdout.
"""
import argparse, hashlib, http.client, json, os, secrets, shutil, signal, statistics, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(__file__))
from scaleout import Registry, s3_yaml, push_blob, manifest_bytes, MT  # noqa: E402

def log(*a):
    print("[staleness]", *a, file=sys.stderr, flush=True)

def get(port, path, timeout=5):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path, headers={"Accept": MT["Content-Type"]})
        r = c.getresponse()
        return r.status, r.getheader("Docker-Content-Digest"), r.read()
    except OSError as e:
        return None, None, str(e).encode()
    finally:
        c.close()

def put_manifest(port, repo, tag, body):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("PUT", f"/v2/{repo}/manifests/{tag}", body=body, headers=MT)
    r = c.getresponse()
    r.read()
    if r.status != 201:
        raise SystemExit(f"PUT manifest through A: {r.status}")
    return "sha256:" + hashlib.sha256(body).hexdigest()

class Proxy:
    def __init__(self, target):
        here = os.path.dirname(os.path.abspath(__file__))
        self.proc = subprocess.Popen([sys.executable, os.path.join(here, "..", "Tests", "e2e", "faultproxy.py"),
                                      "--target", target], stdout=subprocess.PIPE, text=True)
        self.port, self.control = map(int, self.proc.stdout.readline().split())

    def command(self, text):
        import socket
        with socket.create_connection(("127.0.0.1", self.control)) as s:
            s.sendall((text + "\n").encode())
            answer = s.makefile().readline().strip()
        if not answer.startswith("ok"):
            raise SystemExit(f"faultproxy {text}: {answer}")
        return answer

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--moves", type=int, default=50)
    ap.add_argument("--hold-limit", type=float, default=60, help="give up the hold phase after this many seconds")
    args = ap.parse_args()
    env = dict(os.environ)
    conninfo = dict(kv.split("=", 1) for kv in env["SWREGISTRY_TEST_POSTGRES"].split())
    work = tempfile.mkdtemp(prefix="swr-stale-")
    root = f"staleness-{secrets.token_hex(4)}"
    proxy = Proxy(f"{conninfo['host']}:{conninfo['port']}")
    a = b = None
    try:
        a = Registry(args.bin, work, "a", s3_yaml(env, root, redirect=False))
        proxied = dict(env)
        proxied["SWREGISTRY_TEST_POSTGRES"] = env["SWREGISTRY_TEST_POSTGRES"].replace(
            f"port={conninfo['port']}", f"port={proxy.port}")
        b = Registry(args.bin, work, "b", s3_yaml(proxied, root, redirect=False))
        repo, tag = "stale/app", "latest"
        config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
        layer = secrets.token_bytes(512)
        cd, ld = push_blob(a.port, repo, config), push_blob(a.port, repo, layer)

        def move(note):
            return put_manifest(a.port, repo, tag, manifest_bytes(cd, len(config), ld, len(layer), note))

        # 1. Notification.
        delays = []
        for i in range(args.moves):
            old = move(f"old-{i}")
            deadline = time.time() + 10
            while get(b.port, f"/v2/{repo}/manifests/{tag}")[1] != old:  # B caches the old answer
                if time.time() > deadline:
                    raise SystemExit("B never served the old digest")
                time.sleep(0.002)
            for _ in range(3):
                get(b.port, f"/v2/{repo}/manifests/{tag}")
            new = move(f"new-{i}")
            start = time.monotonic()
            while get(b.port, f"/v2/{repo}/manifests/{tag}")[1] != new:
                if time.monotonic() - start > 30:
                    raise SystemExit("B still served the old digest 30 s after the move")
                time.sleep(0.002)
            delays.append((time.monotonic() - start) * 1000)
        delays.sort()
        notification = {"moves": len(delays), "median_ms": round(statistics.median(delays), 1),
                        "p90_ms": round(delays[int(len(delays) * 0.9) - 1], 1), "max_ms": round(delays[-1], 1)}
        log("notification:", notification)

        # 2. The listening connection silently dropped.
        old = move("before-hold")
        while get(b.port, f"/v2/{repo}/manifests/{tag}")[1] != old:
            time.sleep(0.01)
        proxy.command("hold")
        held_at = time.monotonic()
        new = move("during-hold")
        moved_at = time.monotonic()
        stale_until = ready_503_at = None
        last_stale = moved_at
        while time.monotonic() - moved_at < args.hold_limit:
            status, digest, _ = get(b.port, f"/v2/{repo}/manifests/{tag}", timeout=2)
            now = time.monotonic()
            if digest == old:
                last_stale = now
            elif stale_until is None:
                stale_until = now
            if ready_503_at is None:
                rs, _, _ = get(b.port, "/readyz", timeout=2)
                if rs == 503:
                    ready_503_at = time.monotonic()
            if stale_until is not None and ready_503_at is not None:
                break
            time.sleep(0.1)
        proxy.command("pass")
        recovered_at = None
        while time.monotonic() - moved_at < args.hold_limit * 2:
            if get(b.port, f"/v2/{repo}/manifests/{tag}", timeout=5)[1] == new and get(b.port, "/readyz")[0] == 200:
                recovered_at = time.monotonic()
                break
            time.sleep(0.1)
        silent = {"stale_for_s": round(last_stale - moved_at, 2),
                  "old_answer_stopped_after_s": None if stale_until is None else round(stale_until - moved_at, 2),
                  "readyz_503_after_s": None if ready_503_at is None else round(ready_503_at - held_at, 2),
                  "serves_new_after_release_s": None if recovered_at is None else round(recovered_at - moved_at, 2)}
        log("silent drop:", silent)
        print(json.dumps({"notification": notification, "silent_drop": silent}, indent=1))
    finally:
        for r in (a, b):
            if r:
                r.stop()
        proxy.stop()
        shutil.rmtree(work, ignore_errors=True)

if __name__ == "__main__":
    main()
