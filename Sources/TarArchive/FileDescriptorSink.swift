import Glibc
import SystemIO

/// Writes to a file descriptor it does not own, in 256 KiB batches.
public final class FileDescriptorSink: ByteSink {
    /// The descriptor written to.
    public let fileDescriptor: Int32
    private let buffer: UnsafeMutableRawBufferPointer
    private var used = 0

    public init(fileDescriptor: Int32, bufferSize: Int = 256 * 1024) {
        self.fileDescriptor = fileDescriptor
        self.buffer = .allocate(byteCount: max(bufferSize, 4096), alignment: 16)
    }

    deinit { buffer.deallocate() }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count > 0 else { return }
        if used + bytes.count <= buffer.count {
            buffer.baseAddress!.advanced(by: used).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
            used += bytes.count
            return
        }
        try flush()
        if bytes.count >= buffer.count / 2 {
            try writeAll(bytes)
        } else {
            buffer.baseAddress!.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
            used = bytes.count
        }
    }

    public func finish() throws {
        try flush()
    }

    private func flush() throws {
        guard used > 0 else { return }
        try writeAll(UnsafeRawBufferPointer(rebasing: buffer[..<used]))
        used = 0
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(fileDescriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw TarError.io(SystemError("write", errno: errno))
            }
            offset += n
        }
    }
}
