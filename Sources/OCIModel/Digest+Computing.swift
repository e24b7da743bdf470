extension Digest {
    /// Computes the SHA-256 digest of bytes held in memory (manifests, configs, test data).
    ///
    /// For blobs, stream through a ``DigestHasher`` instead of collecting them.
    /// - Parameter bytes: The exact bytes; for manifests, the bytes as received, never re-encoded.
    /// - Returns: `sha256:<hex>`.
    public static func sha256(of bytes: some Sequence<UInt8>) -> Digest {
        compute(.sha256, of: bytes)
    }

    /// Computes the SHA-512 digest of bytes held in memory.
    public static func sha512(of bytes: some Sequence<UInt8>) -> Digest {
        compute(.sha512, of: bytes)
    }

    /// Computes the digest of `bytes` with `algorithm`, e.g. to verify content against a descriptor
    /// whose digest uses SHA-512.
    public static func compute(_ algorithm: Algorithm, of bytes: some Sequence<UInt8>) -> Digest {
        let hasher = DigestHasher(algorithm)
        hasher.update(bytes)
        return hasher.finalize()
    }
}
