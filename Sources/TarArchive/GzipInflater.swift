import CZlib

/// Decompresses a gzip stream (RFC 1952) as it is read, including multi-member files (`cat a.gz b.gz`).
///
/// Zero bytes after the last member are tolerated (some tools pad to a block size); anything else after it, a
/// corrupt member or a stream cut short is an error, so a truncated download never passes for a short layer.
public final class GzipInflater: ByteSource {
    private let upstream: ByteSource
    // z_stream holds a back-pointer that inflate checks, so it must never move: it lives on the heap.
    private let stream: UnsafeMutablePointer<z_stream>
    private let input: UnsafeMutableRawBufferPointer
    private var upstreamEnded = false
    private var betweenMembers = false
    private var finished = false
    private var membersCompleted = 0

    /// - Parameters:
    ///   - upstream: The compressed bytes.
    ///   - prefix: Bytes already taken from `upstream` (by format detection) that come first.
    ///   - verifyChecksum: Check each member's CRC-32 and length; turn it off only when a digest of the
    ///     decompressed bytes is checked instead (it saves a CRC pass over every byte).
    /// - Throws: ``TarError/compression(_:)`` if zlib cannot be initialised.
    public init(_ upstream: ByteSource, prefix: [UInt8] = [], verifyChecksum: Bool = true) throws {
        self.upstream = upstream
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        input = .allocate(byteCount: 128 * 1024, alignment: 16)
        prefix.withUnsafeBytes { raw in
            if raw.count > 0 { input.baseAddress!.copyMemory(from: raw.baseAddress!, byteCount: raw.count) }
        }
        stream.pointee.next_in = input.baseAddress!.assumingMemoryBound(to: Bytef.self)
        stream.pointee.avail_in = UInt32(prefix.count)
        // 16 + 15: gzip wrapper only, 32 KiB window.
        let rc = swz_inflateInit2(stream, 16 + 15)
        guard rc == Z_OK else {
            stream.deallocate()
            input.deallocate()
            throw TarError.compression("inflateInit2 failed (\(rc))")
        }
        // inflateReset between members keeps this setting.
        if !verifyChecksum { _ = swz_inflateSkipCheck(stream) }
    }

    deinit {
        inflateEnd(stream)
        stream.deallocate()
        input.deallocate()
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard !finished, let out = buffer.baseAddress, buffer.count > 0 else { return 0 }
        let capacity = UInt32(min(buffer.count, Int(UInt32.max)))
        stream.pointee.next_out = out.assumingMemoryBound(to: Bytef.self)
        stream.pointee.avail_out = capacity
        while stream.pointee.avail_out == capacity {
            if stream.pointee.avail_in == 0 && !upstreamEnded {
                let n = try upstream.read(into: input)
                if n == 0 {
                    upstreamEnded = true
                } else {
                    stream.pointee.next_in = input.baseAddress!.assumingMemoryBound(to: Bytef.self)
                    stream.pointee.avail_in = UInt32(n)
                }
            }
            if betweenMembers {
                // Skip zero padding; a non-zero byte starts the next member.
                while stream.pointee.avail_in > 0 && stream.pointee.next_in.pointee == 0 {
                    stream.pointee.next_in += 1
                    stream.pointee.avail_in -= 1
                }
                if stream.pointee.avail_in == 0 {
                    if upstreamEnded {
                        finished = true
                        return 0
                    }
                    continue
                }
                guard inflateReset(stream) == Z_OK else { throw TarError.compression("inflateReset failed") }
                betweenMembers = false
            }
            let availableBefore = stream.pointee.avail_in
            let rc = inflate(stream, Z_NO_FLUSH)
            switch rc {
            case Z_STREAM_END:
                membersCompleted += 1
                betweenMembers = true
            case Z_OK:
                break
            case Z_BUF_ERROR:
                // No progress possible: zlib needs input we do not have.
                if upstreamEnded { throw truncation() }
            case Z_NEED_DICT:
                throw TarError.compression("gzip member needs a preset dictionary")
            case Z_MEM_ERROR:
                throw TarError.compression("out of memory in inflate")
            default:
                let message = stream.pointee.msg.map { String(cString: $0) } ?? "error \(rc)"
                throw TarError.compression(membersCompleted > 0 && availableBefore > 0
                    ? "data after the end of the gzip stream is not gzip (\(message))" : message)
            }
            if rc == Z_OK && stream.pointee.avail_in == 0 && upstreamEnded
                && stream.pointee.avail_out == capacity {
                throw truncation()
            }
        }
        return Int(capacity - stream.pointee.avail_out)
    }

    private func truncation() -> TarError {
        .truncated("gzip stream ends in the middle of a member")
    }
}
