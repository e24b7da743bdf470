import COpenSSL

/// Computes a digest incrementally, for blobs that arrive in chunks and must never be held whole.
///
/// Backed by OpenSSL's EVP interface, which uses the CPU's SHA extensions (SHA-NI, ARMv8 crypto)
/// when present; buffers go straight to `EVP_DigestUpdate` with no per-byte Swift work.
///
/// A final class rather than a `~Copyable` struct so it can be stored in upload sessions and handed
/// to C callbacks (libcurl write functions) through an `Unmanaged` pointer. It is deliberately not
/// `Sendable`: the OpenSSL context is mutable state that one task owns at a time.
///
/// ```swift
/// let hasher = DigestHasher(.sha256)
/// for chunk in body { hasher.update(chunk) }
/// let digest = hasher.finalize()
/// ```
public final class DigestHasher {
    /// The algorithm this hasher computes.
    public let algorithm: Digest.Algorithm
    /// Total bytes passed to `update` so far; lets callers check `size` alongside `digest`.
    public private(set) var byteCount: Int64 = 0

    private let context: OpaquePointer
    private var finalized = false

    /// Starts a new hash computation.
    ///
    /// - Parameter algorithm: The digest algorithm; SHA-256 unless a descriptor says otherwise.
    public init(_ algorithm: Digest.Algorithm = .sha256) {
        self.algorithm = algorithm
        // Both calls fail only on allocation failure (or a FIPS provider that bans SHA-2, which
        // none does); there is no meaningful recovery, so treat it like any other out-of-memory.
        guard let context = EVP_MD_CTX_new() else { fatalError("EVP_MD_CTX_new: out of memory") }
        self.context = context
        let md = switch algorithm {
        case .sha256: EVP_sha256()
        case .sha512: EVP_sha512()
        }
        guard EVP_DigestInit_ex(context, md, nil) == 1 else {
            EVP_MD_CTX_free(context)
            fatalError("EVP_DigestInit_ex(\(algorithm)) failed")
        }
    }

    private init(copying other: DigestHasher) {
        algorithm = other.algorithm
        byteCount = other.byteCount
        guard let context = EVP_MD_CTX_new() else { fatalError("EVP_MD_CTX_new: out of memory") }
        guard EVP_MD_CTX_copy_ex(context, other.context) == 1 else {
            EVP_MD_CTX_free(context)
            fatalError("EVP_MD_CTX_copy_ex failed")
        }
        self.context = context
    }

    deinit {
        EVP_MD_CTX_free(context)
    }

    /// Feeds raw memory to the hash.
    ///
    /// - Parameter buffer: Bytes to add; an empty buffer is a no-op.
    public func update(_ buffer: UnsafeRawBufferPointer) {
        precondition(!finalized, "DigestHasher.update after finalize")
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        // EVP_DigestUpdate only fails for a context that was never initialised.
        let ok = EVP_DigestUpdate(context, base, buffer.count)
        precondition(ok == 1, "EVP_DigestUpdate failed")
        byteCount += Int64(buffer.count)
    }

    /// Feeds bytes to the hash.
    ///
    /// Arrays, `ArraySlice`, `Data` and other contiguous collections are hashed in place; anything
    /// else is first copied into one contiguous buffer.
    /// - Parameter bytes: Bytes to add.
    public func update(_ bytes: some Sequence<UInt8>) {
        let done: Void? = bytes.withContiguousStorageIfAvailable { update(UnsafeRawBufferPointer($0)) }
        if done == nil {
            Array(bytes).withUnsafeBytes { update($0) }
        }
    }

    /// Returns an independent hasher holding the same state, e.g. to report the digest of what has
    /// been received so far while the upload continues.
    public func copy() -> DigestHasher {
        precondition(!finalized, "DigestHasher.copy after finalize")
        return DigestHasher(copying: self)
    }

    /// Finishes the computation.
    ///
    /// Call it once; updating or finalizing again is a programming error and traps.
    /// - Returns: The digest of every byte passed to `update`.
    public func finalize() -> Digest {
        precondition(!finalized, "DigestHasher.finalize called twice")
        finalized = true
        var raw = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        return withUnsafeMutableBytes(of: &raw) { buffer in
            var length: UInt32 = 0
            let ok = EVP_DigestFinal_ex(context, buffer.baseAddress!.assumingMemoryBound(to: UInt8.self), &length)
            precondition(ok == 1 && Int(length) == algorithm.byteCount, "EVP_DigestFinal_ex failed")
            let hex = DigestHasher.hexEncode(UnsafeRawBufferPointer(rebasing: buffer[..<Int(length)]))
            return Digest(uncheckedAlgorithm: algorithm, encoded: hex)
        }
    }

    /// Lowercase hex, as the digest grammar requires for registered algorithms.
    static func hexEncode(_ bytes: UnsafeRawBufferPointer) -> String {
        let digits: StaticString = "0123456789abcdef"
        return String(unsafeUninitializedCapacity: bytes.count * 2) { out in
            digits.withUTF8Buffer { table in
                for (i, byte) in bytes.enumerated() {
                    out[2 * i] = table[Int(byte >> 4)]
                    out[2 * i + 1] = table[Int(byte & 0x0F)]
                }
            }
            return bytes.count * 2
        }
    }
}

@available(*, unavailable, message: "a DigestHasher wraps mutable OpenSSL state; keep it in one task")
extension DigestHasher: Sendable {}
