#!/usr/bin/env python3
"""Write a deterministic OCI image layout (image-spec v1.0.0 layout) holding one linux/amd64 image.

    make_oci_layout.py OUTPUT_DIR REF_NAME SEED

The image has three gzip-compressed tar layers, an image config and an OCI image manifest. The same
arguments always produce the same bytes on the same machine (fixed mtimes, owners and modes, sorted
entries, gzip header mtime 0 with no file name, fixed compression level; the large file comes from a
seeded PRNG):

    layer 1  "base":  etc/hostname, etc/os-release, bin/hello          same for every seed
    layer 2  "data":  data/README, data/random.bin (1 MiB + 123 bytes, seeded), data/seed
    layer 3  "app":   app/config.json, app/run.sh                        mentions the seed and ref

Layer 1 does not depend on the seed, so two layouts made with different seeds share one layer
(useful to exercise "blob already exists" and cross-repository mounts).

OUTPUT_DIR is created if missing. Blobs already there are kept; index.json is rewritten so that it
lists the new manifest under REF_NAME (`org.opencontainers.image.ref.name`) next to any other entries
whose ref name differs, so several refs can share one layout.

Prints the manifest digest on stdout. Python standard library only.
"""

import gzip
import hashlib
import io
import json
import os
import random
import sys
import tarfile

FIXED_MTIME = 1_700_000_000  # 2023-11-14T22:13:20Z
CREATED = "2023-11-14T22:13:20Z"
RANDOM_FILE_SIZE = (1 << 20) + 123

MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


def canonical_json(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def seeded_bytes(seed: str, size: int) -> bytes:
    rng = random.Random("swregistry-e2e:" + seed)
    if hasattr(rng, "randbytes"):
        return rng.randbytes(size)
    return rng.getrandbits(size * 8).to_bytes(size, "little")


def make_tar(files: dict) -> bytes:
    """files: path -> (bytes, mode). Parent directories are added; entries are sorted by path."""
    entries = {}
    for path, (data, mode) in files.items():
        parts = path.split("/")
        for i in range(1, len(parts)):
            entries.setdefault("/".join(parts[:i]), None)
        entries[path] = (data, mode)

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for path in sorted(entries):
            item = entries[path]
            info = tarfile.TarInfo(path)
            info.mtime = FIXED_MTIME
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            if item is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            else:
                data, mode = item
                info.type = tarfile.REGTYPE
                info.mode = mode
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def gzip_bytes(data: bytes) -> bytes:
    buf = io.BytesIO()
    # filename="" and mtime=0 keep the gzip header free of anything run-dependent.
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=6, mtime=0) as gz:
        gz.write(data)
    return buf.getvalue()


def write_blob(out_dir: str, data: bytes) -> dict:
    hexd = sha256_hex(data)
    directory = os.path.join(out_dir, "blobs", "sha256")
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, hexd)
    if not (os.path.exists(path) and os.path.getsize(path) == len(data)):
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    return {"digest": "sha256:" + hexd, "size": len(data)}


def layer_files(seed: str, ref: str):
    base = {
        "etc/hostname": (b"swregistry-e2e\n", 0o644),
        "etc/os-release": (b'NAME="swregistry e2e"\nID=swregistry-e2e\nVERSION_ID="1"\n', 0o644),
        "bin/hello": (b"#!/bin/sh\necho hello from the swregistry e2e image\n", 0o755),
    }
    data = {
        "data/README": (b"1 MiB of seeded pseudo-random bytes, for transfer tests.\n", 0o644),
        "data/random.bin": (seeded_bytes(seed, RANDOM_FILE_SIZE), 0o644),
        "data/seed": (seed.encode() + b"\n", 0o644),
    }
    app = {
        "app/config.json": (canonical_json({"ref": ref, "seed": seed}) + b"\n", 0o644),
        "app/run.sh": (b"#!/bin/sh\nexec /bin/hello\n", 0o755),
    }
    return [
        (base, "COPY base / # etc/hostname etc/os-release bin/hello"),
        (data, "COPY data /data # seeded random.bin"),
        (app, "COPY app /app # seed " + seed),
    ]


def build(out_dir: str, ref: str, seed: str) -> str:
    os.makedirs(out_dir, exist_ok=True)

    layers, diff_ids, history = [], [], []
    for files, created_by in layer_files(seed, ref):
        tar = make_tar(files)
        diff_ids.append("sha256:" + sha256_hex(tar))
        desc = write_blob(out_dir, gzip_bytes(tar))
        layers.append({"mediaType": MT_LAYER_GZIP, **desc})
        history.append({"created": CREATED, "created_by": created_by})

    config = {
        "created": CREATED,
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["/app/run.sh"],
            "WorkingDir": "/",
            "Labels": {"org.swregistry.e2e.seed": seed},
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    }
    config_desc = {"mediaType": MT_CONFIG, **write_blob(out_dir, canonical_json(config))}

    manifest = {
        "schemaVersion": 2,
        "mediaType": MT_MANIFEST,
        "config": config_desc,
        "layers": layers,
        "annotations": {"org.opencontainers.image.created": CREATED},
    }
    manifest_desc = write_blob(out_dir, canonical_json(manifest))

    index_path = os.path.join(out_dir, "index.json")
    others = []
    if os.path.exists(index_path):
        with open(index_path, "rb") as f:
            old = json.load(f)
        others = [m for m in old.get("manifests", [])
                  if m.get("annotations", {}).get("org.opencontainers.image.ref.name") != ref]
    entry = {
        "mediaType": MT_MANIFEST,
        **manifest_desc,
        "platform": {"architecture": "amd64", "os": "linux"},
        "annotations": {"org.opencontainers.image.ref.name": ref},
    }
    index = {"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": others + [entry]}

    with open(os.path.join(out_dir, "oci-layout"), "wb") as f:
        f.write(canonical_json({"imageLayoutVersion": "1.0.0"}))
    tmp = index_path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(canonical_json(index))
    os.replace(tmp, index_path)
    return manifest_desc["digest"]


def main(argv):
    if len(argv) != 4:
        sys.stderr.write("usage: make_oci_layout.py OUTPUT_DIR REF_NAME SEED\n")
        return 2
    _, out_dir, ref, seed = argv
    print(build(out_dir, ref, seed))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
