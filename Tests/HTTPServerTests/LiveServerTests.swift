import Glibc
@testable import HTTPServer
import Logging
import SystemIO
import Testing
import TestSupport

/// The engine on a real socket on 127.0.0.1, driven by raw bytes.
@Suite(.serialized)
struct LiveServerTests {
    @Test func pipelinedKeepAliveRequestsAnswerInOrder() throws {
        let live = try LiveServer()
        defer { live.stop() }
        let client = try TestClient(port: live.port)
        try client.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"
            + "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nabcde"
            + "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nxyz\r\n2;ext=1\r\n12\r\n0\r\nX-T: 1\r\n\r\n"
            + "HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n"
            + "GET /missing HTTP/1.1\r\nHost: t\r\n\r\n")
        let r1 = try client.readResponse()
        #expect(r1.status == 200 && r1.text == "hello")
        #expect(r1.header("Date") != nil)
        let r2 = try client.readResponse()
        #expect(r2.text == "abcde")
        let r3 = try client.readResponse()
        #expect(r3.text == "xyz12")
        let r4 = try client.readResponse(head: true)
        #expect(r4.status == 200 && r4.header("Content-Length") == "5")
        let r5 = try client.readResponse()
        #expect(r5.status == 404)
        // Still open: one more request on the same connection.
        try client.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(try client.readResponse().text == "hello")
    }

    /// The loops share one listener, and the kernel wakes the first idle one: connections opened at once must
    /// still spread over every loop (each gets its turn), as they did with one `SO_REUSEPORT` listener per loop.
    @Test func connectionsOpenedAtOnceSpreadOverEveryLoop() throws {
        let live = try LiveServer { $0.eventLoopCount = 4 }
        defer { live.stop() }
        let clients = try (0..<40).map { _ in try TestClient(port: live.port) }
        var served: [String: Int] = [:]
        for client in clients {
            try client.send("GET /loop HTTP/1.1\r\nHost: t\r\n\r\n")
            served[try client.readResponse().text, default: 0] += 1
        }
        #expect(served == ["swr-loop-0": 10, "swr-loop-1": 10, "swr-loop-2": 10, "swr-loop-3": 10])
    }

    /// A handler answers before reading the body; while the rest is being drained, the client hangs up. The
    /// connection must close at once (it used to stay registered with its hang-up pending: a loop spinning at
    /// full CPU, and a connection slot never given back).
    @Test func clientHangingUpWhileItsUnreadBodyIsDrainedIsClosed() throws {
        let live = try LiveServer { $0.eventLoopCount = 1 }
        defer { live.stop() }
        for _ in 0..<3 {
            var client: TestClient? = try TestClient(port: live.port)
            try client!.send("POST /reject HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nabc")
            #expect(try client!.readResponse().status == 403)
            client = nil  // closes the socket
        }
        for _ in 0..<100 where live.server.connectionCount > 0 { usleep(20_000) }
        #expect(live.server.connectionCount == 0)
    }

    /// A client that resets its connection while the handler works is closed at once, not when the handler is
    /// done (until then the reset, a level-triggered hang-up, woke the loop on every wait).
    @Test func resetWhileTheHandlerRunsClosesAtOnce() throws {
        let live = try LiveServer { $0.eventLoopCount = 1 }
        defer { live.stop() }
        var client: TestClient? = try TestClient(port: live.port)
        try client!.send("GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
        usleep(100_000)
        var reset = linger(l_onoff: 1, l_linger: 0)
        setsockopt(client!.fd, SOL_SOCKET, SO_LINGER, &reset, socklen_t(MemoryLayout<linger>.size))
        client = nil  // closes with a reset
        // /slow answers after 700 ms; the connection must be gone well before.
        for _ in 0..<20 where live.server.connectionCount > 0 { usleep(10_000) }
        #expect(live.server.connectionCount == 0)
    }

    @Test func logsOneAccessLinePerRequest() throws {
        let sink = MemoryLogSink()
        let writer = LogWriter(sink: sink, format: .text)
        let live = try LiveServer { $0.observers = [AccessLog(writer: writer)] }
        let client = try TestClient(port: live.port)
        try client.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\nPOST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc")
        _ = try client.readResponse()
        _ = try client.readResponse()
        live.stop()
        writer.stop()
        let access = logfmtFields(sink.lines)
        #expect(access.count == 2)
        #expect(access.first?["method"] == "GET" && access.first?["target"] == "/hello" && access.first?["status"] == "200")
        #expect(access.first?["sent"] == "5" && access.first?["received"] == "0")
        #expect(access.first?["client"]?.hasPrefix("127.0.0.1:") == true && access.first?["duration_ms"] != nil)
        #expect(access.last?["method"] == "POST" && access.last?["target"] == "/echo" && access.last?["received"] == "3")
        #expect(access.last?["sent"] == "3")
    }

    @Test func connectionCloseAndHTTP10() throws {
        let live = try LiveServer()
        defer { live.stop() }
        let a = try TestClient(port: live.port)
        try a.send("GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        let r = try a.readResponse()
        #expect(r.header("Connection") == "close")
        #expect(a.isClosedByPeer())

        let b = try TestClient(port: live.port)
        try b.send("GET /hello HTTP/1.0\r\n\r\n")
        #expect(try b.readResponse().text == "hello")
        #expect(b.isClosedByPeer())

        let c = try TestClient(port: live.port)
        try c.send("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        #expect(try c.readResponse().header("Connection") == "keep-alive")
        try c.send("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        #expect(try c.readResponse().text == "hello")
    }

    @Test func expectContinueSendsInterimResponseWhenBodyIsRead() throws {
        let live = try LiveServer()
        defer { live.stop() }
        let client = try TestClient(port: live.port)
        try client.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        let interim = try client.readResponse()
        #expect(interim.status == 100)
        try client.send("ping")
        let final = try client.readResponse()
        #expect(final.status == 200 && final.text == "ping")

        // A handler that answers without reading gets no 100; the connection closes after the final response.
        try client.send("POST /reject HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        let rejected = try client.readResponse()
        #expect(rejected.status == 403)
        #expect(rejected.header("Connection") == "close")
    }

    @Test func unreadSmallBodyIsDrainedAndConnectionKept() throws {
        let live = try LiveServer()
        defer { live.stop() }
        let client = try TestClient(port: live.port)
        try client.send("POST /reject HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n0123456789GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(try client.readResponse().status == 403)
        #expect(try client.readResponse().text == "hello")
    }

    @Test func bodyOverHandlerLimitGets413() throws {
        let live = try LiveServer()
        defer { live.stop() }
        let client = try TestClient(port: live.port)
        try client.send("POST /small HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\n0123456789A")
        #expect(try client.readResponse().status == 413)
        let chunked = try TestClient(port: live.port)
        try chunked.send("POST /small HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n01234567\r\n8\r\n01234567\r\n0\r\n\r\n")
        let chunkedResponse = try chunked.readResponse()
        #expect(chunkedResponse.status == 413, "\(chunkedResponse.status) \(chunkedResponse.text)")
    }

    @Test func rangeRequestsOnFileBodies() throws {
        let live = try LiveServer()
        defer { live.stop() }
        let client = try TestClient(port: live.port)
        try client.send("GET /file HTTP/1.1\r\nHost: t\r\n\r\n")
        let whole = try client.readResponse()
        #expect(whole.status == 200 && whole.body == LiveServer.fileBytes)
        try client.send("GET /file HTTP/1.1\r\nHost: t\r\nRange: bytes=100-199\r\n\r\n")
        let part = try client.readResponse()
        #expect(part.status == 206)
        #expect(part.header("Content-Range") == "bytes 100-199/10000")
        #expect(part.body == Array(LiveServer.fileBytes[100...199]))
        try client.send("GET /file HTTP/1.1\r\nHost: t\r\nRange: bytes=-10\r\n\r\n")
        #expect(try client.readResponse().body == Array(LiveServer.fileBytes[9990...]))
        try client.send("GET /file HTTP/1.1\r\nHost: t\r\nRange: bytes=9990-\r\n\r\n")
        #expect(try client.readResponse().body == Array(LiveServer.fileBytes[9990...]))
        try client.send("GET /file HTTP/1.1\r\nHost: t\r\nRange: bytes=10000-\r\n\r\n")
        let unsatisfiable = try client.readResponse()
        #expect(unsatisfiable.status == 416)
        #expect(unsatisfiable.header("Content-Range") == "bytes */10000")
        try client.send("HEAD /file HTTP/1.1\r\nHost: t\r\n\r\n")
        let head = try client.readResponse(head: true)
        #expect(head.status == 200 && head.header("Content-Length") == "10000")
        try client.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(try client.readResponse().text == "hello")
    }

    @Test func malformedRequestsGetErrorAndClose() throws {
        let live = try LiveServer()
        defer { live.stop() }
        let cases: [(String, Int)] = [
            ("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
            ("GET /hello HTTP/1.1\r\n\r\n", 400),
            ("GET /hello HTTP/2.0\r\nHost: t\r\n\r\n", 505),
            ("GET /\(String(repeating: "a", count: 9000)) HTTP/1.1\r\nHost: t\r\n\r\n", 414),
            ("GET / HTTP/1.1\r\nHost: t\r\nX: \(String(repeating: "b", count: 70_000))\r\n\r\n", 431),
            ("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        ]
        for (request, status) in cases {
            let client = try TestClient(port: live.port)
            try client.send(request)
            let response = try client.readResponse()
            #expect(response.status == status, "\(request.prefix(40))")
            #expect(client.isClosedByPeer())
        }
    }

    @Test func tlsClientHelloOnPlainPortIsRejectedAtOnce() throws {
        let live = try LiveServer()
        defer { live.stop() }
        let client = try TestClient(port: live.port, timeoutSeconds: 3)
        // The first bytes of a TLS ClientHello record: no line end, so only an early check can answer it.
        try client.send([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03])
        let response = try client.readResponse()
        #expect(response.status == 400)
        #expect(client.isClosedByPeer())
    }

    @Test func streamsOneGiBBodyWithFlatMemory() throws {
        let live = try LiveServer()
        defer { live.stop() }
        let client = try TestClient(port: live.port, timeoutSeconds: 120)
        let total: Int64 = 1 << 30
        try client.send("PUT /sink HTTP/1.1\r\nHost: t\r\nContent-Length: \(total)\r\n\r\n")
        let chunk = [UInt8](repeating: 0x5A, count: 1 << 20)
        let before = residentBytes()
        var peak = before
        var sent: Int64 = 0
        while sent < total {
            try client.send(chunk)
            sent += Int64(chunk.count)
            if sent % (64 << 20) == 0 { peak = max(peak, residentBytes()) }
        }
        let response = try client.readResponse()
        #expect(response.status == 200)
        #expect(response.text == "\(total)")
        // The server buffers at most its high-water mark per connection, whatever the body size.
        #expect(peak - before < 64 << 20, "resident memory grew by \(peak - before) bytes")
    }

    @Test func recycledBodyBuffersKeepEveryByteUnderBackPressure() throws {
        let live = try LiveServer()
        defer { live.stop() }
        let client = try TestClient(port: live.port, timeoutSeconds: 60)
        let total = 6 << 20
        try client.send("POST /recycle HTTP/1.1\r\nHost: t\r\nContent-Length: \(total)\r\n\r\n")
        var sum: UInt64 = 14_695_981_039_346_656_037
        var sent = 0
        var block = 0
        while sent < total {
            // Blocks of varying content and size, so that a buffer reused too early would show in the checksum.
            let size = min(total - sent, 100_000 + (block % 5) * 37_000)
            let bytes = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ block) }
            for b in bytes { sum = (sum ^ UInt64(b)) &* 1_099_511_628_211 }
            try client.send(bytes)
            sent += size
            block += 1
        }
        let response = try client.readResponse()
        #expect(response.status == 200)
        #expect(response.text == "\(total) \(sum)")
    }

    @Test func bodiesReadStraightIntoChunksLeavePipelinedRequestsIntact() throws {
        let live = try LiveServer()
        defer { live.stop() }
        let client = try TestClient(port: live.port, timeoutSeconds: 30)
        // A Content-Length body and a chunked one with big chunks (both read past the scratch buffer), each
        // followed at once by another request in the same bytes.
        let fixed = (0..<700_001).map { UInt8(truncatingIfNeeded: $0 &* 5) }
        let big = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 11) }
        var wire = Array("POST /recycle HTTP/1.1\r\nHost: t\r\nContent-Length: \(fixed.count)\r\n\r\n".utf8) + fixed
        wire += Array("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n".utf8)
        wire += Array("POST /recycle HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
        wire += Array("493e0\r\n".utf8) + big + Array("\r\n5\r\nhello\r\n0\r\n\r\n".utf8)
        wire += Array("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n".utf8)
        try client.send(wire)
        func checksum(_ bytes: [UInt8]) -> UInt64 {
            bytes.reduce(14_695_981_039_346_656_037) { ($0 ^ UInt64($1)) &* 1_099_511_628_211 }
        }
        #expect(try client.readResponse().text == "\(fixed.count) \(checksum(fixed))")
        #expect(try client.readResponse().text == "hello")
        let chunked = big + Array("hello".utf8)
        #expect(try client.readResponse().text == "\(chunked.count) \(checksum(chunked))")
        #expect(try client.readResponse().text == "hello")
    }

    @Test func slowlorisIsCutByHeaderTimeout() throws {
        let live = try LiveServer { $0.headerTimeout = 1 }
        defer { live.stop() }
        let client = try TestClient(port: live.port, timeoutSeconds: 10)
        let start = Clock.monotonicNanos()
        try client.send("GET /hello HTTP/1.1\r\nHost: t\r\n")
        for _ in 0..<3 {
            usleep(400_000)
            try? client.send("X-Drip: 1\r\n")
        }
        let response = try client.readResponse()
        #expect(response.status == 408)
        #expect(client.isClosedByPeer())
        let elapsed = Double(Clock.monotonicNanos() - start) / 1e9
        #expect(elapsed < 5)
    }

    @Test func idleKeepAliveConnectionIsClosed() throws {
        let live = try LiveServer { $0.idleTimeout = 0.5 }
        defer { live.stop() }
        let client = try TestClient(port: live.port, timeoutSeconds: 10)
        try client.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(try client.readResponse().status == 200)
        #expect(client.isClosedByPeer())
    }

    @Test func stalledBodyTimesOut() throws {
        let live = try LiveServer { $0.bodyTimeout = 0.5 }
        defer { live.stop() }
        let client = try TestClient(port: live.port, timeoutSeconds: 10)
        try client.send("POST /sink HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nonly-a-part")
        let response = try client.readResponse()
        #expect(response.status == 408)
        #expect(client.isClosedByPeer())
    }

    @Test func silentConnectionIsClosedAfterTheHeaderTimeout() throws {
        let live = try LiveServer {
            $0.headerTimeout = 0.5
            $0.idleTimeout = 60
        }
        defer { live.stop() }
        let start = Clock.monotonicNanos()
        let client = try TestClient(port: live.port, timeoutSeconds: 10)
        // Not a byte sent: closed (with nothing written) once the header timeout from the accept is over, not
        // held for the idle timeout.
        #expect(client.isClosedByPeer())
        let elapsed = Double(Clock.monotonicNanos() - start) / 1e9
        #expect(elapsed > 0.4 && elapsed < 3, "closed after \(elapsed) s")
    }

    @Test func keepAliveWaitsTheIdleTimeoutAndTimesTheNextHeaderFromItsFirstByte() throws {
        let live = try LiveServer {
            $0.headerTimeout = 0.5
            $0.idleTimeout = 5
        }
        defer { live.stop() }
        let client = try TestClient(port: live.port, timeoutSeconds: 10)
        try client.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(try client.readResponse().status == 200)
        // Between requests the idle timeout applies, not the header timeout.
        usleep(1_200_000)
        try client.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(try client.readResponse().status == 200)
        usleep(1_200_000)
        // The next request's header timeout counts from its first byte.
        let start = Clock.monotonicNanos()
        try client.send("GET /hello HTTP/1.1\r\nHost: t\r\n")
        let response = try client.readResponse()
        #expect(response.status == 408)
        #expect(client.isClosedByPeer())
        let elapsed = Double(Clock.monotonicNanos() - start) / 1e9
        #expect(elapsed > 0.4 && elapsed < 3, "408 after \(elapsed) s")
    }

    /// True when the socket has input within `milliseconds`.
    private func hasInput(_ client: TestClient, within milliseconds: Int32) -> Bool {
        var p = pollfd(fd: client.fd, events: Int16(POLLIN), revents: 0)
        return poll(&p, 1, milliseconds) > 0
    }

    @Test func bodyTrickledBelowTheMinimumRateIsCut() throws {
        let live = try LiveServer {
            $0.bodyTimeout = 1
            $0.minBodyRate = 100
        }
        defer { live.stop() }
        let client = try TestClient(port: live.port, timeoutSeconds: 10)
        try client.send("POST /sink HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n")
        // A byte every 300 ms: progress too often for the body timeout (1 s without any), and far below 100 bytes/s.
        // Allowed: 1 s + 1 s per 100 bytes from the first byte, so the cut comes after about four bytes.
        var sent = 0
        while sent < 40, !hasInput(client, within: 300) {
            try? client.send("x")  // after the cut the server reads and drops input until it closes
            sent += 1
        }
        let response = try client.readResponse()
        #expect(response.status == 408)
        #expect(response.text == "request body slower than 100 bytes/s\n")
        #expect(response.header("Connection") == "close")
        #expect(client.isClosedByPeer())
        #expect(sent < 15, "cut after \(sent) bytes")
    }

    @Test func bodyAboveTheMinimumRateCompletes() throws {
        let live = try LiveServer {
            $0.bodyTimeout = 1
            $0.minBodyRate = 100
        }
        defer { live.stop() }
        let client = try TestClient(port: live.port, timeoutSeconds: 10)
        try client.send("POST /sink HTTP/1.1\r\nHost: t\r\nContent-Length: 600\r\n\r\n")
        // 200 bytes/s for three seconds, three times the grace: slow, but above the minimum.
        for _ in 0..<30 {
            try client.send(String(repeating: "y", count: 20))
            usleep(100_000)
        }
        let response = try client.readResponse()
        #expect(response.status == 200 && response.text == "600")
    }

    /// While the handler is behind, the connection stops reading (back-pressure): that time is the server's, and
    /// does not count against the client's rate.
    @Test func timeTheHandlerIsBehindDoesNotCountAgainstTheRate() throws {
        let live = try LiveServer {
            $0.bodyTimeout = 0.5
            $0.minBodyRate = 1_000_000
            $0.bodyHighWater = 1024
        }
        defer { live.stop() }
        let client = try TestClient(port: live.port, timeoutSeconds: 20)
        let body = [UInt8](repeating: 0x7A, count: 512 * 1024)
        try client.send(Array("POST /late-sink HTTP/1.1\r\nHost: t\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body)
        let response = try client.readResponse()
        #expect(response.status == 200 && response.text == "\(body.count)")
    }

    @Test func defaultOverloadResponseIsA503ThatCloses() throws {
        let config = ServerConfiguration(address: try SocketAddress(parsing: "127.0.0.1:0"))
        let wire = String(decoding: OverloadRejecter.serialize(config.overloadResponse), as: UTF8.self)
        #expect(wire.hasPrefix("HTTP/1.1 503 Service Unavailable\r\n"))
        #expect(wire.contains("\r\nRetry-After: 1\r\n") && wire.contains("\r\nConnection: close\r\n"))
        #expect(wire.hasSuffix("\r\nContent-Length: 21\r\nConnection: close\r\n\r\ntoo many connections\n"))
    }

    @Test func connectionsOverTheLimitGet503AndClose() throws {
        let json = #"{"errors":[{"code":"UNAVAILABLE","message":"too many connections"}]}"#
        let live = try LiveServer {
            $0.maxConnections = 2
            $0.eventLoopCount = 1
            $0.overloadResponse = Response(status: .serviceUnavailable,
                                           headers: ["Content-Type": "application/json", "Retry-After": "1"],
                                           bytes: Array(json.utf8))
        }
        defer { live.stop() }
        var a: TestClient? = try TestClient(port: live.port)
        let b = try TestClient(port: live.port)
        try a?.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        try b.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(try a?.readResponse().status == 200)
        #expect(try b.readResponse().status == 200)
        for i in 0..<20 {
            let c = try TestClient(port: live.port, timeoutSeconds: 5)
            // Half send their request first: the server never reads it, which must not turn the close into a
            // reset that loses the answer.
            if i % 2 == 0 { try? c.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n") }
            let response = try c.readResponse()
            #expect(response.status == 503)
            #expect(response.header("Connection") == "close")
            #expect(response.header("Retry-After") == "1")
            #expect(response.header("Content-Type") == "application/json")
            #expect(response.text == json)
            #expect(c.isClosedByPeer())
        }
        // Refused connections take no slot: once one of the two closes, a new connection is served.
        #expect(live.server.connectionCount == 2)
        a = nil
        for _ in 0..<100 where live.server.connectionCount > 1 { usleep(20_000) }
        let d = try TestClient(port: live.port)
        try d.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(try d.readResponse().status == 200)
    }

    @Test func gracefulShutdownFinishesRequestInFlight() throws {
        let live = try LiveServer()
        let busy = try TestClient(port: live.port)
        let idle = try TestClient(port: live.port)
        try idle.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(try idle.readResponse().status == 200)
        try busy.send("GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
        usleep(200_000)
        live.server.shutdown(grace: 5)
        let response = try busy.readResponse()
        #expect(response.status == 200 && response.text == "slow")
        #expect(response.header("Connection") == "close")
        #expect(busy.isClosedByPeer())
        #expect(idle.isClosedByPeer())
        live.server.wait()
        #expect(throws: SystemError.self) { _ = try TestClient(port: live.port) }
    }
}
