/// A response body produced while it is sent (a blob read from an object store, say): its length is known up front
/// (it is the Content-Length), its bytes come later, pulled by the engine one chunk at a time.
///
/// The engine asks for the part it sends (the whole body, or what a `Range` header selected) with `open(range:)`,
/// once per response and never for HEAD, then pulls chunks from the reader, writing each one to the socket before it
/// asks for the next: a client that reads slowly slows the producer down, and no more than one chunk per connection
/// is held by the engine. See `BlockingStreamBridge` for a producer that runs on a thread of its own.
public protocol ResponseStream: Sendable {
    /// The body's total length in bytes.
    var length: Int64 { get }

    /// Starts producing bytes `range` of the body (within `0..<length`, never empty).
    /// - Returns: the reader the engine pulls the chunks from: exactly `range.count` bytes, then the end.
    /// - Throws: when the bytes cannot be had; the engine then closes the connection (the head is already out).
    func open(range: Range<Int64>) async throws -> any ResponseStreamReader
}

/// The consumer side of one `ResponseStream.open(range:)`.
///
/// The engine calls `next()` from the connection's handler task only, one call at a time, until it has the range's
/// bytes and then once more to see the end (so that a producer that fails after its last bytes does not leave the
/// client with a response that looks complete). It puts no time limit on `next()`: a producer bounds its own stalls
/// (libcurl's low-speed limit, say). When the client goes away while `next()` waits, `cancel()` is called from the
/// event loop, and the pending `next()` should then end (throw) promptly.
public protocol ResponseStreamReader: Sendable {
    /// The next chunk (non-empty), or nil at the end. Throwing, ending early, or delivering more than the range's
    /// bytes aborts the response: the engine closes the connection, so that a response cut short never looks
    /// complete to the client.
    func next() async throws -> [UInt8]?

    /// Called exactly once when the engine stops reading (after the end, on an error, or because the client is
    /// gone): release the producer.
    func cancel()
}

/// Why a streamed body could not be sent whole; the connection is closed (see `Connection.sendStream`).
struct ResponseStreamError: Error, CustomStringConvertible {
    let description: String

    static func failed(_ error: any Error) -> ResponseStreamError {
        ResponseStreamError(description: "response stream failed: \(error)")
    }

    static func short(expected: Int64, received: Int64) -> ResponseStreamError {
        ResponseStreamError(description: "response stream ended after \(received) of \(expected) bytes")
    }

    static func overlong(expected: Int64) -> ResponseStreamError {
        ResponseStreamError(description: "response stream delivered more than its \(expected) bytes")
    }
}
