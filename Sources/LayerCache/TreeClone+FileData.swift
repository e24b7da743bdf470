import CLinuxShim
import Glibc
import SystemIO

extension TreeClone {
    /// Creates `destination` (which must not exist) with the bytes of the regular file `source`, holes kept.
    ///
    /// Tries `FICLONE` first (the copy shares extents copy-on-write, so it is instant, holes included, and a later
    /// write to either file never affects the other). Otherwise only the source's data is copied: each range
    /// between holes (`SEEK_DATA`/`SEEK_HOLE`) with `copy_file_range` (in the kernel), or plain read/write when the
    /// kernel refuses it for this pair of filesystems, and the size set with `ftruncate`, so a sparse file stays
    /// sparse (copy_file_range over a whole file would write its holes out as zeros on filesystems without
    /// reflinks).
    /// - Parameter space: Charged with the bytes copied (not those reflinked); stops the copy below its reserve.
    /// - Returns: The number of bytes of data copied or reflinked (holes excluded when copied).
    static func copyFileData(from source: RawPath, to destination: RawPath, space: FreeSpaceGuard? = nil) throws -> Int64 {
        let input = open(source.bytes, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard input >= 0 else { throw SystemError("open \(source)", errno: errno) }
        defer { close(input) }
        let output = open(destination.bytes, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard output >= 0 else { throw SystemError("open \(destination)", errno: errno) }
        defer { close(output) }
        var st = stat()
        guard fstat(input, &st) == 0 else { throw SystemError("fstat \(source)", errno: errno) }
        let size = Int64(st.st_size)
        if size == 0 { return 0 }
        if swshim_ficlone(output, input) == 0 { return size }

        var total: Int64 = 0
        var position: Int64 = 0
        var kernelCopy = true
        while position < size {
            var start = swshim_seek_data(input, position)
            var end: Int64
            if start < 0 {
                if errno == ENXIO { break }  // only a hole is left
                guard errno == EINVAL || errno == EOPNOTSUPP else { throw SystemError("lseek \(source)", errno: errno) }
                (start, end) = (position, size)  // no SEEK_DATA here: the rest is data
            } else {
                end = swshim_seek_hole(input, start)
                if end < 0 { end = size }
            }
            end = min(end, size)  // the size fstat saw: a cached tree does not change
            total += try copyRange(input, output, from: start, to: end, kernelCopy: &kernelCopy, space: space,
                                   source, destination)
            position = end
        }
        if ftruncate(output, off_t(size)) != 0 { throw SystemError("ftruncate \(destination)", errno: errno) }
        return total
    }

    /// Copies bytes `start..<end` of `input` to the same offsets of `output`.
    /// - Parameter kernelCopy: Whether to try `copy_file_range`; cleared once the kernel refuses it.
    /// - Returns: Bytes copied.
    private static func copyRange(_ input: Int32, _ output: Int32, from start: Int64, to end: Int64,
                                  kernelCopy: inout Bool, space: FreeSpaceGuard?, _ source: RawPath,
                                  _ destination: RawPath) throws -> Int64
    {
        guard lseek(input, off_t(start), SEEK_SET) == off_t(start), lseek(output, off_t(start), SEEK_SET) == off_t(start) else {
            throw SystemError("lseek \(source) → \(destination)", errno: errno)
        }
        var done: Int64 = 0
        // Chunks of 64 MiB, so that the free space is checked while a big file is copied.
        let chunk: Int64 = 64 << 20
        while kernelCopy && done < end - start {
            let n = swshim_copy_file_range(input, output, Int(min(chunk, end - start - done)))
            if n > 0 {
                done += Int64(n)
                try space?.charge(Int64(n))
                continue
            }
            if n == 0 { return done }
            switch errno {
            case EINTR: continue
            // Not supported between these filesystems (or by this kernel): copy through user space, from where the
            // kernel stopped (both offsets have moved by `done`).
            case EXDEV, EINVAL, ENOSYS, EOPNOTSUPP: kernelCopy = false
            default: throw SystemError("copy_file_range \(source) → \(destination)", errno: errno)
            }
        }
        var buffer = [UInt8](repeating: 0, count: 256 << 10)
        while done < end - start {
            let want = Int(min(Int64(buffer.count), end - start - done))
            let n = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress!, want) }
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemError("read \(source)", errno: errno)
            }
            if n == 0 { return done }
            try CacheFiles.writeAll(output, Array(buffer[0..<n]), path: destination.description)
            done += Int64(n)
            try space?.charge(Int64(n))
        }
        return done
    }

    /// Copies one regular file given by textual paths.
    static func copyFileData(from source: String, to destination: String) throws -> Int64 {
        try copyFileData(from: RawPath(source), to: RawPath(destination))
    }
}
