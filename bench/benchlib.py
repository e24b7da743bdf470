"""Shared helpers of the Python benchmarks (swcopy.py, runtime.py): release binaries, timing, a registry."""
import os
import re
import resource
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def log(msg):
    print("[bench] " + msg, file=sys.stderr, flush=True)


def release_binary(product, env_name):
    """The binary named by $env_name, else a release build of `product`."""
    if os.environ.get(env_name):
        return os.environ[env_name]
    log("building %s (swift build -c release)" % product)
    subprocess.run(["swift", "build", "-c", "release", "--product", product], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    path = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout.strip()
    return os.path.join(path, product)


def timed(cmd, shell=False):
    """Runs cmd; returns (wall seconds, CPU seconds of the child tree). Exits on failure."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    result = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, shell=shell)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        sys.exit("command failed: %s\n%s" % (cmd if shell else " ".join(cmd), result.stderr[-2000:]))
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def dir_bytes(path):
    return sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(path) for f in fs)


class Registry:
    """A swregistry on 127.0.0.1:0 over `storage`; `address` is host:port."""

    def __init__(self, binary, storage):
        self.storage = storage
        self.log = open(storage + ".log", "w")
        self.process = subprocess.Popen([binary, "serve", "--address", "127.0.0.1:0", "--storage", storage,
                                         "--log-level", "warning"], stdout=subprocess.PIPE, stderr=self.log,
                                        text=True)
        line = self.process.stdout.readline()
        match = re.search(r"listening on (127\.0\.0\.1:\d+)", line)
        if not match:
            self.process.kill()
            sys.exit("swregistry did not start: " + line)
        self.address = match.group(1)

    def stop(self, remove=True):
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()
        if remove:
            shutil.rmtree(self.storage, ignore_errors=True)


def skopeo_policy(work):
    """A permissive policy file and an empty auth file for skopeo; returns the policy path."""
    policy = os.path.join(work, "policy.json")
    with open(policy, "w") as f:
        f.write('{"default": [{"type": "insecureAcceptAnything"}]}')
    auth = os.path.join(work, "auth.json")
    with open(auth, "w") as f:
        f.write('{"auths": {}}')
    os.environ["REGISTRY_AUTH_FILE"] = auth
    return policy


def skopeo_version():
    return subprocess.run(["skopeo", "--version"], capture_output=True, text=True).stdout.split()[-1]
