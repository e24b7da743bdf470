import Glibc
@testable import HTTPServer
import Logging
import Synchronization
import SystemIO
import Testing
import TestSupport

/// Streamed response bodies (`Response.Body.stream`) on a live engine, produced by a thread through a
/// `BlockingStreamBridge` as the S3 backend produces them.
@Suite(.serialized)
struct StreamedResponseTests {
    private func serve(_ script: StreamScript, observers: [any ExchangeObserver] = [])
        throws -> (LiveServer, StreamProbe) {
        let probe = StreamProbe()
        let live = try LiveServer(responder: StreamResponder(stream: ScriptedStream(script: script, probe: probe))) {
            $0.eventLoopCount = 1
            $0.observers = observers
        }
        return (live, probe)
    }

    @Test func slowlyProducedMultiMiBBodyArrivesWhole() throws {
        let length: Int64 = 8 << 20
        let sink = MemoryLogSink()
        let writer = LogWriter(sink: sink, format: .text)
        var script = StreamScript(length: length)
        script.pauseMicroseconds = 1_000  // 16 KiB a millisecond at most: the engine waits for the producer
        let (live, probe) = try serve(script, observers: [AccessLog(writer: writer)])
        let client = try TestClient(port: live.port, timeoutSeconds: 30)
        try client.send("GET /stream HTTP/1.1\r\nHost: t\r\n\r\n")
        let response = try client.readResponse()
        #expect(response.status == 200)
        #expect(response.header("Content-Length") == "\(length)")
        let body = response.body  // bound first: a failed expectation prints its operands, not 8 MiB of them
        let whole = body.count == length && isStream(body)
        #expect(whole)
        // The connection is kept and in step: the next request is answered.
        try client.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(try client.readResponse().text == "hello")
        #expect(probe.opened == [0..<length])
        #expect(probe.wait { $0.producerDone })
        #expect(probe.cancels == 1)
        live.stop()
        writer.stop()
        let access = logfmtFields(sink.lines)
        #expect(access.first?["status"] == "200" && access.first?["sent"] == "\(length)")
    }

    /// A client reading slowly holds the producer back: the bridge never holds more than its bound, and the
    /// producer is never far ahead of what the client read (the bound plus the sockets' buffers).
    @Test func slowReaderThrottlesTheProducer() throws {
        let length: Int64 = 32 << 20
        var script = StreamScript(length: length)
        script.bound = 1 << 20
        let (live, probe) = try serve(script)
        defer { live.stop() }
        let client = try TestClient(port: live.port, timeoutSeconds: 60)
        var small: Int32 = 64 << 10
        setsockopt(client.fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        try client.send("GET /stream HTTP/1.1\r\nHost: t\r\n\r\n")
        var furthestAhead: Int64 = 0
        var sawProducerWaiting = false
        let response = client.readStreamed(readSize: 64 << 10, pauseMicroseconds: 1_500) { read in
            let ahead = probe.pushed - read
            furthestAhead = max(furthestAhead, ahead)
            if read > 8 << 20 && read < 16 << 20, probe.pushed < length { sawProducerWaiting = true }
        }
        let status = response.status, received = Int64(response.body.count), intact = isStream(response.body)
        #expect(status == 200 && received == length && intact)
        #expect(probe.peakQueuedBytes <= script.bound)
        #expect(probe.peakQueuedBytes >= script.bound / 2, "the queue never filled: the producer was not held back")
        #expect(sawProducerWaiting)
        // Loopback send and receive buffers grow to a few MiB; the producer must not be further ahead than that.
        #expect(furthestAhead < 16 << 20, "producer ran \(furthestAhead) bytes ahead of the client")
        #expect(probe.wait { $0.producerDone } && probe.cancels == 1)
    }

    @Test func rangesOfAStreamOpenOnlyWhatTheyAskFor() throws {
        let length: Int64 = (3 << 20) + 12_345
        let (live, probe) = try serve(StreamScript(length: length))
        defer { live.stop() }
        let client = try TestClient(port: live.port, timeoutSeconds: 30)
        let cases: [(String, Range<Int64>)] = [
            ("bytes=0-99", 0..<100),
            ("bytes=1000000-2500000", 1_000_000..<2_500_001),
            ("bytes=-1000", (length - 1000)..<length),
            ("bytes=3000000-", 3_000_000..<length),
            ("bytes=3000000-999999999", 3_000_000..<length),
        ]
        for (header, range) in cases {
            try client.send("GET /stream HTTP/1.1\r\nHost: t\r\nRange: \(header)\r\n\r\n")
            let part = try client.readResponse()
            #expect(part.status == 206, "\(header)")
            #expect(part.header("Content-Range") == "bytes \(range.lowerBound)-\(range.upperBound - 1)/\(length)")
            let intact = part.body.count == range.count && isStream(part.body, from: range.lowerBound)
            #expect(intact, "\(header)")
        }
        try client.send("GET /stream HTTP/1.1\r\nHost: t\r\nRange: bytes=\(length)-\r\n\r\n")
        let unsatisfiable = try client.readResponse()
        #expect(unsatisfiable.status == 416)
        #expect(unsatisfiable.header("Content-Range") == "bytes */\(length)")
        #expect(unsatisfiable.body.isEmpty)
        try client.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(try client.readResponse().text == "hello")
        // The 416 opened nothing; every other range opened exactly its bytes.
        #expect(probe.opened == cases.map(\.1))
        #expect(probe.wait { $0.cancels == cases.count })
    }

    @Test func headSendsTheLengthAndNeverOpens() throws {
        let length: Int64 = 5 << 20
        let (live, probe) = try serve(StreamScript(length: length))
        defer { live.stop() }
        let client = try TestClient(port: live.port, timeoutSeconds: 10)
        try client.send("HEAD /stream HTTP/1.1\r\nHost: t\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        let head = try client.readResponse(head: true)
        #expect(head.status == 200 && head.header("Content-Length") == "\(length)")
        #expect(head.header("Accept-Ranges") == "bytes")
        // No body bytes came between the two answers.
        #expect(try client.readResponse().text == "hello")
        #expect(probe.opened.isEmpty && probe.cancels == 0)
    }

    enum Misbehaviour: String, CaseIterable, Sendable {
        case failsMidway, endsEarly, deliversMore, failsAfterItsLastByte
    }

    /// A producer that fails, ends early or delivers too much: the client sees the connection closed before
    /// Content-Length bytes, never a response that looks complete; the access log says what was sent and why.
    @Test(arguments: Misbehaviour.allCases)
    func misbehavingProducerCutsTheConnectionShort(_ misbehaviour: Misbehaviour) throws {
        let length: Int64 = 6 << 20
        var script = StreamScript(length: length)
        switch misbehaviour {
        case .failsMidway: script.failAfter = 3 << 20
        case .endsEarly: script.endAfter = 3 << 20
        case .deliversMore: script.extra = 1
        case .failsAfterItsLastByte: script.failAfter = length
        }
        let sink = MemoryLogSink()
        let writer = LogWriter(sink: sink, format: .text)
        let (live, probe) = try serve(script, observers: [AccessLog(writer: writer)])
        let client = try TestClient(port: live.port, timeoutSeconds: 10)
        try client.send("GET /stream HTTP/1.1\r\nHost: t\r\n\r\n")
        let response = client.readStreamed()
        // Bound first: a failed expectation prints its operands, not MiBs of body.
        let status = response.status, declared = response.contentLength, closed = response.closed
        let received = Int64(response.body.count), intact = isStream(response.body)
        #expect(status == 200 && declared == length)
        #expect(closed, "the connection stayed open")
        #expect(received < length, "\(received) bytes: looks complete")
        #expect(intact, "the bytes that came are wrong")
        if misbehaviour == .failsMidway || misbehaviour == .endsEarly {
            #expect(received <= 3 << 20)
        }
        #expect(probe.wait { $0.cancels == 1 })
        live.stop()
        writer.stop()
        let access = logfmtFields(sink.lines)
        #expect(access.count == 1)
        #expect(access.first?["sent"] == "\(received)")
        #expect(access.first?["note"]?.contains("response stream") == true, "\(access.first ?? [:])")
    }

    /// A stream that cannot start is answered with an error response (the error's own, or 500), and the
    /// connection goes on.
    @Test func streamThatCannotOpenGetsAnErrorResponse() throws {
        var script = StreamScript(length: 1 << 20)
        script.openError = UnavailableError()
        let (live, probe) = try serve(script)
        defer { live.stop() }
        let client = try TestClient(port: live.port, timeoutSeconds: 10)
        try client.send("GET /stream HTTP/1.1\r\nHost: t\r\nRange: bytes=10-20\r\n\r\n")
        let response = try client.readResponse()
        #expect(response.status == 503 && response.text == "storage unavailable\n")
        #expect(response.header("Content-Range") == nil)
        try client.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(try client.readResponse().text == "hello")
        #expect(probe.cancels == 0)

        script.openError = SystemError("connect", errno: ECONNREFUSED)
        let (other, _) = try serve(script)
        defer { other.stop() }
        let second = try TestClient(port: other.port, timeoutSeconds: 10)
        try second.send("GET /stream HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(try second.readResponse().status == 500)
    }

    /// Over TLS the chunks go through OpenSSL's writes; curl checks the whole body and a range.
    @Test func streamsOverTLS() throws {
        let fixture = try TLSFixture()
        let length: Int64 = (4 << 20) + 7
        let probe = StreamProbe()
        let live = try LiveServer(responder: StreamResponder(stream: ScriptedStream(script: StreamScript(length: length),
                                                                                    probe: probe))) {
            $0.tls = fixture.settings()
        }
        defer { live.stop() }
        let directory = makeTemporaryDirectory(prefix: "swr-stream-tls")
        defer { _ = try? shell("rm -rf '\(directory)'") }
        let curl = "curl -sS --cacert '\(fixture.path("root.pem"))' https://localhost:\(live.port)/stream"
        #expect(try shell("\(curl) -o '\(directory)/whole' -w '%{http_code} %{size_download}'") == "200 \(length)")
        #expect(try shell("\(curl) -r 1000000-1999999 -o '\(directory)/part' -w '%{http_code} %{size_download}'")
                == "206 1000000")
        let whole = try readFile("\(directory)/whole"), part = try readFile("\(directory)/part")
        let intact = isStream(whole) && part.count == 1_000_000 && isStream(part, from: 1_000_000)
        #expect(intact)
        #expect(probe.opened == [0..<length, 1_000_000..<2_000_000])
    }

    private func readFile(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("open \(path)", errno: errno) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 { throw SystemError("read \(path)", errno: errno) }
            if n == 0 { return bytes }
            bytes += buffer[0..<n]
        }
    }

    /// A client that goes away mid-stream: the engine cancels the reader once and the producer stops pushing.
    @Test func clientLeavingMidStreamStopsTheProducer() throws {
        var script = StreamScript(length: 1 << 30)
        script.bound = 1 << 20
        let (live, probe) = try serve(script)
        defer { live.stop() }
        var client: TestClient? = try TestClient(port: live.port, timeoutSeconds: 10)
        try client!.send("GET /stream HTTP/1.1\r\nHost: t\r\n\r\n")
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var read = 0
        while read < 2 << 20 {
            let n = buffer.withUnsafeMutableBytes { recv(client!.fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { break }
            read += n
        }
        #expect(read >= 2 << 20)
        client = nil  // closes; the engine's next writes fail
        #expect(probe.wait { $0.producerStopped }, "the producer kept going")
        #expect(probe.cancels == 1)
        #expect(probe.pushed < 64 << 20)
        #expect(probe.wait { _ in live.server.connectionCount == 0 })
    }

    /// A client that resets while the engine waits for a stalled producer: the connection closes at once, and its
    /// close cancels the reader, which wakes the producer (a transfer stuck on the object store, say).
    @Test func resetWhileTheProducerStallsCancelsIt() throws {
        var script = StreamScript(length: 1 << 30)
        script.stallAfter = 1 << 20
        let (live, probe) = try serve(script)
        defer { live.stop() }
        var client: TestClient? = try TestClient(port: live.port, timeoutSeconds: 10)
        try client!.send("GET /stream HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(probe.wait { $0.pushed == 1 << 20 })
        usleep(100_000)
        #expect(!probe.producerStopped)
        var reset = linger(l_onoff: 1, l_linger: 0)
        setsockopt(client!.fd, SOL_SOCKET, SO_LINGER, &reset, socklen_t(MemoryLayout<linger>.size))
        client = nil  // closes with a reset
        #expect(probe.wait(seconds: 2) { $0.producerStopped }, "the stalled producer was never cancelled")
        #expect(probe.wait { $0.cancels == 1 })
        #expect(probe.wait { _ in live.server.connectionCount == 0 })
    }
}

/// The bridge alone, without an engine.
@Suite struct BlockingStreamBridgeTests {
    @Test func smallPushesAreGatheredAndDeliveredInOrder() async throws {
        let bridge = BlockingStreamBridge(bound: 1 << 20)
        for i in 0..<20 { #expect(bridge.push(streamBytes(Int64(i * 10_000)..<Int64((i + 1) * 10_000)))) }
        bridge.finish()
        var out: [UInt8] = []
        var chunks = 0
        while let chunk = try await bridge.next() {
            out += chunk
            chunks += 1
        }
        let intact = out.count == 200_000 && isStream(out)
        #expect(intact)
        #expect(chunks == 2)  // 13 pushes fill 128 KiB (130,000 bytes), the 7 others the next chunk
        #expect(!bridge.push([1]))  // after the end
    }

    @Test func pushWaitsWhileTheQueueIsFull() async throws {
        let bridge = BlockingStreamBridge(bound: 64 << 10)
        let probe = StreamProbe()
        let thread = SystemIO.Thread.start(name: "test-push") {
            for i in 0..<64 {
                guard bridge.push(streamBytes(Int64(i) * 16_384..<Int64(i + 1) * 16_384)) else { return }
                probe.state.withLock { $0.pushed += 16_384 }
            }
            bridge.finish()
        }
        defer { pthread_join(thread, nil) }
        #expect(probe.wait(seconds: 2) { $0.pushed == 64 << 10 })
        usleep(50_000)
        #expect(probe.pushed == 64 << 10, "a push went past the bound")
        var out: [UInt8] = []
        while let chunk = try await bridge.next() { out += chunk }
        let intact = out.count == 1 << 20 && isStream(out)
        #expect(intact)
        #expect(bridge.peakQueuedBytes <= 64 << 10)
    }

    @Test func cancelReleasesABlockedProducerAndAWaitingConsumer() async throws {
        let bridge = BlockingStreamBridge(bound: 1024)
        let refused = Mutex(false)
        let thread = SystemIO.Thread.start(name: "test-push") {
            _ = bridge.push([UInt8](repeating: 1, count: 1024))
            let accepted = bridge.push([UInt8](repeating: 2, count: 1024))  // blocks: the queue is full
            refused.withLock { $0 = !accepted }
        }
        usleep(50_000)
        bridge.cancel()
        pthread_join(thread, nil)
        #expect(refused.withLock { $0 })
        #expect(bridge.isCancelled)
        await #expect(throws: CancellationError.self) { try await bridge.next() }

        let idle = BlockingStreamBridge()
        Task {
            try await Task.sleep(for: .milliseconds(50))
            idle.cancel()
        }
        await #expect(throws: CancellationError.self) { try await idle.next() }
    }

    @Test func failureReachesTheConsumerAtOnce() async throws {
        let bridge = BlockingStreamBridge()
        #expect(bridge.push([1, 2, 3]))
        bridge.fail(SystemError("test", errno: EIO))
        await #expect(throws: SystemError.self) { try await bridge.next() }
        #expect(!bridge.push([4]))
        bridge.finish()  // the first end wins
        await #expect(throws: SystemError.self) { try await bridge.next() }
    }
}

/// `Range` on a stream body rewrites the range it will open, as it does a file's offset and length.
@Suite struct StreamByteRangeTests {
    struct Fixed: ResponseStream {
        let length: Int64
        func open(range: Range<Int64>) async throws -> any ResponseStreamReader { BlockingStreamBridge() }
    }

    private func range(of response: Response) -> Range<Int64>? {
        if case .stream(_, let range) = response.body { return range }
        return nil
    }

    @Test func rangesMapOntoTheStream() {
        let whole = Response(status: .ok, body: .stream(Fixed(length: 1000)))
        #expect(whole.body.count == 1000 && range(of: whole) == 0..<1000)
        #expect(range(of: ByteRange.apply("bytes=10-19", to: whole)) == 10..<20)
        #expect(range(of: ByteRange.apply("bytes=-1", to: whole)) == 999..<1000)
        #expect(range(of: ByteRange.apply("bytes=990-", to: whole)) == 990..<1000)
        #expect(ByteRange.apply("bytes=10-19", to: whole).body.count == 10)
        let unsatisfiable = ByteRange.apply("bytes=1000-", to: whole)
        #expect(unsatisfiable.status == .rangeNotSatisfiable && unsatisfiable.body.count == 0)
        // Within a part already: offsets add up.
        let part = Response(status: .ok, body: .stream(Fixed(length: 1000), range: 100..<200))
        #expect(range(of: ByteRange.apply("bytes=10-19", to: part)) == 110..<120)
        #expect(range(of: ByteRange.apply("bytes=-5", to: part)) == 195..<200)
    }
}
