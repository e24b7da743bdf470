#!/usr/bin/env python3
"""Open N keep-alive HTTP/1.1 connections to a loopback server and hold them idle.

Each connection sends one complete `GET <path> HTTP/1.1` request (with `Host`)
and reads the complete response, so every connection is an established
keep-alive connection that did real work. The tool then prints a line starting
with `ready` on stdout and waits until it gets SIGTERM/SIGINT (or `--hold`
seconds pass). Meanwhile the caller measures the server's memory.

On exit it prints a `done` line with how many connections the server closed
while they were idle.

Stdlib only. Loopback only (127.0.0.0/8 or ::1).

Usage:
    python3 bench/idle_connections.py --port 8080 [--count 10000] [--path /v2/]

Exit status: 0 on success; 2 if not all N connections could be established
(the `ready` line is then not printed); 1 on usage errors.
"""

import argparse
import errno
import ipaddress
import os
import resource
import selectors
import signal
import socket
import sys
import time

# Connection states.
CONNECTING, READING, IDLE = 0, 1, 2

# connect() errors worth retrying (loaded accept queue, transient resets).
RETRYABLE = {
    errno.ECONNREFUSED, errno.ECONNRESET, errno.ETIMEDOUT, errno.EAGAIN,
    errno.EADDRNOTAVAIL, errno.EPIPE,
}


class ResponseError(Exception):
    pass


def raise_nofile(need):
    """Raise RLIMIT_NOFILE's soft limit to at least `need` if possible. Returns the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft >= need:
        return soft
    if hard != resource.RLIM_INFINITY and hard < need:
        try:  # Works when privileged (CAP_SYS_RESOURCE).
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, need))
            return need
        except (ValueError, OSError):
            need = hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    return need


def response_end(buf):
    """Return the length of the first complete HTTP response in buf, or None if incomplete.

    Raises ResponseError for anything that can't be a complete keep-alive response.
    """
    head_end = buf.find(b"\r\n\r\n")
    if head_end < 0:
        if len(buf) > 65536:
            raise ResponseError("response head larger than 64 KiB")
        return None
    head = bytes(buf[:head_end]).decode("latin-1")
    lines = head.split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise ResponseError("bad status line: %r" % lines[0][:100])
    status = int(parts[1])
    version = parts[0]
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise ResponseError("bad header line: %r" % line[:100])
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    conn_tokens = {t.strip().lower() for v in headers.get("connection", []) for t in v.split(",")}
    if "close" in conn_tokens or (version == "HTTP/1.0" and "keep-alive" not in conn_tokens):
        raise ResponseError("server does not keep the connection alive (status %d)" % status)
    if status < 200 or status >= 300:
        raise ResponseError("unexpected status %d" % status)
    body_start = head_end + 4
    if status == 204 or status == 304:
        return body_start
    te = ",".join(headers.get("transfer-encoding", [])).lower()
    if "chunked" in te:
        pos = body_start
        while True:
            line_end = buf.find(b"\r\n", pos)
            if line_end < 0:
                return None
            size_text = bytes(buf[pos:line_end]).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise ResponseError("bad chunk size %r" % size_text[:20])
            pos = line_end + 2
            if size == 0:
                # Trailers (if any) end with an empty line.
                trailer_end = buf.find(b"\r\n", pos)
                while trailer_end >= 0 and trailer_end != pos:
                    pos = trailer_end + 2
                    trailer_end = buf.find(b"\r\n", pos)
                if trailer_end < 0:
                    return None
                return trailer_end + 2
            if len(buf) < pos + size + 2:
                return None
            pos += size + 2
    lengths = headers.get("content-length")
    if lengths is None:
        raise ResponseError("no Content-Length and not chunked: body delimited by close")
    try:
        length = int(lengths[0])
    except ValueError:
        raise ResponseError("bad Content-Length %r" % lengths[0])
    if len(buf) < body_start + length:
        return None
    return body_start + length


class Conn:
    __slots__ = ("sock", "state", "buf", "out", "attempt")

    def __init__(self, attempt):
        self.sock = None
        self.state = CONNECTING
        self.buf = bytearray()
        self.out = b""
        self.attempt = attempt


def check_loopback(host):
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except socket.gaierror as e:
        sys.exit("error: cannot resolve %s: %s" % (host, e))
    for family, _, _, _, sockaddr in infos:
        if ipaddress.ip_address(sockaddr[0]).is_loopback:
            return family, sockaddr[0]
    sys.exit("error: %s is not a loopback address; this tool only talks to loopback" % host)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1", help="loopback address (default 127.0.0.1)")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--count", "-n", type=int, default=10000, help="connections (default 10000)")
    ap.add_argument("--path", default="/v2/", help="request path (default /v2/)")
    ap.add_argument("--parallel", type=int, default=256,
                    help="connections being set up at once (default 256); keeps the "
                         "server's accept queue from overflowing")
    ap.add_argument("--retries", type=int, default=3, help="retries per failed connection (default 3)")
    ap.add_argument("--setup-timeout", type=float, default=60.0,
                    help="seconds allowed to establish all connections (default 60)")
    ap.add_argument("--hold", type=float, default=0.0,
                    help="seconds to hold after ready; 0 = until SIGTERM/SIGINT (default)")
    args = ap.parse_args()
    if args.count < 1 or args.parallel < 1:
        ap.error("--count and --parallel must be positive")

    family, addr = check_loopback(args.host)
    limit = raise_nofile(args.count + 64)
    if limit < args.count + 16:
        print("error: RLIMIT_NOFILE is %d, too low for %d connections" % (limit, args.count),
              file=sys.stderr)
        return 2

    stop = [False]

    def on_signal(signum, frame):
        stop[0] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    host_header = ("[%s]" % args.host if ":" in args.host else args.host) + ":%d" % args.port
    request = ("GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: swregistry-bench-idle/1\r\n"
               "Accept: */*\r\n\r\n" % (args.path, host_header)).encode("ascii")

    sel = selectors.DefaultSelector()
    idle = []               # established sockets that completed their request
    to_start = args.count   # connections not yet started (fresh ones)
    retry_queue = []        # attempts numbers of connections to retry
    active = 0
    failures = 0
    last_error = None
    started_at = time.monotonic()
    deadline = started_at + args.setup_timeout

    def start(attempt):
        nonlocal active
        c = Conn(attempt)
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setblocking(False)
        c.sock = s
        c.out = request
        err = s.connect_ex((addr, args.port))
        if err not in (0, errno.EINPROGRESS):
            s.close()
            fail(c, OSError(err, os.strerror(err)), registered=False)
            return
        sel.register(s, selectors.EVENT_WRITE, c)
        active += 1

    def fail(c, exc, registered=True):
        nonlocal active, failures, last_error
        if registered:
            sel.unregister(c.sock)
            c.sock.close()
            active -= 1
        last_error = "%s: %s" % (type(exc).__name__, exc)
        retryable = isinstance(exc, OSError) and exc.errno in RETRYABLE
        if retryable and c.attempt < args.retries:
            retry_queue.append(c.attempt + 1)
        else:
            failures += 1

    while len(idle) + failures < args.count:
        if stop[0]:
            print("interrupted during setup", file=sys.stderr)
            return 2
        while active < args.parallel and (to_start > 0 or retry_queue):
            if retry_queue:
                start(retry_queue.pop())
            else:
                to_start -= 1
                start(0)
        if len(idle) + failures >= args.count:
            break
        now = time.monotonic()
        if now > deadline:
            print("error: setup timed out after %.1fs: %d established, %d in progress, %d failed"
                  % (args.setup_timeout, len(idle), active, failures), file=sys.stderr)
            return 2
        for key, _ in sel.select(timeout=min(1.0, deadline - now)):
            c = key.data
            s = c.sock
            try:
                if c.state == CONNECTING:
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        raise OSError(err, os.strerror(err))
                    while c.out:
                        n = s.send(c.out)
                        c.out = c.out[n:]
                    c.state = READING
                    sel.modify(s, selectors.EVENT_READ, c)
                elif c.state == READING:
                    data = s.recv(65536)
                    if not data:
                        raise ResponseError("connection closed before full response")
                    c.buf += data
                    end = response_end(c.buf)
                    if end is not None:
                        if end != len(c.buf):
                            raise ResponseError("%d unexpected bytes after response" % (len(c.buf) - end))
                        sel.unregister(s)
                        active -= 1
                        c.state = IDLE
                        c.buf = None
                        idle.append(s)
            except BlockingIOError:
                # Partial send: wait for writability again.
                continue
            except (OSError, ResponseError) as e:
                fail(c, e)

    if failures:
        print("error: %d of %d connections failed (last: %s)" % (failures, args.count, last_error),
              file=sys.stderr)
        for s in idle:
            s.close()
        return 2

    setup = time.monotonic() - started_at
    sel.close()
    print("ready established=%d setup_seconds=%.2f" % (len(idle), setup), flush=True)

    # Hold: watch for the server closing idle connections (readable = EOF or data).
    watch = selectors.DefaultSelector()
    for s in idle:
        watch.register(s, selectors.EVENT_READ)
    closed = 0
    unexpected = 0
    hold_until = time.monotonic() + args.hold if args.hold > 0 else None
    while not stop[0] and (hold_until is None or time.monotonic() < hold_until):
        for key, _ in watch.select(timeout=0.5):
            s = key.fileobj
            try:
                data = s.recv(65536)
            except OSError:
                data = b""
            if data:
                unexpected += 1
            else:
                closed += 1
                watch.unregister(s)
        if closed == len(idle):
            break
    watch.close()
    print("done established=%d closed_by_server=%d unexpected_data=%d held_seconds=%.1f"
          % (len(idle), closed, unexpected, time.monotonic() - started_at - setup), flush=True)
    for s in idle:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
