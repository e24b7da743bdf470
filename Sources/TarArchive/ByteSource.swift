import Glibc
import SystemIO

/// A pull-based stream of bytes: a file, a decompressor, a hashing tap.
public protocol ByteSource: AnyObject {
    /// Reads up to `buffer.count` bytes into `buffer`.
    /// - Returns: The number of bytes read; 0 only at the end of the stream.
    /// - Throws: ``TarError`` when the stream cannot be read.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

extension ByteSource {
    /// Reads until `buffer` is full or the stream ends.
    /// - Returns: The number of bytes read; less than `buffer.count` only at the end of the stream.
    public func readFully(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var total = 0
        while total < buffer.count {
            let n = try read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[total...]))
            if n == 0 { break }
            total += n
        }
        return total
    }

    /// Reads and discards everything up to the end of the stream.
    /// - Returns: The number of bytes discarded.
    @discardableResult
    public func drain() throws -> Int64 {
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
        defer { scratch.deallocate() }
        var total: Int64 = 0
        while true {
            let n = try read(into: scratch)
            if n == 0 { return total }
            total += Int64(n)
        }
    }
}

/// Reads from a file descriptor it does not own (the caller closes it).
public final class FileDescriptorSource: ByteSource {
    /// The descriptor read from.
    public let fileDescriptor: Int32

    public init(fileDescriptor: Int32) {
        self.fileDescriptor = fileDescriptor
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        while true {
            let n = Glibc.read(fileDescriptor, base, buffer.count)
            if n >= 0 { return n }
            if errno == EINTR { continue }
            throw TarError.io(SystemError("read", errno: errno))
        }
    }
}

/// Serves bytes held in memory: small archives in tests, prefixes already read by format detection.
public final class BytesSource: ByteSource {
    private let bytes: [UInt8]
    private var position = 0

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = min(buffer.count, bytes.count - position)
        guard n > 0 else { return 0 }
        bytes.withUnsafeBytes { raw in
            buffer.baseAddress!.copyMemory(from: raw.baseAddress! + position, byteCount: n)
        }
        position += n
        return n
    }
}

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
