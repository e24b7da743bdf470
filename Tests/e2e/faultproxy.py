#!/usr/bin/env python3
"""A TCP fault proxy for the fault-injection tests (python3 standard library only).

Sits between a replica and a service (Ceph RGW, PostgreSQL) and forwards bytes both ways, unchanged, until told to
fail. It knows nothing of HTTP or of PostgreSQL's protocol: a fault is what the network or a stopped service does.

    faultproxy.py --target 127.0.0.1:7480 [--port 0] [--control-port 0] [--log]

Prints "PORT CONTROL_PORT" (both on 127.0.0.1) as the first line of standard output. The control port takes one
command a line and answers one line ("ok ..." or "error ..."):

    pass            forward everything (the start state); held bytes are delivered
    hold            keep every connection open but forward nothing more, either way (bytes are kept, in order);
                    new connections are accepted and held too: a service that stopped answering
    down            reset (RST) every open connection and refuse new ones (the listener closes): a stopped service
    up              listen again on the same port and forward (as pass)
    cutafter N      forward N more bytes (both directions together), then do what `down` does
    cutaftersends N forward N more pieces sent towards the service (one read from a client socket each: about one
                    statement of PostgreSQL's protocol), then do what `down` does; the N+1th is not forwarded
    status          "ok state=S connections=C held=H forwarded=F cuts=K": the state, open connections, bytes held
                    now, bytes forwarded since the start, connections reset since the start

A test waits for "held>0" after `hold` to know that a request reached the service's side, then cuts it with `down`:
the cut then falls inside the request, not before it.
"""

import argparse
import asyncio
import socket
import struct
import sys

PIECE = 64 * 1024


def log(message):
    if ARGS.log:
        print(f"faultproxy: {message}", file=sys.stderr, flush=True)


class Pipe:
    """One direction of one connection: bytes read from `reader`, written to `writer` when the state allows."""

    def __init__(self, proxy, reader, writer):
        self.proxy = proxy
        self.reader = reader
        self.writer = writer
        self.held = bytearray()


class Link:
    """A client connection and its upstream connection."""

    def __init__(self, proxy, client_writer):
        self.proxy = proxy
        self.client_writer = client_writer
        self.upstream_writer = None
        self.tasks = []
        self.closed = False

    def reset(self):
        """Closes both sides with RST (SO_LINGER 0), as a crashed or stopped peer's kernel does."""
        if self.closed:
            return
        self.closed = True
        for writer in (self.client_writer, self.upstream_writer):
            if writer is None:
                continue
            sock = writer.get_extra_info("socket")
            try:
                if sock is not None:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
            writer.transport.abort()
        for task in self.tasks:
            task.cancel()


class Proxy:
    def __init__(self, target_host, target_port):
        self.target = (target_host, target_port)
        self.state = "pass"
        self.links = set()
        self.server = None
        self.port = 0
        self.held = 0
        self.forwarded = 0
        self.cuts = 0
        self.budget = None          # bytes left before a cut (cutafter), None: no cut pending
        self.sends = None           # pieces towards the service left before a cut (cutaftersends)
        self.released = asyncio.Event()
        self.released.set()

    async def listen(self):
        self.server = await asyncio.start_server(self.accept, "127.0.0.1", self.port, reuse_address=True)
        self.port = self.server.sockets[0].getsockname()[1]

    async def accept(self, reader, writer):
        if self.state == "down":
            # Accepted in the instant between `down` and the listener's close: refused the same way.
            Link(self, writer).reset()
            return
        link = Link(self, writer)
        self.links.add(link)
        try:
            try:
                up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(*self.target), 10)
            except (OSError, asyncio.TimeoutError) as e:
                log(f"upstream {self.target}: {e}")
                link.reset()
                return
            link.upstream_writer = up_writer
            if link.closed:  # reset while connecting
                link.closed = False
                link.reset()
                return
            a = asyncio.ensure_future(self.pump(link, reader, up_writer, towards_service=True))
            b = asyncio.ensure_future(self.pump(link, up_reader, writer, towards_service=False))
            link.tasks = [a, b]
            await asyncio.wait(link.tasks, return_when=asyncio.FIRST_COMPLETED)
            # One side ended (EOF or error): end the other one after its pending bytes, as a plain close.
            for task in link.tasks:
                if not task.done():
                    try:
                        await asyncio.wait_for(task, 30)
                    except (asyncio.TimeoutError, asyncio.CancelledError):
                        pass
        finally:
            self.links.discard(link)
            if not link.closed:
                link.closed = True
                for w in (writer, link.upstream_writer):
                    if w is not None:
                        w.close()

    async def pump(self, link, reader, writer, towards_service):
        try:
            while True:
                data = await reader.read(PIECE)
                if not data:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                if towards_service and self.sends is not None and self.state == "pass":
                    if self.sends <= 0:
                        self.cut("cutaftersends")
                        return
                    self.sends -= 1
                while data:
                    if self.state == "hold" or not self.released.is_set():
                        self.held += len(data)
                        try:
                            await self.released.wait()
                        finally:
                            self.held -= len(data)
                    if link.closed or self.state == "down":
                        return
                    piece = data
                    if self.budget is not None:
                        if self.budget <= 0:
                            self.cut("cutafter")
                            return
                        piece = data[: self.budget]
                        self.budget -= len(piece)
                    writer.write(piece)
                    self.forwarded += len(piece)
                    data = data[len(piece):]
                    await writer.drain()
                    if self.budget is not None and self.budget <= 0:
                        self.cut("cutafter")
                        return
        except (ConnectionError, OSError):
            link.reset()
        except asyncio.CancelledError:
            pass

    def cut(self, why):
        """`down`: reset every connection, close the listener."""
        log(f"down ({why}): resetting {len(self.links)} connections")
        self.state = "down"
        self.budget = None
        self.sends = None
        self.released.set()   # held pumps wake up, see `down` and stop
        for link in list(self.links):
            if not link.closed:
                self.cuts += 1
            link.reset()
        self.links.clear()
        if self.server is not None:
            self.server.close()
            self.server = None

    async def command(self, line):
        words = line.split()
        if not words:
            return "error empty command"
        verb = words[0]
        if verb == "pass" or verb == "up":
            if self.server is None:
                try:
                    await self.listen()
                except OSError as e:
                    return f"error listen on {self.port}: {e}"
            self.state = "pass"
            self.budget = None
            self.sends = None
            self.released.set()
        elif verb == "hold":
            if self.state == "down":
                return "error down: up first"
            self.state = "hold"
            self.released.clear()
        elif verb == "down":
            self.cut("command")
        elif verb == "cutafter" and len(words) == 2 and words[1].isdigit():
            if self.state == "down":
                return "error down: up first"
            self.budget = int(words[1])
            self.state = "pass"
            self.released.set()
        elif verb == "cutaftersends" and len(words) == 2 and words[1].isdigit():
            if self.state == "down":
                return "error down: up first"
            self.sends = int(words[1])
            self.state = "pass"
            self.released.set()
        elif verb == "status":
            pass
        else:
            return f"error unknown command {line!r}"
        log(f"{line} -> {self.state}")
        return (f"ok state={self.state} connections={len(self.links)} held={self.held} "
                f"forwarded={self.forwarded} cuts={self.cuts}")


async def control(proxy, reader, writer):
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            answer = await proxy.command(line.decode("utf-8", "replace").strip())
            writer.write((answer + "\n").encode())
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def main():
    host, _, port = ARGS.target.rpartition(":")
    proxy = Proxy(host, int(port))
    proxy.port = ARGS.port
    await proxy.listen()
    control_server = await asyncio.start_server(lambda r, w: control(proxy, r, w), "127.0.0.1", ARGS.control_port)
    control_port = control_server.sockets[0].getsockname()[1]
    print(f"{proxy.port} {control_port}", flush=True)
    log(f"127.0.0.1:{proxy.port} -> {ARGS.target}, control on 127.0.0.1:{control_port}")
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", required=True, help="HOST:PORT of the service")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any free one)")
    parser.add_argument("--control-port", type=int, default=0, help="control port (0: any free one)")
    parser.add_argument("--log", action="store_true", help="log connections and commands to standard error")
    ARGS = parser.parse_args()
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
