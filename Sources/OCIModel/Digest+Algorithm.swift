extension Digest {
    /// A registered digest algorithm (descriptor.md, "Registered algorithms").
    ///
    /// An enum rather than a string: an algorithm we cannot compute cannot be verified, so it is
    /// rejected at parse time (see ``DigestError/unsupportedAlgorithm(_:)``).
    public enum Algorithm: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
        /// SHA-256; implementations MUST support it, and it is what everyone uses.
        case sha256
        /// SHA-512; optional in the spec, cheap to support since OpenSSL provides it.
        case sha512

        /// Number of hex characters in the encoded portion.
        public var encodedLength: Int {
            switch self {
            case .sha256: 64
            case .sha512: 128
            }
        }

        /// Number of raw bytes the hash produces.
        public var byteCount: Int { encodedLength / 2 }

        public var description: String { rawValue }
    }
}
