import Glibc
import SystemIO

extension Connection {
    /// Opens a streamed body before anything is written (never for HEAD, nor for a status without a body), so that
    /// a stream that cannot start gets an error response instead of a connection cut after a 200 head.
    /// - Returns: `response` with its reader in `streamReader`; or, when `open` threw, the error's response (a
    ///   `ResponseConvertibleError`'s, else 500).
    func openStream(_ response: Response, for head: RequestHead) async -> Response {
        guard case .stream(let stream, let range) = response.body, !range.isEmpty, head.method != "HEAD",
              !response.status.forbidsBody else { return response }
        do {
            let reader = try await stream.open(range: range)
            streamReader = reader
            // Closed while it opened: nobody else will cancel it (`send` then fails on the closed connection).
            if isClosed { releaseStream() }
            return response
        } catch {
            loop.server.logger.error("\(head.method) \(head.target): response stream did not open: \(error)")
            var failed = (error as? any ResponseConvertibleError)?.response ?? .text(.internalServerError, "internal server error")
            failed.context = response.context
            return failed
        }
    }

    /// Writes the body from `streamReader`: each chunk is written (waiting for the socket to drain, which is what
    /// throttles the producer) before the next one is pulled, so the engine holds one chunk at a time.
    ///
    /// The last chunk is held back until the reader confirms the end: a producer that fails, or has more to give,
    /// after its promised bytes must not leave the client with a response that looks complete. Throws (and the
    /// caller closes the connection) on a failure, an early end, or bytes past `expected`; the reader is released
    /// on every path.
    /// - Parameter sent: counts the bytes written.
    func sendStream(expected: Int64, sent: inout Int64) async throws {
        loop.assertInLoop()
        if expected == 0 { return }
        guard let reader = streamReader else { throw SystemError("write", errno: ECONNRESET) }
        defer { releaseStream() }
        var received: Int64 = 0
        while true {
            guard let chunk = try await pull(from: reader) else {
                throw ResponseStreamError.short(expected: expected, received: received)
            }
            if chunk.isEmpty { continue }
            received += Int64(chunk.count)
            if received > expected { throw ResponseStreamError.overlong(expected: expected) }
            if received == expected, let more = try await pull(from: reader), !more.isEmpty {
                throw ResponseStreamError.overlong(expected: expected)
            }
            try await write(chunk)
            sent += Int64(chunk.count)
            if received == expected { return }
        }
    }

    /// The reader's next chunk; a failure is the producer's unless the connection closed meanwhile (`close`
    /// cancels the reader, which then throws).
    private func pull(from reader: any ResponseStreamReader) async throws -> [UInt8]? {
        do {
            let chunk = try await reader.next()
            if isClosed { throw SystemError("write", errno: ECONNRESET) }
            return chunk
        } catch {
            if isClosed { throw SystemError("write", errno: ECONNRESET) }
            throw ResponseStreamError.failed(error)
        }
    }

    /// Cancels the stream being sent, if any, once: at its end, on an error, or when the connection closes.
    func releaseStream() {
        loop.assertInLoop()
        guard let reader = streamReader else { return }
        streamReader = nil
        reader.cancel()
    }
}
