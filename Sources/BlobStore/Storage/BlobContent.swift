import SystemIO

/// How a blob's bytes reach the client that asked for them.
public enum BlobContent: Sendable {
    /// An open file, sent by the kernel (`sendfile`); `Range` is applied by the engine.
    case file(SharedFileDescriptor, size: Int64)
    /// Bytes produced while they are sent (object storage streamed through the replica). The engine calls `open`
    /// once, with the range `Range` selected (the whole blob otherwise), and pulls chunks with back-pressure.
    case stream(size: Int64, open: BlobStreamOpener)
    /// A URL the client fetches the bytes from itself (a presigned object-storage URL), answered with `307`.
    case redirect(url: String, size: Int64)

    /// The blob's size, whichever way it is sent.
    public var size: Int64 {
        switch self {
        case .file(_, let size), .stream(let size, _), .redirect(_, let size): size
        }
    }
}

/// Starts a transfer of bytes `range` (half-open, within the blob's size) of a blob.
public typealias BlobStreamOpener = @Sendable (Range<Int64>) async throws -> any BlobByteStream

/// One transfer of a blob's bytes, pulled chunk by chunk.
public protocol BlobByteStream: Sendable {
    /// The next chunk (non-empty), or nil once the range is complete. A failure, or an end before the promised
    /// bytes, must abort the client's connection: a response cut short must never look complete.
    func next() async throws -> [UInt8]?
    /// Stops the transfer (the client left, or the engine is done): called once, always.
    func cancel()
}
