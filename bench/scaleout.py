#!/usr/bin/env python3
"""Scale-out benchmark: swregistry over S3 (Ceph RGW) + PostgreSQL against the filesystem store and against RGW
itself, side by side in one run, as ratios (issue 13's Benchmark section).

    bash scripts/services/postgres.sh start && bash scripts/services/ceph-rgw.sh start
    eval "$(bash scripts/services/postgres.sh env)" "$(bash scripts/services/ceph-rgw.sh env)"
    python3 bench/scaleout.py --bin .build-bench/release/swregistry [--big-mib 1024] [--repos 100000] [--seconds 5]

Measures:
  1. a BIG blob (default 1 GiB) PUT and GET through one replica (streamed; and GET in redirect mode) vs the same object
     PUT and GET directly on RGW with `curl --aws-sigv4`;
  2. manifest GET by tag (wrk, 2 threads, 50 connections) on S3 + PostgreSQL vs the filesystem store;
  3. a catalog page (n=100) and a tag-list page (n=100) at REPOS repositories / REPOS tags, on both backends;
  4. mount + manifest PUT pairs per second with 8 client processes, on both backends.
Everything stays on 127.0.0.1. Progress on stderr, a Markdown table on stdout.
"""
import argparse, hashlib, http.client, json, multiprocessing, os, re, secrets, shutil, signal, socket
import subprocess, sys, tempfile, time

def log(*a):
    print(*a, file=sys.stderr, flush=True)

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

class Registry:
    """One `swregistry serve` with a YAML configuration."""
    def __init__(self, binary, workdir, name, extra_yaml):
        self.port = free_port()
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        config = os.path.join(self.dir, "config.yml")
        with open(config, "w") as f:
            f.write(f"version: 0.1\nhttp:\n  addr: 127.0.0.1:{self.port}\nlog:\n  level: warning\n"
                    + (f"storage:\n{extra_yaml}" if extra_yaml else f"storage:\n  filesystem:\n    rootdirectory: {self.dir}/store\n"))
        self.log = open(os.path.join(self.dir, "server.log"), "w")
        self.proc = subprocess.Popen([binary, "serve", "--config", config], stdout=self.log, stderr=self.log)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", "/v2/")
                if c.getresponse().status == 200:
                    return
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise SystemExit(f"{name}: swregistry exited, see {self.dir}/server.log")
            time.sleep(0.1)
        raise SystemExit(f"{name}: not ready in 30 s")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()

def s3_yaml(env, root, redirect):
    endpoint = env["SWREGISTRY_TEST_S3_ENDPOINT"]
    conninfo = dict(kv.split("=", 1) for kv in env["SWREGISTRY_TEST_POSTGRES"].split())
    return (f"  s3:\n    regionendpoint: {endpoint}\n    region: {env['SWREGISTRY_TEST_S3_REGION']}\n"
            f"    bucket: {env['SWREGISTRY_TEST_S3_BUCKET']}\n    accesskey: {env['SWREGISTRY_TEST_S3_ACCESS_KEY']}\n"
            f"    secretkey: {env['SWREGISTRY_TEST_S3_SECRET_KEY']}\n    rootdirectory: /{root}\n    forcepathstyle: true\n"
            f"  redirect:\n    disable: {'false' if redirect else 'true'}\n"
            f"database:\n  enabled: true\n  host: {conninfo['host']}\n  port: {conninfo['port']}\n"
            f"  user: {conninfo['user']}\n  password: {conninfo['password']}\n  dbname: {conninfo['dbname']}\n"
            f"  sslmode: disable\n")

def timed(cmd, stdin=None):
    start = time.monotonic()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stdin=stdin)
    return time.monotonic() - start

def request(port, method, path, body=b"", headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    if r.status >= 300:
        raise SystemExit(f"{method} {path}: {r.status} {data[:200]!r}")
    return r, data

def push_blob(port, repo, data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    request(port, "POST", f"/v2/{repo}/blobs/uploads/?digest={digest}", data,
            {"Content-Type": "application/octet-stream", "Content-Length": str(len(data))})
    return digest

def manifest_bytes(config_digest, config_size, layer_digest, layer_size, note):
    return json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": layer_size}],
        "annotations": {"note": note}}, separators=(",", ":")).encode()

MT = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}

def base_image(port):
    config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    layer = secrets.token_bytes(1024)
    cd, ld = push_blob(port, "base", config), push_blob(port, "base", layer)
    return cd, len(config), ld, len(layer)

def put_worker(args):
    """One client: mount + manifest PUT pairs into fresh repositories until the deadline; returns the count."""
    port, base, worker, deadline, limit = args
    cd, cs, ld, ls = base
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    n = 0
    while time.time() < deadline and (limit is None or n < limit):
        repo = f"r{worker:02d}/{n:07d}"
        for d in (cd, ld):
            c.request("POST", f"/v2/{repo}/blobs/uploads/?mount={d}&from=base", headers={"Content-Length": "0"})
            r = c.getresponse(); r.read()
            if r.status != 201:
                raise SystemExit(f"mount: {r.status}")
        body = manifest_bytes(cd, cs, ld, ls, f"{worker}-{n}")
        c.request("PUT", f"/v2/{repo}/manifests/latest", body=body, headers=MT)
        r = c.getresponse(); r.read()
        if r.status != 201:
            raise SystemExit(f"manifest PUT: {r.status}")
        n += 1
    return n

def put_rate(port, base, clients, seconds):
    deadline = time.time() + seconds
    with multiprocessing.Pool(clients) as pool:
        counts = pool.map(put_worker, [(port, base, 100 + w, deadline, None) for w in range(clients)])
    return sum(counts) / seconds

def fill(port, base, repos, tags, clients=8):
    """REPOS repositories (one tagged manifest each) and one repository with TAGS tags."""
    per = (repos + clients - 1) // clients
    with multiprocessing.Pool(clients) as pool:
        pool.map(put_worker, [(port, base, w, time.time() + 3600, per) for w in range(clients)])
    cd, cs, ld, ls = base
    body = manifest_bytes(cd, cs, ld, ls, "tags")
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for i in range(tags):
        c.request("PUT", f"/v2/base/manifests/t{i:07d}", body=body, headers=MT)
        r = c.getresponse(); r.read()
        if r.status != 201:
            raise SystemExit(f"tag PUT: {r.status}")

def page_ms(port, path, runs=50):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    times = []
    for _ in range(runs):
        start = time.monotonic()
        c.request("GET", path)
        r = c.getresponse(); r.read()
        times.append((time.monotonic() - start) * 1000)
    times.sort()
    return times[len(times) // 2]

def wrk_rps(port, path, seconds):
    out = subprocess.run(["wrk", "-t2", "-c50", f"-d{seconds}s", "-H",
                          "Accept: application/vnd.oci.image.manifest.v1+json", f"http://127.0.0.1:{port}{path}"],
                         check=True, capture_output=True, text=True).stdout
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--big-mib", type=int, default=1024)
    ap.add_argument("--repos", type=int, default=100000)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--skip", default="", help="comma list of: blob,get,pages,put")
    a = ap.parse_args()
    skip = set(filter(None, a.skip.split(",")))
    env = os.environ
    for k in ("SWREGISTRY_TEST_S3_ENDPOINT", "SWREGISTRY_TEST_POSTGRES"):
        if k not in env:
            raise SystemExit(f"{k} is not set: start the services and eval their env (see the docstring)")
    if shutil.which("wrk") is None:
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, stdout=subprocess.DEVNULL)
    work = tempfile.mkdtemp(prefix="swr-scaleout-")
    root = "bench-" + secrets.token_hex(4)
    # Each backend gets a database of its own, so that the PostgreSQL figures start from an empty schema.
    dbname = "swbench_" + secrets.token_hex(4)
    subprocess.run(["psql", env["SWREGISTRY_TEST_POSTGRES"], "-qc", f"CREATE DATABASE {dbname}"], check=True)
    env = dict(env)
    env["SWREGISTRY_TEST_POSTGRES"] = re.sub(r"dbname=\S+", f"dbname={dbname}", env["SWREGISTRY_TEST_POSTGRES"])
    fs = Registry(a.bin, work, "fs", "")
    s3 = Registry(a.bin, work, "s3", s3_yaml(env, root, redirect=False))
    s3r = Registry(a.bin, work, "s3redirect", s3_yaml(env, root, redirect=True))
    rows = []
    try:
        if "blob" not in skip:
            big = os.path.join(work, "big.bin")
            with open(big, "wb") as f:
                for _ in range(a.big_mib):
                    f.write(secrets.token_bytes(1 << 20))
            h = hashlib.sha256()
            with open(big, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            digest = "sha256:" + h.hexdigest()
            sig = ["--aws-sigv4", f"aws:amz:{env['SWREGISTRY_TEST_S3_REGION']}:s3", "--user",
                   f"{env['SWREGISTRY_TEST_S3_ACCESS_KEY']}:{env['SWREGISTRY_TEST_S3_SECRET_KEY']}",
                   "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD", "-sf"]
            url = f"{env['SWREGISTRY_TEST_S3_ENDPOINT']}/{env['SWREGISTRY_TEST_S3_BUCKET']}/{root}-direct/big"
            rgw_put = timed(["curl", *sig, "-T", big, url])
            rgw_get = timed(["curl", *sig, "-o", "/dev/null", url])
            # From stdin: `-T FILE` appends the file's name to a URL whose path ends with `/`. A Content-Length,
            # not chunked (the registry refuses both at once, as RFC 9112 says).
            with open(big, "rb") as body:
                reg_put = timed(["curl", "-sf", "-X", "POST", "-H", "Content-Type: application/octet-stream",
                                 "-H", "Transfer-Encoding:", "-H", f"Content-Length: {a.big_mib << 20}", "-T", "-",
                                 f"http://127.0.0.1:{s3.port}/v2/big/blobs/uploads/?digest={digest}"], stdin=body)
            reg_get = timed(["curl", "-sf", "-o", "/dev/null", f"http://127.0.0.1:{s3.port}/v2/big/blobs/{digest}"])
            red_get = timed(["curl", "-sfL", "-o", "/dev/null", f"http://127.0.0.1:{s3r.port}/v2/big/blobs/{digest}"])
            subprocess.run(["curl", *sig, "-X", "DELETE", url], check=False)
            mib = a.big_mib
            rows += [(f"{mib} MiB blob PUT, MiB/s", mib / reg_put, mib / rgw_put, "RGW direct"),
                     (f"{mib} MiB blob GET streamed, MiB/s", mib / reg_get, mib / rgw_get, "RGW direct"),
                     (f"{mib} MiB blob GET redirect (307), MiB/s", mib / red_get, mib / rgw_get, "RGW direct")]
        bases = {"fs": base_image(fs.port), "s3": base_image(s3.port)}
        if "get" not in skip:
            for name, reg in (("fs", fs), ("s3", s3)):
                cd, cs, ld, ls = bases[name]
                request(reg.port, "PUT", "/v2/base/manifests/latest", manifest_bytes(cd, cs, ld, ls, "get"), MT)
            rps = {name: wrk_rps(reg.port, "/v2/base/manifests/latest", a.seconds) for name, reg in (("fs", fs), ("s3", s3))}
            rows.append(("manifest GET by tag, requests/s", rps["s3"], rps["fs"], "filesystem store"))
        if "put" not in skip:
            rate = {name: put_rate(reg.port, bases[name], 8, a.seconds) for name, reg in (("fs", fs), ("s3", s3))}
            rows.append(("mount+manifest PUT pairs/s, 8 clients (S3+PG)", rate["s3"], None, ""))
            rows.append(("mount+manifest PUT pairs/s, 8 clients (filesystem)", rate["fs"], None, ""))
        if "pages" not in skip:
            for name, reg in (("fs", fs), ("s3", s3)):
                log(f"filling {name} with {a.repos} repositories and {a.repos} tags")
                fill(reg.port, bases[name], a.repos, a.repos)
            mid = f"r03/{a.repos // 16:07d}"
            for name, reg in (("fs", fs), ("s3", s3)):
                rows.append((f"catalog page n=100 at {a.repos} repos ({name}), ms",
                             page_ms(reg.port, f"/v2/_catalog?n=100&last={mid}"), None, ""))
                rows.append((f"tag-list page n=100 at {a.repos} tags ({name}), ms",
                             page_ms(reg.port, f"/v2/base/tags/list?n=100&last=t{a.repos // 2:07d}"), None, ""))
    finally:
        for reg in (fs, s3, s3r):
            reg.stop()
        subprocess.run(["psql", os.environ["SWREGISTRY_TEST_POSTGRES"], "-qc", f"DROP DATABASE IF EXISTS {dbname}"])
        if not os.environ.get("BENCH_KEEP_TMP"):
            shutil.rmtree(work, ignore_errors=True)
    print(f"| measure | swregistry S3+PG | peer | ratio | peer is |\n|---|---|---|---|---|")
    for what, ours, peer, peer_name in rows:
        ratio = f"{ours / peer:.2f}" if peer else ""
        peer_text = f"{peer:.1f}" if peer else ""
        print(f"| {what} | {ours:.1f} | {peer_text} | {ratio} | {peer_name} |")

if __name__ == "__main__":
    main()
