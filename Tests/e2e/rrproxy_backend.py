#!/usr/bin/env python3
"""A test backend for rrproxy_selftest.sh (python3 standard library only). Prints its port, then serves HTTP/1.1:

  any method, any other path  -> 200 JSON {"backend", "method", "path", "length", "sha256", "chunked", "headers"}
                                 describing the request and its body (read as it arrives, Content-Length or chunked)
  GET /fixed/N, /chunked/N, /close/N -> N deterministic bytes with Content-Length, chunked, or ended by closing;
                                 header X-Body-Sha256 carries their SHA-256
  PUT /early                  -> 413 at once, without reading the body
  GET /empty                  -> 204

    rrproxy_backend.py NAME
"""

import hashlib
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NAME = sys.argv[1]
BLOCK = hashlib.sha256(b"rrproxy").digest() * 2048  # 64 KiB of a fixed pattern


def body_pieces(n):
    while n > 0:
        piece = BLOCK[: min(n, len(BLOCK))]
        n -= len(piece)
        yield piece


def body_sha256(n):
    h = hashlib.sha256()
    for piece in body_pieces(n):
        h.update(piece)
    return h.hexdigest()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def read_body(self):
        h = hashlib.sha256()
        length = 0
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        if chunked:
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b""):
                        pass
                    break
                left = size
                while left:
                    piece = self.rfile.read(min(left, 65536))
                    h.update(piece)
                    left -= len(piece)
                    length += len(piece)
                self.rfile.readline()
        else:
            left = int(self.headers.get("Content-Length", "0"))
            while left:
                piece = self.rfile.read(min(left, 65536))
                if not piece:
                    break
                h.update(piece)
                left -= len(piece)
                length += len(piece)
        return length, h.hexdigest(), chunked

    def generated(self, kind, n):
        self.send_response(200)
        self.send_header("X-Backend", NAME)
        self.send_header("X-Body-Sha256", body_sha256(n))
        if kind == "fixed":
            self.send_header("Content-Length", str(n))
        elif kind == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command == "HEAD":
            return
        for piece in body_pieces(n):
            if kind == "chunked":
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            else:
                self.wfile.write(piece)
        if kind == "chunked":
            self.wfile.write(b"0\r\n\r\n")

    def handle_any(self):
        parts = self.path.strip("/").split("/")
        if len(parts) == 2 and parts[0] in ("fixed", "chunked", "close") and parts[1].isdigit():
            return self.generated(parts[0], int(parts[1]))
        if self.path == "/early":
            self.send_response(413)
            self.send_header("X-Backend", NAME)
            self.send_header("Content-Length", "0")
            self.send_header("Connection", "close")
            self.close_connection = True
            self.end_headers()
            return
        if self.path == "/empty":
            self.send_response(204)
            self.send_header("X-Backend", NAME)
            self.end_headers()
            return
        length, sha, chunked = self.read_body()
        answer = json.dumps({"backend": NAME, "method": self.command, "path": self.path, "length": length,
                             "sha256": sha, "chunked": chunked,
                             "headers": {k.lower(): v for k, v in self.headers.items()}}).encode()
        self.send_response(200)
        self.send_header("X-Backend", NAME)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer)

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = handle_any


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
