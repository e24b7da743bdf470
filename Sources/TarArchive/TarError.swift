import SystemIO

/// Why a tar or gzip stream could not be read or written.
///
/// Every malformed, truncated or hostile input ends in one of these, never in a crash; `offset` is the position in
/// the uncompressed tar stream where the problem was found.
public enum TarError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The input ended before the archive did (inside a header, an entry's content, or a gzip member).
    case truncated(String)
    /// A header block's checksum does not match its content: corrupt data, or not a tar archive at all.
    case badChecksum(offset: Int64)
    /// A header or extended header breaks the format.
    case malformed(offset: Int64, String)
    /// A valid feature this implementation does not handle (multi-volume archives, unknown PAX sparse versions,
    /// zstd).
    case unsupported(String)
    /// A size or count is over a configured limit (bounds memory for hostile size fields).
    case limitExceeded(String)
    /// The compressed stream is corrupt, or the compressor failed.
    case compression(String)
    /// A read or write on a descriptor failed.
    case io(SystemError)
    /// The API was used out of order (content longer than the declared size, an entry appended mid-content).
    case usage(String)

    public var description: String {
        switch self {
        case let .truncated(what): "tar: truncated input: \(what)"
        case let .badChecksum(offset): "tar: header checksum mismatch at offset \(offset) (corrupt or not a tar archive)"
        case let .malformed(offset, what): "tar: malformed header at offset \(offset): \(what)"
        case let .unsupported(what): "tar: unsupported: \(what)"
        case let .limitExceeded(what): "tar: limit exceeded: \(what)"
        case let .compression(what): "tar: compressed stream: \(what)"
        case let .io(error): "tar: \(error)"
        case let .usage(what): "tar: \(what)"
        }
    }
}
