/// How a tar stream is compressed.
public enum TarCompression: Sendable, Hashable, CustomStringConvertible {
    case none, gzip, zstd

    public var description: String {
        switch self {
        case .none: "uncompressed"
        case .gzip: "gzip"
        case .zstd: "zstd"
        }
    }
}

/// Opens a possibly compressed stream for reading its plain bytes.
public enum Decompressor {
    /// Recognises the compression by its magic number and returns a source of the decompressed bytes.
    ///
    /// gzip (`1f 8b`) and zstd (`28 b5 2f fd`) are decompressed; anything else passes through unchanged (a plain
    /// tar).
    /// - Parameters:
    ///   - source: The stream as stored (its first bytes are read here and replayed).
    ///   - verifyChecksums: Check the format's own checksums (gzip's CRC-32); a caller that checks a digest of the
    ///     decompressed bytes may skip them.
    /// - Returns: The detected compression and the decompressed stream.
    /// - Throws: ``TarError/unsupported(_:)`` for zstd when libzstd cannot be loaded.
    public static func open(_ source: ByteSource, verifyChecksums: Bool = true)
        throws -> (compression: TarCompression, stream: ByteSource)
    {
        var magic = [UInt8](repeating: 0, count: 4)
        let n = try magic.withUnsafeMutableBytes { try source.readFully(into: $0) }
        magic.removeLast(4 - n)
        if magic.count >= 2 && magic[0] == 0x1f && magic[1] == 0x8b {
            return (.gzip, try GzipInflater(source, prefix: magic, verifyChecksum: verifyChecksums))
        }
        if magic == [0x28, 0xb5, 0x2f, 0xfd] {
            return (.zstd, try ZstdInflater(source, prefix: magic))
        }
        return (.none, PrefixedSource(prefix: magic, upstream: source))
    }
}
