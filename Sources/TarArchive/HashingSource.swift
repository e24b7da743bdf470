import OCIModel

/// Passes bytes through while hashing and counting them, optionally refusing to go past a byte limit.
///
/// Placed under a decompressor it yields the blob digest; above it, the diffID of the uncompressed tar.
public final class HashingSource: ByteSource {
    private let upstream: ByteSource
    private let hasher: DigestHasher
    private let limit: Int64?
    private let limitDescription: String
    /// Bytes passed through so far.
    public private(set) var byteCount: Int64 = 0

    /// - Parameters:
    ///   - upstream: Where the bytes come from.
    ///   - algorithm: The digest algorithm.
    ///   - limit: The most bytes this stream may carry; one byte more throws ``TarError/limitExceeded(_:)``.
    ///   - limitDescription: Names the stream in that error (e.g. "uncompressed layer").
    public init(_ upstream: ByteSource, algorithm: Digest.Algorithm = .sha256, limit: Int64? = nil,
                limitDescription: String = "stream") {
        self.upstream = upstream
        self.hasher = DigestHasher(algorithm)
        self.limit = limit
        self.limitDescription = limitDescription
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = try upstream.read(into: buffer)
        if n > 0 {
            hasher.update(UnsafeRawBufferPointer(rebasing: buffer[..<n]))
            byteCount += Int64(n)
            if let limit, byteCount > limit {
                throw TarError.limitExceeded("\(limitDescription) is larger than \(limit) bytes")
            }
        }
        return n
    }

    /// The digest of every byte passed through so far (the stream goes on: the hasher state is copied).
    public func digest() -> Digest {
        hasher.copy().finalize()
    }
}
