import Glibc
import HTTPServer
import Synchronization
import SystemIO
import TestSupport

/// The bytes of every test stream: a pattern whose period is a prime (65,521), so that a chunk sent twice,
/// dropped or shifted by any power of two shows in a comparison. Built by copying slices of it: producing and
/// checking tens of MiB byte by byte is too slow in a debug build.
let streamPattern: [UInt8] = (0..<65_521).map { UInt8(truncatingIfNeeded: ($0 &* 2_654_435_761) >> 13 ^ $0) }

/// Bytes `range` of a test stream.
func streamBytes(_ range: Range<Int64>) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(range.count)
    var position = range.lowerBound
    while position < range.upperBound {
        let i = Int(position % Int64(streamPattern.count))
        let n = min(streamPattern.count - i, Int(range.upperBound - position))
        out.append(contentsOf: streamPattern[i..<(i + n)])
        position += Int64(n)
    }
    return out
}

/// True when `bytes` are the test stream's from `offset` on (compared without building a copy, and without a
/// failure message as big as the body).
func isStream(_ bytes: [UInt8], from offset: Int64 = 0) -> Bool {
    bytes.withUnsafeBytes { raw in
        streamPattern.withUnsafeBytes { pattern in
            var done = 0
            while done < raw.count {
                let i = Int((offset + Int64(done)) % Int64(pattern.count))
                let n = min(pattern.count - i, raw.count - done)
                if memcmp(raw.baseAddress! + done, pattern.baseAddress! + i, n) != 0 { return false }
                done += n
            }
            return true
        }
    }
}

/// How a `ScriptedStream`'s producer behaves.
struct StreamScript: Sendable {
    var length: Int64
    /// Bytes per push.
    var chunk = 16 << 10
    /// The bridge's bound.
    var bound = BlockingStreamBridge.defaultBound
    /// A pause after every push (a slow object store).
    var pauseMicroseconds: UInt32 = 0
    /// Fails the stream once this many bytes of the range are pushed.
    var failAfter: Int64?
    /// Finishes the stream once this many bytes of the range are pushed.
    var endAfter: Int64?
    /// Pushes this many bytes past the range before finishing.
    var extra = 0
    /// Stops pushing once this many bytes are pushed and waits for the cancellation (a stalled transfer).
    var stallAfter: Int64?
    /// `open` throws this.
    var openError: (any Error & Sendable)?
}

/// What happened to a `ScriptedStream`, for the tests to check.
final class StreamProbe: Sendable {
    struct State {
        var opened: [Range<Int64>] = []
        var cancels = 0
        /// Bytes the producer pushed.
        var pushed: Int64 = 0
        /// Bytes the engine took from the reader.
        var delivered: Int64 = 0
        /// The producer saw a push refused (the engine cancelled) and stopped.
        var producerStopped = false
        var producerDone = false
        var bridges: [BlockingStreamBridge] = []
    }

    let state = Mutex(State())

    var opened: [Range<Int64>] { state.withLock { $0.opened } }
    var cancels: Int { state.withLock { $0.cancels } }
    var pushed: Int64 { state.withLock { $0.pushed } }
    var producerStopped: Bool { state.withLock { $0.producerStopped } }
    var producerDone: Bool { state.withLock { $0.producerDone } }
    var peakQueuedBytes: Int { state.withLock { $0.bridges.map(\.peakQueuedBytes).max() ?? 0 } }

    /// Waits up to `seconds` for `condition`.
    func wait(seconds: Double = 5, until condition: (StreamProbe) -> Bool) -> Bool {
        for _ in 0..<Int(seconds * 100) {
            if condition(self) { return true }
            usleep(10_000)
        }
        return condition(self)
    }
}

/// A stream of `streamByte`s produced on a thread of its own through a `BlockingStreamBridge`, as the S3 backend
/// feeds one from libcurl; misbehaves as its script says.
struct ScriptedStream: ResponseStream {
    let script: StreamScript
    let probe: StreamProbe

    var length: Int64 { script.length }

    func open(range: Range<Int64>) async throws -> any ResponseStreamReader {
        if let error = script.openError { throw error }
        let bridge = BlockingStreamBridge(bound: script.bound)
        probe.state.withLock {
            $0.opened.append(range)
            $0.bridges.append(bridge)
        }
        let script = script, probe = probe
        let thread = SystemIO.Thread.start(name: "test-producer") {
            Self.produce(range, script: script, into: bridge, probe: probe)
        }
        pthread_detach(thread)
        return CountingReader(bridge: bridge, probe: probe)
    }

    /// Waits until the engine took every byte pushed, and a little more (so that it has written them): what the
    /// producer does next (a failure, bytes past the range) must then be caught by the engine holding back the
    /// last chunk until the end is confirmed, not by the bridge dropping chunks still queued.
    private static func settle(_ probe: StreamProbe) {
        _ = probe.wait { $0.state.withLock { $0.delivered == $0.pushed } }
        usleep(50_000)
    }

    private static func produce(_ range: Range<Int64>, script: StreamScript, into bridge: BlockingStreamBridge,
                                probe: StreamProbe) {
        defer { probe.state.withLock { $0.producerDone = true } }
        let end = range.upperBound + Int64(script.extra)
        var position = range.lowerBound
        while position < end {
            let done = position - range.lowerBound
            if let failAfter = script.failAfter, done >= failAfter {
                bridge.fail(SystemError("test producer", errno: EIO))
                return
            }
            if let endAfter = script.endAfter, done >= endAfter { break }
            if let stallAfter = script.stallAfter, done >= stallAfter {
                while !bridge.isCancelled { usleep(1000) }
                probe.state.withLock { $0.producerStopped = true }
                return
            }
            if position == range.upperBound { settle(probe) }
            var next = min(end, position + Int64(script.chunk))
            if position < range.upperBound { next = min(next, range.upperBound) }
            for limit in [script.failAfter, script.endAfter, script.stallAfter].compactMap({ $0 }) where done < limit {
                next = min(next, range.lowerBound + limit)
            }
            guard bridge.push(streamBytes(position..<next)) else {
                probe.state.withLock { $0.producerStopped = true }
                return
            }
            probe.state.withLock { $0.pushed += next - position }
            position = next
            if script.pauseMicroseconds > 0 { usleep(script.pauseMicroseconds) }
        }
        if let failAfter = script.failAfter, position - range.lowerBound >= failAfter {
            settle(probe)
            bridge.fail(SystemError("test producer", errno: EIO))  // after every byte, before the end
            return
        }
        bridge.finish()
    }
}

/// Passes the bridge through and counts the engine's `cancel()` calls.
struct CountingReader: ResponseStreamReader {
    let bridge: BlockingStreamBridge
    let probe: StreamProbe

    func next() async throws -> [UInt8]? {
        let chunk = try await bridge.next()
        probe.state.withLock { $0.delivered += Int64(chunk?.count ?? 0) }
        return chunk
    }

    func cancel() {
        probe.state.withLock { $0.cancels += 1 }
        bridge.cancel()
    }
}

/// `GET`/`HEAD /stream` answers the scripted stream (with `Accept-Ranges: bytes`); `/hello` answers "hello".
struct StreamResponder: HTTPResponder {
    let stream: ScriptedStream

    func respond(to request: Request, body: RequestBody) async throws -> Response {
        switch request.path {
        case "/stream":
            Response(status: .ok, headers: ["Accept-Ranges": "bytes", "Content-Type": "application/octet-stream"],
                     body: .stream(stream))
        case "/hello":
            Response(status: .ok, bytes: Array("hello".utf8))
        default:
            .text(.notFound, "not found")
        }
    }
}

/// An error that is answered with 503.
struct UnavailableError: ResponseConvertibleError {
    var response: Response { .text(.serviceUnavailable, "storage unavailable") }
}

/// What came back on a connection read to its end: the response head and the body bytes that followed it.
struct RawResponse {
    var status: Int
    var contentLength: Int64
    var body: [UInt8]
    /// The server closed the connection (as opposed to the read timing out with the connection open).
    var closed: Bool
}

extension TestClient {
    /// Reads one response head, then body bytes until `Content-Length` of them arrived or the connection ends,
    /// pausing `pauseMicroseconds` after each read of at most `readSize` bytes (a slow client).
    func readStreamed(readSize: Int = 64 << 10, pauseMicroseconds: UInt32 = 0,
                      afterEachRead: (Int64) -> Void = { _ in }) -> RawResponse {
        var received: [UInt8] = []
        var headEnd: Int?
        var contentLength: Int64 = -1
        var closed = false
        var buffer = [UInt8](repeating: 0, count: readSize)
        while true {
            if let headEnd, Int64(received.count - headEnd) >= contentLength { break }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 {
                closed = n == 0 || errno == ECONNRESET
                break
            }
            received.append(contentsOf: buffer[0..<n])
            if headEnd == nil, let end = Self.headEnd(received) {
                headEnd = end
                let head = String(decoding: received[0..<end], as: UTF8.self)
                for line in head.split(separator: "\r\n") where line.lowercased().hasPrefix("content-length:") {
                    contentLength = Int64(line.dropFirst(15).trimmingCharacters(in: " ")) ?? -1
                }
            }
            if let headEnd { afterEachRead(Int64(received.count - headEnd)) }
            if pauseMicroseconds > 0 { usleep(pauseMicroseconds) }
        }
        guard let headEnd else { return RawResponse(status: 0, contentLength: -1, body: [], closed: closed) }
        let statusLine = String(decoding: received[0..<headEnd], as: UTF8.self).split(separator: " ")
        return RawResponse(status: Int(statusLine[1]) ?? 0, contentLength: contentLength,
                           body: Array(received[headEnd...]), closed: closed)
    }

    /// The offset just past the blank line ending the head.
    private static func headEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for i in 0...(bytes.count - 4) where bytes[i] == 13 && bytes[i + 1] == 10 && bytes[i + 2] == 13 && bytes[i + 3] == 10 {
            return i + 4
        }
        return nil
    }
}
