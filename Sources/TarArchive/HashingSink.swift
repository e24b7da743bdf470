import OCIModel

/// Passes bytes down to another sink while hashing and counting them.
public final class HashingSink: ByteSink {
    private let downstream: ByteSink
    private let hasher: DigestHasher
    /// Bytes passed through so far.
    public private(set) var byteCount: Int64 = 0

    public init(_ downstream: ByteSink, algorithm: Digest.Algorithm = .sha256) {
        self.downstream = downstream
        self.hasher = DigestHasher(algorithm)
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        hasher.update(bytes)
        byteCount += Int64(bytes.count)
        try downstream.write(bytes)
    }

    public func finish() throws {
        try downstream.finish()
    }

    /// The digest of every byte passed through so far.
    public func digest() -> Digest {
        hasher.copy().finalize()
    }
}
