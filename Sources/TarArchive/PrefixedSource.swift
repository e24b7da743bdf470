/// Serves a few bytes already taken from `upstream` (to sniff a magic number), then the rest of `upstream`.
final class PrefixedSource: ByteSource {
    private var prefix: [UInt8]
    private let upstream: ByteSource

    init(prefix: [UInt8], upstream: ByteSource) {
        self.prefix = prefix
        self.upstream = upstream
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if prefix.isEmpty { return try upstream.read(into: buffer) }
        let n = min(buffer.count, prefix.count)
        prefix.withUnsafeBytes { raw in buffer.baseAddress!.copyMemory(from: raw.baseAddress!, byteCount: n) }
        prefix.removeFirst(n)
        return n
    }
}
