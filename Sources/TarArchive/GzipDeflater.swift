import CZlib

/// Compresses to gzip (RFC 1952) as bytes are written, passing the result to `downstream`.
///
/// Output is deterministic for the same input and level: zlib writes a header with no file name, a zero mtime and
/// a fixed OS byte (3, Unix), so the same tar always yields the same blob digest.
public final class GzipDeflater: ByteSink {
    private let downstream: ByteSink
    private let stream: UnsafeMutablePointer<z_stream>
    private let output: UnsafeMutableRawBufferPointer
    private var finished = false

    /// - Parameters:
    ///   - downstream: Receives the compressed bytes.
    ///   - level: zlib level, 0 (store) … 9 (smallest); 6 is gzip's default.
    /// - Throws: ``TarError/compression(_:)`` if zlib cannot be initialised (e.g. a bad level).
    public init(_ downstream: ByteSink, level: Int32 = 6) throws {
        self.downstream = downstream
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        output = .allocate(byteCount: 128 * 1024, alignment: 16)
        let rc = swz_deflateInit2(stream, level, 16 + 15)
        guard rc == Z_OK else {
            stream.deallocate()
            output.deallocate()
            throw TarError.compression("deflateInit2 failed (\(rc)); level \(level)")
        }
    }

    deinit {
        deflateEnd(stream)
        stream.deallocate()
        output.deallocate()
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard !finished else { throw TarError.usage("write after finish on a gzip stream") }
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        var offset = 0
        while offset < bytes.count {
            // avail_in is 32-bit: feed huge buffers in slices.
            let chunk = min(bytes.count - offset, 1 << 30)
            stream.pointee.next_in = UnsafeMutablePointer(mutating: (base + offset).assumingMemoryBound(to: Bytef.self))
            stream.pointee.avail_in = UInt32(chunk)
            while stream.pointee.avail_in > 0 {
                try deflateStep(flush: Z_NO_FLUSH)
            }
            offset += chunk
        }
    }

    public func finish() throws {
        guard !finished else { return }
        finished = true
        stream.pointee.next_in = nil
        stream.pointee.avail_in = 0
        while try deflateStep(flush: Z_FINISH) != Z_STREAM_END {}
        try downstream.finish()
    }

    @discardableResult
    private func deflateStep(flush: Int32) throws -> Int32 {
        stream.pointee.next_out = output.baseAddress!.assumingMemoryBound(to: Bytef.self)
        stream.pointee.avail_out = UInt32(output.count)
        let rc = deflate(stream, flush)
        guard rc == Z_OK || rc == Z_STREAM_END || rc == Z_BUF_ERROR else {
            throw TarError.compression("deflate failed (\(rc))")
        }
        let produced = output.count - Int(stream.pointee.avail_out)
        if produced > 0 { try downstream.write(UnsafeRawBufferPointer(rebasing: output[..<produced])) }
        return rc
    }
}
