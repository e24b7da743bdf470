#!/usr/bin/env python3
"""Test data for bench/registry.sh (stdlib only).

    python3 bench/make_test_data.py small DIR
        Writes a small OCI image into DIR: a config blob, four layer blobs (1 MiB, 64 KiB, 16 KiB,
        4 KiB of random bytes; the 1 MiB one is also the blob of the 1 MiB GET test) and an OCI
        image manifest referencing them. Prints one line per blob, "blob FILE DIGEST SIZE", then
        "manifest FILE DIGEST SIZE".

    python3 bench/make_test_data.py hash FILE
        Prints "sha256:HEX SECONDS" (SECONDS: the time hashlib took, which bounds how fast any
        registry that verifies digests can ingest on one core).

    python3 bench/make_test_data.py image DIR LAYERS MIB
        Writes an OCI image layout (oci-layout, index.json, blobs/sha256/...) for skopeo: LAYERS
        layers of about MIB MiB each, every one a tar holding one file of random bytes, wrapped in
        gzip with stored (level-0) deflate blocks. So the layers are real `tar+gzip` (skopeo
        sniffs the compression and would otherwise gzip them itself while pushing, which would
        measure the client's compressor), and writing them costs no compression time. Prints
        "image TOTAL_BYTES".
"""

import gzip
import hashlib
import io
import json
import os
import sys
import tarfile
import time

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def config_json(diff_ids):
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "2026-01-01T00:00:00Z",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["/bin/sh"],
            "WorkingDir": "/",
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "2026-01-01T00:00:00Z", "created_by": "bench layer %d" % i}
                    for i in range(len(diff_ids))],
    }
    return json.dumps(config, separators=(",", ":")).encode()


def manifest_json(config_desc, layer_descs):
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config_desc,
        "layers": layer_descs,
        "annotations": {"org.opencontainers.image.title": "swregistry-bench"},
    }
    return json.dumps(manifest, indent=2).encode()


def desc(media_type, data):
    return {"mediaType": media_type, "digest": "sha256:" + sha256_hex(data), "size": len(data)}


def small(out):
    os.makedirs(out, exist_ok=True)
    layers = [os.urandom(n) for n in (1 << 20, 64 << 10, 16 << 10, 4 << 10)]
    names = ["layer-1m.bin", "layer-64k.bin", "layer-16k.bin", "layer-4k.bin"]
    config = config_json(["sha256:" + sha256_hex(l) for l in layers])
    blobs = [("config.json", config)] + list(zip(names, layers))
    for name, data in blobs:
        write(os.path.join(out, name), data)
        print("blob %s sha256:%s %d" % (os.path.join(out, name), sha256_hex(data), len(data)))
    manifest = manifest_json(desc(OCI_CONFIG, config), [desc(OCI_LAYER_GZIP, l) for l in layers])
    write(os.path.join(out, "manifest.json"), manifest)
    print("manifest %s sha256:%s %d" % (os.path.join(out, "manifest.json"), sha256_hex(manifest), len(manifest)))


def hash_file(path):
    h = hashlib.sha256()
    start = time.monotonic()
    with open(path, "rb", buffering=0) as f:
        buf = bytearray(4 << 20)
        view = memoryview(buf)
        while True:
            n = f.readinto(buf)
            if not n:
                break
            h.update(view[:n])
    print("sha256:%s %.3f" % (h.hexdigest(), time.monotonic() - start))


def image(out, count, mib):
    blobs_dir = os.path.join(out, "blobs", "sha256")
    os.makedirs(blobs_dir, exist_ok=True)

    def put(data):
        write(os.path.join(blobs_dir, sha256_hex(data)), data)

    layer_descs, diff_ids, total = [], [], 0
    for i in range(count):
        payload = os.urandom(int(mib * (1 << 20)))
        tar_buf = io.BytesIO()
        with tarfile.open(fileobj=tar_buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
            info = tarfile.TarInfo("data/layer-%d.bin" % i)
            info.size = len(payload)
            info.mtime = 1767225600
            tar.addfile(info, io.BytesIO(payload))
        tar_bytes = tar_buf.getvalue()
        gz = gzip.compress(tar_bytes, compresslevel=0, mtime=0)
        put(gz)
        layer_descs.append(desc(OCI_LAYER_GZIP, gz))
        diff_ids.append("sha256:" + sha256_hex(tar_bytes))
        total += len(gz)
    config = config_json(diff_ids)
    put(config)
    manifest = manifest_json(desc(OCI_CONFIG, config), layer_descs)
    put(manifest)
    total += len(config) + len(manifest)
    index = {"schemaVersion": 2, "manifests": [dict(desc(OCI_MANIFEST, manifest),
                                                     annotations={"org.opencontainers.image.ref.name": "v1"})]}
    write(os.path.join(out, "index.json"), json.dumps(index).encode())
    write(os.path.join(out, "oci-layout"), b'{"imageLayoutVersion":"1.0.0"}')
    print("image %d" % total)


def main(argv):
    if len(argv) == 3 and argv[1] == "small":
        small(argv[2])
    elif len(argv) == 3 and argv[1] == "hash":
        hash_file(argv[2])
    elif len(argv) == 5 and argv[1] == "image":
        image(argv[2], int(argv[3]), float(argv[4]))
    else:
        sys.stderr.write(__doc__)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
