import Glibc
import OCIModel
import SystemIO

/// Blocking file work of local transports (copying and hashing blobs), kept off Swift's cooperative threads.
enum BlobFiles {
    static let pool = BlockingPool(threadCount: 4)
    static let bufferSize = 1 << 20

    /// Copies `source` to `destination` (created or truncated), hashing on the way (`moveIntoPlace` makes it durable). On a
    /// size or digest mismatch, or any error, `destination` is removed.
    static func copyVerified(from source: String, to destination: String, descriptor: Descriptor,
                             progress: BlobProgress?) async throws {
        try await pool.run {
            try copyVerifiedBlocking(from: source, to: destination, descriptor: descriptor, progress: progress)
        }
    }

    /// Hashes the file at `path` and checks it against `descriptor`.
    static func verify(_ path: String, descriptor: Descriptor) async throws {
        try await pool.run {
            try copyVerifiedBlocking(from: path, to: nil, descriptor: descriptor, progress: nil)
        }
    }

    private static func copyVerifiedBlocking(from source: String, to destination: String?, descriptor: Descriptor,
                                             progress: BlobProgress?) throws {
        let what = "blob \(descriptor.digest)"
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else {
            if errno == ENOENT { throw TransportError.invalidImage(what, reason: "missing (\(source))") }
            throw SystemError("open \(source)", errno: errno)
        }
        defer { close(input) }
        var output: Int32 = -1
        if let destination {
            output = open(destination, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard output >= 0 else { throw SystemError("open \(destination)", errno: errno) }
        }
        var succeeded = false
        defer {
            if output >= 0 { close(output) }
            if !succeeded, let destination { unlink(destination) }
        }
        let hasher = DigestHasher(descriptor.digest.algorithm)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferSize, alignment: 16)
        defer { buffer.deallocate() }
        var total: Int64 = 0
        while true {
            let n = read(input, buffer.baseAddress, bufferSize)
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemError("read \(source)", errno: errno)
            }
            if n == 0 { break }
            total += Int64(n)
            if total > descriptor.size {
                throw TransportError.sizeMismatch(what: what, expected: descriptor.size, actual: total)
            }
            let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
            hasher.update(chunk)
            if output >= 0 { try FileSystem.writeAll(output, chunk) }
            progress?(total, descriptor.size)
        }
        if total != descriptor.size {
            throw TransportError.sizeMismatch(what: what, expected: descriptor.size, actual: total)
        }
        let actual = hasher.finalize()
        if actual != descriptor.digest {
            throw TransportError.digestMismatch(what: what, expected: descriptor.digest, actual: actual)
        }
        succeeded = true
    }

    /// Reads a manifest file named by its descriptor, checking its size (≤ 4 MiB) and digest.
    static func readManifest(at path: String, descriptor: Descriptor, what: String) throws -> ManifestData {
        guard descriptor.size <= Int64(OCILayout.maxManifestBytes) else {
            throw TransportError.invalidImage(what, reason: "\(descriptor.size) bytes is over the 4 MiB manifest limit")
        }
        let bytes = try readSmall(path, limit: OCILayout.maxManifestBytes, what: what)
        let actual = Digest.compute(descriptor.digest.algorithm, of: bytes)
        guard actual == descriptor.digest else {
            throw TransportError.digestMismatch(what: what, expected: descriptor.digest, actual: actual)
        }
        guard Int64(bytes.count) == descriptor.size else {
            throw TransportError.sizeMismatch(what: what, expected: descriptor.size, actual: Int64(bytes.count))
        }
        return ManifestData(bytes: bytes, mediaType: descriptor.mediaType, digest: actual)
    }

    /// Reads a small file whole (manifests, configs, index.json), refusing one over `limit` bytes.
    static func readSmall(_ path: String, limit: Int, what: String) throws -> [UInt8] {
        guard let bytes = try FileSystem.read(path, maxBytes: limit) else {
            throw TransportError.invalidImage(what, reason: "missing (\(path))")
        }
        return bytes
    }

    /// `moveIntoPlace` on the pool: the fsync of a big blob must not hold one of Swift's few cooperative threads.
    static func moveIntoPlace(_ staged: String, _ destination: String) async throws {
        try await pool.run { try moveIntoPlaceBlocking(staged, destination) }
    }

    /// Moves a staged file into place durably: fsync its data (a crash must not leave a short file under a
    /// digest name), rename, then fsync the directory.
    static func moveIntoPlaceBlocking(_ staged: String, _ destination: String) throws {
        let fd = open(staged, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("open \(staged)", errno: errno) }
        let synced = fsync(fd) == 0 ? 0 : errno
        close(fd)
        if synced != 0 {
            unlink(staged)
            throw SystemError("fsync \(staged)", errno: synced)
        }
        if rename(staged, destination) != 0 {
            let code = errno
            unlink(staged)
            throw SystemError("rename \(staged) to \(destination)", errno: code)
        }
        try FileSystem.syncDirectory(FileSystem.parent(of: destination))
    }
}
