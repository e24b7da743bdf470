/// A push-based destination for bytes: a file, a compressor, a hashing tap.
public protocol ByteSink: AnyObject {
    /// Consumes all of `bytes`.
    /// - Throws: ``TarError`` when they cannot be written.
    func write(_ bytes: UnsafeRawBufferPointer) throws
    /// Flushes buffered bytes and trailers (a gzip footer) down the chain; the descriptor stays open.
    func finish() throws
}
