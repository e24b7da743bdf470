#!/usr/bin/env python3
"""Soak test: swregistry under mixed load and injected faults, then its invariants checked (issue 14).

    python3 bench/soak.py --bin .build-bench/release/swregistry [--minutes 10] [--clients 8] [--idle 10000]
    python3 bench/soak.py --bin … --short            # CI: about 90 s, 2,000 idle connections

Everything on 127.0.0.1. The store lives on a small ext4 filesystem made for the run (a loop-mounted image, so that
"disk full" is real); without root, a plain folder and no full-disk phase.

Load: CLIENTS processes, each with its own repository (so that the expected state is exact), each looping over
  push (1-3 random layers of 1 KiB-1 MiB, monolithic or chunked upload, a config, a manifest under one of 5 tags),
  pull (manifest by tag, its digest checked against the model, every blob re-hashed),
  tag move (an existing manifest PUT under another tag), tag delete, manifest delete, and a cross-repository mount.
Faults, one at a time, while the load runs:
  kill -9 of the server at random instants (restarted at once on the same port);
  disk full (a filler file takes every free block for a while, then goes);
  IDLE idle keep-alive connections held open (bench/idle_connections.py) and slowloris clients that send a header
  byte per second (the server must close them at its header timeout);
  `swregistry gc --grace 10s` through the control socket (deleted manifests' blobs go while pushes go on).
Invariants, after a last kill -9 and restart:
  every tag resolves to what the model allows (an acknowledged change is there; one whose answer was lost to a kill
  may or may not be); every manifest acknowledged and not deleted is there byte for byte, and every blob it names
  re-hashes to its digest; `swregistry verify` (offline) finds nothing damaged: no partial blob, no dangling link,
  tag or referrer; the server's descriptors come back to their baseline after the idle and slowloris phase.
Prints a JSON summary on stdout (the figures for RELIABILITY.md); exit status 1 when an invariant failed.
"""
import argparse, hashlib, http.client, json, multiprocessing, os, random, resource, shutil, signal, socket
import subprocess, sys, tempfile, threading, time

def log(*a):
    print("[soak]", *a, file=sys.stderr, flush=True)

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
# A crash prints its backtrace into server.log (a release binary links the standard library statically).
_TRACER = next((p for p in ("/opt/swift/usr/libexec/swift/linux/swift-backtrace-static",
                            "/usr/libexec/swift/linux/swift-backtrace-static") if os.path.exists(p)), None)
BACKTRACE = "enable=yes,interactive=no" + (f",swift-backtrace={_TRACER}" if _TRACER else "")
TAGS = [f"t{i}" for i in range(5)]

class Server:
    def __init__(self, binary, store, port, workdir):
        self.binary, self.store, self.port, self.workdir = binary, store, port, workdir
        self.proc = None
        self.starts = 0

    def start(self):
        logf = open(os.path.join(self.workdir, "server.log"), "a")
        self.proc = subprocess.Popen([self.binary, "serve", "--address", f"127.0.0.1:{self.port}", "--storage",
                                      self.store, "--log-level", "warning", "--header-timeout", "5s",
                                      "--max-connections", "20000", "--upload-idle-timeout", "30s"],
                                     stdout=logf, stderr=logf,
                                     env=dict(os.environ, SWIFT_BACKTRACE=BACKTRACE))
        self.starts += 1
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"swregistry exited at start ({self.proc.returncode}): see {self.workdir}/server.log")
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", "/v2/")
                if c.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise SystemExit("swregistry not ready in 60 s")

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def fds(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

# --- one client ----------------------------------------------------------------------------------------------------

class Lost(Exception):
    """The answer never came (the server was killed, or the connection broke): the change may or may not be made."""

ERROR_SAMPLES = []  # the first server errors a worker saw, for the report

class Client:
    def __init__(self, port):
        self.port = port
        self.conn = None

    def request(self, method, path, body=None, headers=None):
        for _ in range(2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                self.conn.request(method, path, body=body, headers=headers or {})
                r = self.conn.getresponse()
                data = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                if r.status >= 500 and len(ERROR_SAMPLES) < 5:
                    ERROR_SAMPLES.append(f"{method} {path.split('?')[0]}: {r.status} {data[:300]!r}")
                return r.status, r.getheader("Location"), r.getheader("Docker-Content-Digest"), data
            except (OSError, http.client.HTTPException):
                if self.conn:
                    self.conn.close()
                self.conn = None
                if method in ("GET", "HEAD"):
                    time.sleep(0.2)
                    continue
                raise Lost()
        raise Lost()

    def upload(self, repo, blob, chunked):
        status, loc = self._upload(repo, blob, chunked)
        if status not in (201, None) and loc:
            # A session that failed is cancelled, as a well-behaved client does (else it counts against the
            # client's sessions until it expires).
            try:
                self.request("DELETE", loc)
            except Lost:
                pass
        return status

    def _upload(self, repo, blob, chunked):
        digest = "sha256:" + hashlib.sha256(blob).hexdigest()
        status, loc, _, body = self.request("POST", f"/v2/{repo}/blobs/uploads/")
        if status != 202:
            return status, None
        loc = "/" + loc.split("/", 3)[3] if loc.startswith("http") else loc
        if chunked and len(blob) > 1:
            half = len(blob) // 2
            for start, part in ((0, blob[:half]), (half, blob[half:])):
                status, loc2, _, _ = self.request("PATCH", loc, part, {
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"{start}-{start + len(part) - 1}", "Content-Length": str(len(part))})
                if status != 202:
                    return status, loc
                loc = "/" + loc2.split("/", 3)[3] if loc2.startswith("http") else loc2
            blob_body = b""
        else:
            blob_body = blob
        sep = "&" if "?" in loc else "?"
        status, _, _, _ = self.request("PUT", f"{loc}{sep}digest={digest}", blob_body,
                                       {"Content-Type": "application/octet-stream"})
        return status, loc

def worker(index, port, seconds, seed, out_path, stop_at):
    rng = random.Random(seed)
    c = Client(port)
    repo = f"soak/w{index}"
    # The model: tag → the set of digests it may point to (None: absent); manifest digest → (bytes, layer digests,
    # state) with state "present", "absent" or "unknown".
    tags = {t: {None} for t in TAGS}
    manifests = {}
    stats = {"ops": 0, "acknowledged": 0, "lost": 0, "refused": {}, "pull_checks": 0, "blob_bytes": 0, "violations": []}

    def refused(status):
        key = f"{op} {status}"
        stats["refused"][key] = stats["refused"].get(key, 0) + 1

    def violation(text):
        stats["violations"].append(text)

    while time.time() < stop_at:
        op = rng.choices(["push", "pull", "move", "untag", "delete", "mount"], [40, 35, 10, 6, 4, 5])[0]
        stats["ops"] += 1
        try:
            if op == "push":
                layers = [os.urandom(rng.choice([1024, 4096, 65536, 1 << 20])) for _ in range(rng.randint(1, 3))]
                config = json.dumps({"architecture": "amd64", "os": "linux", "seed": rng.random()}).encode()
                ok = True
                for blob in layers + [config]:
                    status = c.upload(repo, blob, chunked=rng.random() < 0.3)
                    if status != 201:
                        refused(status)
                        ok = False
                        break
                    stats["blob_bytes"] += len(blob)
                if not ok:
                    continue
                desc = lambda b, mt: {"mediaType": mt, "digest": "sha256:" + hashlib.sha256(b).hexdigest(), "size": len(b)}
                body = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST,
                                   "config": desc(config, "application/vnd.oci.image.config.v1+json"),
                                   "layers": [desc(l, "application/vnd.oci.image.layer.v1.tar") for l in layers]}).encode()
                digest = "sha256:" + hashlib.sha256(body).hexdigest()
                tag = rng.choice(TAGS)
                names = [d["digest"] for d in json.loads(body)["layers"]] + [json.loads(body)["config"]["digest"]]
                before = set(tags[tag])
                manifests.setdefault(digest, [body.decode("latin-1"), names, "absent"])
                try:
                    status, _, _, _ = c.request("PUT", f"/v2/{repo}/manifests/{tag}", body, {"Content-Type": MANIFEST})
                except Lost:
                    stats["lost"] += 1
                    tags[tag] = before | {digest}
                    manifests[digest][2] = "unknown" if manifests[digest][2] != "present" else "present"
                    continue
                if status == 201:
                    stats["acknowledged"] += 1
                    tags[tag] = {digest}
                    manifests[digest][2] = "present"
                elif status >= 500:
                    refused(status)
                    tags[tag] = before | {digest}
                    if manifests[digest][2] != "present":
                        manifests[digest][2] = "unknown"
                else:
                    refused(status)
            elif op == "pull":
                tag = rng.choice(TAGS)
                status, _, digest, body = c.request("GET", f"/v2/{repo}/manifests/{tag}", headers={"Accept": MANIFEST})
                stats["pull_checks"] += 1
                if status == 404:
                    if None not in tags[tag]:
                        violation(f"{repo}:{tag} is gone, expected one of {sorted(map(str, tags[tag]))}")
                elif status == 200:
                    actual = "sha256:" + hashlib.sha256(body).hexdigest()
                    if actual != digest or actual not in tags[tag]:
                        violation(f"{repo}:{tag} → {actual}, expected one of {sorted(map(str, tags[tag]))}")
                    tags[tag] = {actual}  # observed: what the server holds now
                    for name in [d["digest"] for d in json.loads(body)["layers"]]:
                        s2, _, _, blob = c.request("GET", f"/v2/{repo}/blobs/{name}")
                        if s2 != 200 or "sha256:" + hashlib.sha256(blob).hexdigest() != name:
                            violation(f"{repo}@{actual}: blob {name} answered {s2} or does not re-hash")
                elif status >= 500:
                    refused(status)
                else:
                    violation(f"GET {repo}:{tag} answered {status}")
            elif op == "move":
                present = [d for d, m in manifests.items() if m[2] == "present"]
                if not present:
                    continue
                digest = rng.choice(present)
                tag = rng.choice(TAGS)
                before = set(tags[tag])
                try:
                    status, _, _, _ = c.request("PUT", f"/v2/{repo}/manifests/{tag}",
                                                manifests[digest][0].encode("latin-1"), {"Content-Type": MANIFEST})
                except Lost:
                    stats["lost"] += 1
                    tags[tag] = before | {digest}
                    continue
                if status == 201:
                    stats["acknowledged"] += 1
                    tags[tag] = {digest}
                else:
                    refused(status)
                    if status >= 500:
                        tags[tag] = before | {digest}
            elif op == "untag":
                tag = rng.choice(TAGS)
                before = set(tags[tag])
                try:
                    status, _, _, _ = c.request("DELETE", f"/v2/{repo}/manifests/{tag}")
                except Lost:
                    stats["lost"] += 1
                    tags[tag] = before | {None}
                    continue
                if status == 202:
                    stats["acknowledged"] += 1
                    tags[tag] = {None}
                elif status == 404:
                    if None not in before:
                        violation(f"DELETE {repo}:{tag} said 404, expected one of {sorted(map(str, before))}")
                    tags[tag] = {None}
                else:
                    refused(status)
                    if status >= 500:
                        tags[tag] = before | {None}
            elif op == "delete":
                present = [d for d, m in manifests.items() if m[2] == "present"]
                if not present:
                    continue
                digest = rng.choice(present)
                try:
                    status, _, _, _ = c.request("DELETE", f"/v2/{repo}/manifests/{digest}")
                except Lost:
                    stats["lost"] += 1
                    manifests[digest][2] = "unknown"
                    for t in TAGS:
                        if digest in tags[t]:
                            tags[t] = tags[t] | {None}
                    continue
                if status == 202:
                    stats["acknowledged"] += 1
                    manifests[digest][2] = "absent"
                    for t in TAGS:
                        tags[t] = {None if d == digest else d for d in tags[t]}
                else:
                    refused(status)
                    if status >= 500:
                        manifests[digest][2] = "unknown"
                        for t in TAGS:
                            if digest in tags[t]:
                                tags[t] = tags[t] | {None}
            elif op == "mount":
                present = [d for d, m in manifests.items() if m[2] == "present"]
                if not present:
                    continue
                layer = rng.choice(manifests[rng.choice(present)][1])
                status, _, _, _ = c.request("POST", f"/v2/soak/mounts{index}/blobs/uploads/?mount={layer}&from={repo}")
                if status == 201:
                    stats["acknowledged"] += 1
                elif status != 202:
                    refused(status)
        except Lost:
            stats["lost"] += 1
        except Exception as e:  # a bug of this script or an answer it cannot read: reported, not hidden
            violation(f"{op}: {type(e).__name__}: {e}")
    stats["error_samples"] = ERROR_SAMPLES
    with open(out_path, "w") as f:
        json.dump({"repo": repo, "tags": {t: sorted(v, key=str) for t, v in tags.items()},
                   "manifests": manifests, "stats": stats}, f)

# --- the check at the end ------------------------------------------------------------------------------------------

def check(port, models):
    c = Client(port)
    problems = []
    checked = {"tags": 0, "manifests": 0, "blobs": 0}
    for m in models:
        repo = m["repo"]
        for tag, allowed in m["tags"].items():
            status, _, digest, body = c.request("GET", f"/v2/{repo}/manifests/{tag}", headers={"Accept": MANIFEST})
            checked["tags"] += 1
            got = None if status == 404 else ("sha256:" + hashlib.sha256(body).hexdigest() if status == 200 else f"HTTP {status}")
            if got not in allowed:
                problems.append(f"{repo}:{tag} → {got}, expected one of {allowed}")
        for digest, (text, names, state) in m["manifests"].items():
            status, _, _, body = c.request("GET", f"/v2/{repo}/manifests/{digest}", headers={"Accept": MANIFEST})
            checked["manifests"] += 1
            if state == "present" and (status != 200 or body != text.encode("latin-1")):
                problems.append(f"{repo}@{digest}: acknowledged, answered {status}")
            elif state == "absent" and status != 404:
                problems.append(f"{repo}@{digest}: deleted (or never acknowledged), answered {status}")
            if status == 200:
                for name in names:
                    s2, _, _, blob = c.request("GET", f"/v2/{repo}/blobs/{name}")
                    checked["blobs"] += 1
                    if s2 != 200 or "sha256:" + hashlib.sha256(blob).hexdigest() != name:
                        problems.append(f"{repo}@{digest}: blob {name} answered {s2} or does not re-hash")
    return problems, checked

# --- faults --------------------------------------------------------------------------------------------------------

def slowloris(port, count, hold):
    """Opens `count` connections that send a header byte per second; returns how many the server closed in `hold` s."""
    socks = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        s.setblocking(False)
        socks.append(s)
    closed = set()
    deadline = time.time() + hold
    while time.time() < deadline and len(closed) < count:
        for i, s in enumerate(socks):
            if i in closed:
                continue
            try:
                s.send(b"a")
                data = s.recv(4096)
                if data == b"" or data.startswith(b"HTTP/1.1 408") or data.startswith(b"HTTP/1.1 4"):
                    closed.add(i)
            except BlockingIOError:
                pass
            except OSError:
                closed.add(i)
        time.sleep(1)
    for s in socks:
        s.close()
    return len(closed)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--idle", type=int, default=10000)
    ap.add_argument("--slowloris", type=int, default=50)
    ap.add_argument("--disk-mib", type=int, default=1024)
    ap.add_argument("--short", action="store_true", help="CI: 90 s, 2,000 idle connections")
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    if args.short:
        args.minutes, args.idle = 1.5, min(args.idle, 2000)
    rng = random.Random(args.seed)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.idle + 1000 > hard:
        raise SystemExit(f"--idle {args.idle} needs more descriptors than the hard limit {hard} allows")
    work = tempfile.mkdtemp(prefix="swr-soak-")
    mount = os.path.join(work, "fs")
    os.makedirs(mount)
    mounted = False
    if os.geteuid() == 0 and shutil.which("mkfs.ext4"):
        image = os.path.join(work, "disk.img")
        subprocess.run(["truncate", "-s", f"{args.disk_mib}M", image], check=True)
        subprocess.run(["mkfs.ext4", "-q", "-F", image], check=True)
        mounted = subprocess.run(["mount", "-o", "loop", image, mount]).returncode == 0
    store = os.path.join(mount, "store")
    server = Server(args.bin, store, free_port(), work)
    summary = {"seed": args.seed, "minutes": args.minutes, "clients": args.clients, "kills": 0, "gc_runs": 0,
               "disk_full_phases": 0, "idle_connections": 0, "slowloris": args.slowloris}
    failures = []
    try:
        server.start()
        baseline = {"fds": server.fds(), "rss_kib": server.rss_kib()}
        seconds = args.minutes * 60
        stop_at = time.time() + seconds
        outs = [os.path.join(work, f"model-{i}.json") for i in range(args.clients)]
        procs = [multiprocessing.Process(target=worker, args=(i, server.port, seconds, rng.random(), outs[i], stop_at))
                 for i in range(args.clients)]
        for p in procs:
            p.start()
        # The faults, in turns, until the end; each phase leaves the server running.
        phases = ["kill", "gc", "kill", "idle", "kill", "full", "kill", "gc"]
        phase_index = 0
        while time.time() < stop_at - 5:
            phase = phases[phase_index % len(phases)]
            phase_index += 1
            time.sleep(rng.uniform(2, 6))
            if time.time() >= stop_at - 5:
                break
            if server.proc.poll() is not None:
                failures.append(f"the server died by itself (exit {server.proc.returncode}) before the {phase} phase")
                server.start()
            if phase == "kill":
                server.kill9()
                summary["kills"] += 1
                server.start()
            elif phase == "gc":
                # A short grace: what deleted manifests left is collected while the pushes go on.
                r = subprocess.run([args.bin, "gc", "--storage", store, "--grace", "10s"], capture_output=True, text=True)
                summary["gc_runs"] += 1
                if r.returncode != 0:
                    failures.append(f"gc exited {r.returncode}: {r.stderr.strip()[-300:]}")
            elif phase == "full" and mounted:
                filler = os.path.join(mount, "filler")
                st = os.statvfs(mount)
                try:
                    with open(filler, "wb") as f:
                        os.posix_fallocate(f.fileno(), 0, max(st.f_bavail * st.f_frsize - (1 << 20), 1))
                        # What fallocate left: filled by writes.
                        try:
                            while True:
                                f.write(b"\0" * (1 << 20))
                                f.flush()
                        except OSError:
                            pass
                except OSError:
                    pass
                summary["disk_full_phases"] += 1
                time.sleep(rng.uniform(3, 6))
                os.unlink(filler)
            elif phase == "idle":
                fds_before, rss_before = server.fds(), server.rss_kib()
                idle = subprocess.Popen([sys.executable, os.path.join(os.path.dirname(__file__), "idle_connections.py"),
                                         "--port", str(server.port), "--count", str(args.idle), "--hold", "60"],
                                        stdout=subprocess.PIPE, text=True)
                ready = idle.stdout.readline()
                if not ready.startswith("ready"):
                    failures.append(f"idle connections: {ready.strip() or 'not established'}")
                summary["idle_connections"] = max(summary["idle_connections"], args.idle if ready.startswith("ready") else 0)
                summary["fds_with_idle"], summary["rss_kib_with_idle"] = server.fds(), server.rss_kib()
                closed = slowloris(server.port, args.slowloris, hold=15)
                summary["slowloris_closed_by_server"] = closed
                if closed < args.slowloris:
                    failures.append(f"slowloris: the server closed {closed} of {args.slowloris} within 15 s (header timeout 5 s)")
                idle.send_signal(signal.SIGTERM)
                idle.wait(30)
                time.sleep(2)
                summary["fds_before_idle"], summary["fds_after_idle"] = fds_before, server.fds()
                summary["rss_kib_before_idle"], summary["rss_kib_after_idle"] = rss_before, server.rss_kib()
                if server.fds() > fds_before + 64:
                    failures.append(f"descriptors: {server.fds()} after the idle phase, {fds_before} before")
        for p in procs:
            p.join(120)
        models = []
        for path in outs:
            with open(path) as f:
                models.append(json.load(f))
        for m in models:
            failures += [f"{m['repo']}: {v}" for v in m["stats"]["violations"]]
        summary["error_samples"] = [e for m in models for e in m["stats"]["error_samples"]][:10]
        totals = {}
        for m in models:
            for k, v in m["stats"].items():
                if isinstance(v, int):
                    totals[k] = totals.get(k, 0) + v
                elif isinstance(v, dict):
                    for k2, v2 in v.items():
                        totals.setdefault(k, {})[k2] = totals.setdefault(k, {}).get(k2, 0) + v2
        summary["load"] = totals
        # The last crash, then the check.
        server.kill9()
        summary["kills"] += 1
        server.start()
        summary["rss_kib_after_restart"] = server.rss_kib()
        problems, checked = check(server.port, models)
        summary["checked"] = checked
        failures += problems
        server.stop()
        r = subprocess.run([args.bin, "verify", "--storage", store], capture_output=True, text=True)
        summary["verify"] = (r.stdout.strip().splitlines() or [""])[-1]
        if r.returncode != 0:
            failures.append(f"verify exited {r.returncode}: {r.stdout.strip()[-500:]}")
        summary["baseline"] = baseline
        summary["server_starts"] = server.starts
    finally:
        if server.proc and server.proc.poll() is None:
            server.proc.kill()
        if mounted:
            subprocess.run(["umount", mount])
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    summary["failures"] = failures
    print(json.dumps(summary, indent=1))
    sys.exit(1 if failures else 0)

if __name__ == "__main__":
    main()
