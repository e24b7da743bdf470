import COpenSSL

/// A SHA-256 whose running state can be saved as bytes and restored elsewhere: an upload started on one replica
/// continues on another, and the digest is still verified without reading the blob back.
///
/// ``DigestHasher`` wraps an `EVP_MD_CTX`, which is opaque and cannot leave the process. This type keeps OpenSSL's
/// plain `SHA256_CTX` instead (same block function, so the same SHA-NI/AVX2 assembly and speed) and writes its
/// chaining words, byte count and pending partial block in a fixed, versioned, endian-independent format.
///
/// A value type: copying it forks the computation, and ``finalize()`` does not end it.
///
/// ```swift
/// var hash = ResumableSHA256()
/// hash.update(firstChunk)
/// let saved = hash.state()                  // persisted with the upload session
/// var resumed = ResumableSHA256(state: saved)!  // on another machine
/// resumed.update(secondChunk)
/// let digest = resumed.finalize()
/// ```
public struct ResumableSHA256: @unchecked Sendable {
    // @unchecked: SHA256_CTX is a C struct of integers (no pointers), so a copy shares nothing.
    private var context = SHA256_CTX()
    /// Bytes hashed so far.
    public private(set) var byteCount: Int64 = 0

    /// Starts a new computation.
    public init() {
        swsha256_init(&context)
    }

    /// Restores a state written by ``state()``.
    ///
    /// - Parameter state: The saved bytes.
    /// - Returns: nil for anything that is not a well-formed state of a supported version: wrong magic, version or
    ///   length, a pending block that does not match the byte count, a count beyond SHA-256's limit, or a checksum
    ///   that does not match (a truncated or altered record).
    public init?(state: some Collection<UInt8>) {
        let bytes = Array(state)
        guard let parsed = Self.parse(bytes) else { return nil }
        parsed.words.withUnsafeBufferPointer { words in
            parsed.pending.withUnsafeBufferPointer { pending in
                swsha256_import(&context, words.baseAddress, parsed.byteCount, pending.baseAddress,
                                UInt32(pending.count))
            }
        }
        byteCount = Int64(parsed.byteCount)
    }

    /// Feeds raw memory to the hash.
    ///
    /// - Parameter buffer: Bytes to add; an empty buffer is a no-op.
    public mutating func update(_ buffer: UnsafeRawBufferPointer) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        swsha256_update(&context, base, buffer.count)
        byteCount += Int64(buffer.count)
    }

    /// Feeds bytes to the hash (contiguous collections in place, others copied once).
    public mutating func update(_ bytes: some Sequence<UInt8>) {
        let done: Void? = bytes.withContiguousStorageIfAvailable { update(UnsafeRawBufferPointer($0)) }
        if done == nil {
            Array(bytes).withUnsafeBytes { update($0) }
        }
    }

    /// The digest of every byte hashed so far. The computation may continue afterwards.
    public func finalize() -> Digest {
        var raw = [UInt8](repeating: 0, count: 32)
        raw.withUnsafeMutableBufferPointer { swsha256_final(context, $0.baseAddress) }
        return raw.withUnsafeBytes { Digest(uncheckedAlgorithm: .sha256, encoded: DigestHasher.hexEncode($0)) }
    }

    // MARK: - Saved state

    /// Format version 1:
    ///
    /// ```text
    /// "SWH2" | version (1 byte) = 1 | byte count (u64 LE) | h0…h7 (u32 LE each) | pending block (count % 64 bytes)
    ///        | check (4 bytes: the first bytes of SHA-256 over everything before it)
    /// ```
    ///
    /// The pending block's length follows from the byte count, so no length field can disagree with it. Nothing in
    /// it depends on the machine's endianness or on OpenSSL's struct layout.
    static let magic: [UInt8] = Array("SWH2".utf8)
    static let version: UInt8 = 1
    /// SHA-256 counts bits in 64 bits: at most 2^61 - 1 bytes.
    static let maximumByteCount: UInt64 = (1 << 61) - 1
    private static let headerLength = 4 + 1 + 8 + 32
    private static let checkLength = 4

    /// The running state as bytes, to persist and hand to ``init(state:)`` later or elsewhere (49 to 112 bytes).
    public func state() -> [UInt8] {
        var words = [UInt32](repeating: 0, count: 8)
        var count: UInt64 = 0
        var pending = [UInt8](repeating: 0, count: 64)
        let pendingCount = withUnsafePointer(to: context) { ctx in
            words.withUnsafeMutableBufferPointer { w in
                pending.withUnsafeMutableBufferPointer { p in
                    Int(swsha256_export(ctx, w.baseAddress, &count, p.baseAddress))
                }
            }
        }
        var out = Self.magic
        out.reserveCapacity(Self.headerLength + pendingCount + Self.checkLength)
        out.append(Self.version)
        appendLittleEndian(count, to: &out)
        for word in words { appendLittleEndian(word, to: &out) }
        out.append(contentsOf: pending[..<pendingCount])
        out.append(contentsOf: Self.check(out))
        return out
    }

    private struct Parsed {
        var byteCount: UInt64
        var words: [UInt32]
        var pending: [UInt8]
    }

    private static func parse(_ bytes: [UInt8]) -> Parsed? {
        guard bytes.count >= headerLength + checkLength, bytes.count <= headerLength + 63 + checkLength,
              Array(bytes[0..<4]) == magic, bytes[4] == version else { return nil }
        let body = bytes[..<(bytes.count - checkLength)]
        guard bytes[(bytes.count - checkLength)...].elementsEqual(check(body)) else { return nil }
        let count = readLittleEndian(UInt64.self, bytes, at: 5)
        guard count <= maximumByteCount, body.count - headerLength == Int(count % 64) else { return nil }
        let words = (0..<8).map { readLittleEndian(UInt32.self, bytes, at: 13 + 4 * $0) }
        return Parsed(byteCount: count, words: words, pending: Array(body[headerLength...]))
    }

    private static func check(_ bytes: some Collection<UInt8>) -> ArraySlice<UInt8> {
        var hash = SHA256_CTX()
        swsha256_init(&hash)
        Array(bytes).withUnsafeBytes { swsha256_update(&hash, $0.baseAddress, $0.count) }
        var digest = [UInt8](repeating: 0, count: 32)
        digest.withUnsafeMutableBufferPointer { swsha256_final(hash, $0.baseAddress) }
        return digest[..<checkLength]
    }
}

private func appendLittleEndian<T: FixedWidthInteger>(_ value: T, to out: inout [UInt8]) {
    withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
}

private func readLittleEndian<T: FixedWidthInteger>(_: T.Type, _ bytes: [UInt8], at offset: Int) -> T {
    var value = T.zero
    for i in 0..<MemoryLayout<T>.size { value |= T(bytes[offset + i]) << (8 * i) }
    return value
}
