/// Size limits the parser enforces before any handler runs.
public struct ParserLimits: Sendable {
    /// Longest request line, in bytes; longer gets 414.
    public var maxRequestLine = 8 * 1024
    /// Longest header section (request line included), in bytes; longer gets 431.
    public var maxHeaderBytes = 64 * 1024
    /// Most header fields; more gets 431.
    public var maxHeaderCount = 128
    /// Longest chunk-size line with extensions, and longest trailer section, in bytes.
    public var maxChunkLine = 4 * 1024
    public var maxTrailerBytes = 16 * 1024

    public init() {}
}
