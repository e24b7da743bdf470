import CLinuxShim
import Glibc
import SystemIO

extension TreeClone {
    /// Creates `destination` (which must not exist) with the bytes of the regular file `source`.
    ///
    /// Tries, in order: `FICLONE` (the copy shares extents copy-on-write, so it is instant and a later write to
    /// either file never affects the other), `copy_file_range` (copied in the kernel), and plain read/write when the
    /// kernel refuses both for this pair of filesystems.
    /// - Returns: The number of bytes copied.
    static func copyFileData(from source: RawPath, to destination: RawPath) throws -> Int64 {
        let input = open(source.bytes, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard input >= 0 else { throw SystemError("open \(source)", errno: errno) }
        defer { close(input) }
        let output = open(destination.bytes, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard output >= 0 else { throw SystemError("open \(destination)", errno: errno) }
        defer { close(output) }
        var st = stat()
        guard fstat(input, &st) == 0 else { throw SystemError("fstat \(source)", errno: errno) }
        if st.st_size == 0 { return 0 }
        if swshim_ficlone(output, input) == 0 { return Int64(st.st_size) }

        var total: Int64 = 0
        var kernelCopy = true
        while kernelCopy {
            let n = swshim_copy_file_range(input, output, 1 << 30)
            if n > 0 {
                total += Int64(n)
                if total >= Int64(st.st_size) { return total }  // the size fstat saw: a cached tree does not change
                continue
            }
            if n == 0 { return total }
            switch errno {
            case EINTR: continue
            // Not supported between these filesystems (or by this kernel): copy through user space, from where the
            // kernel stopped (both offsets have moved by `total`).
            case EXDEV, EINVAL, ENOSYS, EOPNOTSUPP: kernelCopy = false
            default: throw SystemError("copy_file_range \(source) → \(destination)", errno: errno)
            }
        }
        var buffer = [UInt8](repeating: 0, count: 256 << 10)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress!, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemError("read \(source)", errno: errno)
            }
            if n == 0 { return total }
            try CacheFiles.writeAll(output, Array(buffer[0..<n]), path: destination.description)
            total += Int64(n)
        }
    }

    /// Copies one regular file given by textual paths.
    static func copyFileData(from source: String, to destination: String) throws -> Int64 {
        try copyFileData(from: RawPath(source), to: RawPath(destination))
    }
}
