#!/usr/bin/env python3
"""A round-robin HTTP/1.1 reverse proxy for the replica tests (python3 standard library only).

Each REQUEST (not each connection) goes to the next backend in turn, so that one client's POST, PATCH and PUT of an
upload land on different replicas. Bodies stream both ways in bounded pieces (Content-Length and chunked; a body is
never held whole); the client connection stays open between requests. A backend that refuses the connection gets the
client a 502 with a text body. The backend list can change while the proxy runs (kill tests): it is re-read from
--control FILE whenever that file changes, and at once on SIGHUP.

    rrproxy.py --backends 127.0.0.1:5001,127.0.0.1:5002 [--control FILE] [--port 0] [--log]

Prints the port it listens on (127.0.0.1) as the first line of standard output.
"""

import argparse
import asyncio
import os
import signal
import socket
import sys

PIECE = 64 * 1024           # bytes moved per read: the most a body ever occupies in this process, per direction
MAX_HEAD = 64 * 1024        # request or response line plus headers
CONNECT_TIMEOUT = 10        # seconds to reach a backend
IDLE_TIMEOUT = 300          # seconds a client connection may wait between requests
# RFC 9110 section 7.6.1: connection-specific fields are not forwarded.
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade", "proxy-authenticate",
              "proxy-authorization"}


class BadMessage(Exception):
    """Malformed framing: answered with 400 (from a client) or 502 (from a backend), then the connection closes."""


class Backends:
    """The current backend list and the round-robin position (one counter for every client)."""

    def __init__(self, initial, control):
        self.control = control
        self.stamp = None
        self.items = list(initial)
        self.next = 0
        if control and os.path.exists(control):
            self.reload()

    def reload(self):
        try:
            st = os.stat(self.control)
            with open(self.control) as f:
                text = f.read()
        except OSError as e:
            log(f"control file {self.control}: {e}; keeping {','.join(self.items)}")
            return
        self.stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        self.items = parse_backends(text)
        log(f"backends: {','.join(self.items) or '(none)'}")

    def pick(self):
        # A stat per request is cheap, and a kill test then needs no signal: rewrite the file (rename over it).
        if self.control:
            try:
                st = os.stat(self.control)
                if (st.st_mtime_ns, st.st_size, st.st_ino) != self.stamp:
                    self.reload()
            except OSError:
                pass
        if not self.items:
            return None
        backend = self.items[self.next % len(self.items)]
        self.next += 1
        return backend


def parse_backends(text):
    items = []
    for line in text.splitlines():
        line = line.split("#", 1)[0]
        items += [b for b in line.replace(",", " ").split() if b]
    return items


VERBOSE = False


def log(message):
    if VERBOSE:
        print(f"rrproxy: {message}", file=sys.stderr, flush=True)


class BackendStream:
    """The backend side of one exchange, on a plain non-blocking socket.

    Not asyncio's streams: there, a failed write (EPIPE when a backend answered early and closed without reading the
    rest of the body) poisons the reader, and an answer already received would be lost. Here reading and writing
    fail independently: a broken write only switches the body to discarding (the client's body is still read to its
    end, so that its next request on the connection is found), and the answer is read to its end.
    """

    def __init__(self, sock):
        self.sock = sock
        self.loop = asyncio.get_running_loop()
        self.buffer = bytearray()
        self.pending = bytearray()
        self.write_error = None

    @classmethod
    async def connect(cls, host, port):
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, (host, port)), CONNECT_TIMEOUT)
        except BaseException:
            sock.close()
            raise
        return cls(sock)

    # Reading: the subset of asyncio.StreamReader the copy functions use.
    async def fill(self):
        data = await self.loop.sock_recv(self.sock, PIECE)
        self.buffer += data
        return len(data)

    async def readuntil(self, separator):
        start = 0
        while True:
            at = self.buffer.find(separator, start)
            if at >= 0:
                line = bytes(self.buffer[: at + len(separator)])
                del self.buffer[: at + len(separator)]
                return line
            if len(self.buffer) > MAX_HEAD:
                raise asyncio.LimitOverrunError("line too long", len(self.buffer))
            start = max(0, len(self.buffer) - len(separator) + 1)
            if not await self.fill():
                raise asyncio.IncompleteReadError(bytes(self.buffer), None)

    async def readexactly(self, n):
        while len(self.buffer) < n:
            if not await self.fill():
                raise asyncio.IncompleteReadError(bytes(self.buffer), n)
        data = bytes(self.buffer[:n])
        del self.buffer[:n]
        return data

    async def read(self, n):
        if not self.buffer:
            await self.fill()
        data = bytes(self.buffer[:n])
        del self.buffer[:n]
        return data

    # Writing: the subset of asyncio.StreamWriter the copy functions use; after a failure, writes are dropped.
    def write(self, data):
        if self.write_error is None:
            self.pending += data

    async def drain(self):
        if self.write_error is not None or not self.pending:
            return
        data, self.pending = bytes(self.pending), bytearray()
        try:
            await self.loop.sock_sendall(self.sock, data)
        except OSError as e:
            self.write_error = e

    def close(self):
        self.sock.close()


async def read_head(reader):
    """Reads a start line and headers. Returns (start line, [(name, value)]) or None at a clean end of stream."""
    # A client that tries TLS first (skopeo and swcopy with tls-verify=false do, then fall back to plain HTTP) sends
    # a handshake record (0x16 ...), never a request line: it is answered at once, as a server does, rather than
    # after the client's own handshake timeout (10 s a connection) while this waits for the end of a header section.
    try:
        first = await reader.readexactly(1)
    except asyncio.IncompleteReadError:
        return None
    if not (first.isalpha() or first in b"\r\n"):
        raise BadMessage(f"not an HTTP/1.1 request (first byte {first!r}: a TLS handshake?)")
    try:
        data = first + await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as e:
        if not (first + e.partial).strip():
            return None
        raise BadMessage("truncated header section")
    except asyncio.LimitOverrunError:
        raise BadMessage("header section too large")
    lines = data[:-4].decode("latin-1").split("\r\n")
    # RFC 9112 section 2.2: a server SHOULD ignore at least one empty line before the request line.
    while lines and lines[0] == "":
        lines.pop(0)
    if not lines:
        raise BadMessage("empty header section")
    headers = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise BadMessage(f"malformed header line {line!r}")
        headers.append((name, value.strip()))
    return lines[0], headers


def header(headers, name):
    values = [v for n, v in headers if n.lower() == name]
    return ", ".join(values) if values else None


def framing(headers):
    """('chunked', None), ('length', n) or ('none', None) from the message's headers (RFC 9112 section 6.3)."""
    te = header(headers, "transfer-encoding")
    if te is not None:
        if te.lower().replace(" ", "").split(",")[-1] != "chunked":
            raise BadMessage(f"unsupported transfer-encoding {te!r}")
        return "chunked", None
    cl = header(headers, "content-length")
    if cl is not None:
        values = {v.strip() for v in cl.split(",")}
        if len(values) != 1 or not next(iter(values)).isdigit():
            raise BadMessage(f"invalid content-length {cl!r}")
        return "length", int(values.pop())
    return "none", None


async def copy_exact(reader, writer, n):
    while n > 0:
        piece = await reader.read(min(PIECE, n))
        if not piece:
            raise ConnectionError("stream ended inside a body")
        n -= len(piece)
        if writer is not None:
            writer.write(piece)
            await writer.drain()  # back-pressure: read no more than the other side takes


async def copy_chunked(reader, writer):
    """Copies a chunked body as it is (chunk lines, data, trailers), knowing where it ends."""
    def emit(data):
        if writer is not None:
            writer.write(data)
    while True:
        line = await reader.readuntil(b"\r\n")
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise BadMessage(f"invalid chunk size {size_text!r}")
        emit(line)
        if size == 0:
            while True:  # trailer section, up to its empty line
                trailer = await reader.readuntil(b"\r\n")
                emit(trailer)
                if trailer == b"\r\n":
                    if writer is not None:
                        await writer.drain()
                    return
        await copy_exact(reader, writer, size)
        crlf = await reader.readexactly(2)
        if crlf != b"\r\n":
            raise BadMessage("chunk data not followed by CRLF")
        emit(crlf)


async def copy_body(kind, length, reader, writer):
    if kind == "length":
        await copy_exact(reader, writer, length)
    elif kind == "chunked":
        await copy_chunked(reader, writer)


def render(start, headers):
    return (start + "\r\n" + "".join(f"{n}: {v}\r\n" for n, v in headers) + "\r\n").encode("latin-1")


async def send_error(writer, status, reason, text, keep_alive):
    body = (text + "\n").encode()
    writer.write(render(f"HTTP/1.1 {status} {reason}", [
        ("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))),
        ("Connection", "keep-alive" if keep_alive else "close")]) + body)
    await writer.drain()


def wants_keep_alive(version, headers):
    tokens = {t.strip().lower() for t in (header(headers, "connection") or "").split(",")}
    if version == "HTTP/1.0":
        return "keep-alive" in tokens
    return "close" not in tokens


def connection_tokens(headers):
    """Fields a Connection header names are hop-by-hop too (RFC 9110 section 7.6.1)."""
    return {t.strip().lower() for t in (header(headers, "connection") or "").split(",") if t.strip()}


async def unless_failed(upload, awaitable):
    """Awaits `awaitable`, unless the request body's copy fails first (the client went away or broke the framing):
    the backend would then wait for the rest of the body, and its answer, forever."""
    task = asyncio.ensure_future(awaitable)
    try:
        while not task.done():
            if upload.done():
                if not upload.cancelled() and upload.exception() is not None:
                    raise upload.exception()
                return await task
            await asyncio.wait({task, upload}, return_when=asyncio.FIRST_COMPLETED)
        return task.result()
    finally:
        if not task.done():
            task.cancel()


async def exchange(backends, creader, cwriter, start, headers, peer):
    """Forwards one request and its response. Returns whether the client connection stays open."""
    parts = start.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadMessage(f"malformed request line {start!r}")
    method, target, version = parts
    keep_alive = wants_keep_alive(version, headers)
    kind, length = framing(headers)

    backend = backends.pick()
    try:
        if backend is None:
            raise ConnectionError("no backends configured")
        host, _, port = backend.rpartition(":")
        backend_stream = await BackendStream.connect(host.strip("[]"), int(port))
    except (OSError, asyncio.TimeoutError, ValueError) as e:
        log(f"{method} {target} -> {backend}: unreachable ({e})")
        if "100-continue" in (header(headers, "expect") or "").lower():
            # The client waits for a go-ahead before its body: answer now and end the connection.
            keep_alive = False
        else:
            # Drain the request body so that the client's next request on this connection is read correctly.
            await copy_body(kind, length, creader, None)
        await send_error(cwriter, 502, "Bad Gateway", f"rrproxy: backend {backend} unreachable: {e}", keep_alive)
        return keep_alive

    answered = False  # whether any byte of the answer went to the client
    continued = False  # whether an interim (100 Continue) answer went to the client
    upload = None
    try:
        drop = HOP_BY_HOP | connection_tokens(headers)
        forwarded = [(n, v) for n, v in headers if n.lower() not in drop]
        # One backend connection per request: nothing stale to retry when a replica was killed between requests.
        forwarded += [("Connection", "close"), ("X-Forwarded-For", peer)]
        backend_stream.write(render(start, forwarded))
        await backend_stream.drain()
        if backend_stream.write_error is not None:
            raise backend_stream.write_error

        # The request body streams while the response is awaited: a backend may answer early (401, 413, 404) or
        # send 100 Continue first.
        upload = asyncio.ensure_future(copy_body(kind, length, creader, backend_stream))
        while True:
            head = await unless_failed(upload, read_head(backend_stream))
            if head is None:
                raise ConnectionError("backend closed the connection before answering")
            status_line, rheaders = head
            code = status_line.split(" ", 2)
            if len(code) < 2 or not code[1].isdigit():
                raise BadMessage(f"malformed status line {status_line!r}")
            status = int(code[1])
            if 100 <= status < 200 and status != 101:
                answered = continued = True
                cwriter.write(render(status_line, rheaders))  # interim responses pass through
                await cwriter.drain()
                continue
            break
        if status == 101:
            raise BadMessage("protocol upgrades are not supported")
        bodyless = method == "HEAD" or status in (204, 304)
        rkind, rlength = ("none", None) if bodyless else framing(rheaders)
        until_close = not bodyless and rkind == "none"
        expecting = "100-continue" in (header(headers, "expect") or "").lower()
        if not upload.done() and expecting and not continued:
            # A final answer instead of 100 Continue: the client may never send its body (RFC 9110 section 10.1.1),
            # so nothing tells where the next request would start.
            keep_alive = False
        keep = keep_alive and not until_close
        drop = HOP_BY_HOP | connection_tokens(rheaders)
        out = [(n, v) for n, v in rheaders if n.lower() not in drop]
        out.append(("Connection", "keep-alive" if keep else "close"))
        answered = True
        cwriter.write(render(status_line, out))
        await cwriter.drain()
        if until_close:
            while piece := await backend_stream.read(PIECE):
                cwriter.write(piece)
                await cwriter.drain()
        else:
            await copy_body(rkind, rlength, backend_stream, cwriter)
        log(f"{method} {target} -> {backend}: {status}")
        if keep and not upload.done():
            # The backend answered before the whole body arrived (e.g. 413, 401): the rest is read and dropped, so
            # that the client's next request on this connection is found where it starts.
            try:
                await asyncio.wait_for(asyncio.shield(upload), IDLE_TIMEOUT)
            except asyncio.TimeoutError:
                return False
        if upload.done() and (upload.cancelled() or upload.exception() is not None):
            return False  # the client broke off its body (as curl does after an early answer): the connection ends
        return keep
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, BadMessage) as e:
        log(f"{method} {target} -> {backend}: failed ({e!r})")
        if not answered:
            # Nothing of an answer went out: the client learns why. Otherwise only closing tells it the answer is
            # truncated (a cut body must not look complete).
            try:
                await send_error(cwriter, 502, "Bad Gateway", f"rrproxy: backend {backend} failed: {e!r}", False)
            except ConnectionError:
                pass
        return False
    finally:
        if upload is not None:
            if upload.done():
                if not upload.cancelled():
                    upload.exception()  # retrieved: asyncio would otherwise warn about it
            else:
                upload.cancel()
        backend_stream.close()


async def serve_client(backends, creader, cwriter):
    peername = cwriter.get_extra_info("peername")
    peer = peername[0] if peername else "unknown"
    try:
        while True:
            try:
                head = await asyncio.wait_for(read_head(creader), IDLE_TIMEOUT)
            except asyncio.TimeoutError:
                return
            if head is None:
                return
            start, headers = head
            if not await exchange(backends, creader, cwriter, start, headers, peer):
                return
    except BadMessage as e:
        try:
            await send_error(cwriter, 400, "Bad Request", f"rrproxy: {e}", False)
        except ConnectionError:
            pass
    except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        pass
    finally:
        cwriter.close()


async def main():
    global VERBOSE
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="", help="host:port,host:port,...")
    parser.add_argument("--control", help="file with the backend list, re-read when it changes and on SIGHUP")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--log", action="store_true", help="one line per request on standard error")
    args = parser.parse_args()
    VERBOSE = args.log
    backends = Backends(parse_backends(args.backends), args.control)
    loop = asyncio.get_running_loop()
    if args.control:
        loop.add_signal_handler(signal.SIGHUP, backends.reload)
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    server = await asyncio.start_server(lambda r, w: serve_client(backends, r, w), args.host, args.port,
                                        limit=MAX_HEAD, reuse_address=True)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await stop


if __name__ == "__main__":
    asyncio.run(main())
