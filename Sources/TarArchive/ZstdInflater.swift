import CLinuxShim

/// Decompresses a zstd stream (RFC 8878) as it is read, frame after frame.
///
/// libzstd is loaded at run time (`libzstd.so.1`, present on every Debian system), so the build needs no zstd
/// headers; ``isAvailable`` says whether it could be loaded. The decoder keeps libzstd's default window limit
/// (128 MiB), so a hostile frame header cannot make it allocate more. A stream cut inside a frame is an error.
public final class ZstdInflater: ByteSource {
    private let upstream: ByteSource
    private let stream: UnsafeMutableRawPointer
    private let input: UnsafeMutableRawBufferPointer
    private var inputSize = 0
    private var inputPosition = 0
    private var upstreamEnded = false
    /// Whether the last step ended a frame (so the stream may end here).
    private var atFrameBoundary = true
    private var finished = false

    /// Whether libzstd could be loaded.
    public static var isAvailable: Bool { swshim_zstd_available() != 0 }

    /// - Parameters:
    ///   - upstream: The compressed bytes.
    ///   - prefix: Bytes already taken from `upstream` (by format detection) that come first.
    /// - Throws: ``TarError/unsupported(_:)`` when libzstd is not installed.
    public init(_ upstream: ByteSource, prefix: [UInt8] = []) throws {
        guard let stream = swshim_zstd_create() else {
            throw TarError.unsupported("zstd-compressed data: libzstd.so.1 cannot be loaded")
        }
        self.upstream = upstream
        self.stream = stream
        input = .allocate(byteCount: 128 * 1024, alignment: 16)
        prefix.withUnsafeBytes { raw in
            if raw.count > 0 { input.baseAddress!.copyMemory(from: raw.baseAddress!, byteCount: raw.count) }
        }
        inputSize = prefix.count
    }

    deinit {
        swshim_zstd_free(stream)
        input.deallocate()
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard !finished, let out = buffer.baseAddress, buffer.count > 0 else { return 0 }
        var produced = 0
        while produced == 0 {
            if inputPosition == inputSize && !upstreamEnded {
                let n = try upstream.read(into: input)
                if n == 0 { upstreamEnded = true } else { inputSize = n; inputPosition = 0 }
            }
            if inputPosition == inputSize && upstreamEnded {
                guard atFrameBoundary else { throw TarError.truncated("zstd stream ends in the middle of a frame") }
                finished = true
                return 0
            }
            var error: UnsafePointer<CChar>?
            let before = inputPosition
            let rc = swshim_zstd_decompress(stream, input.baseAddress!, inputSize, &inputPosition, out, buffer.count,
                                            &produced, &error)
            if rc < 0 {
                throw TarError.compression("zstd: " + (error.map { String(cString: $0) } ?? "error"))
            }
            atFrameBoundary = rc == 0
            if produced == 0 && inputPosition == before && inputPosition < inputSize {
                throw TarError.compression("zstd: decoder made no progress")
            }
        }
        return produced
    }
}
