import BlobStore
import Glibc
import OCIModel
import Synchronization
import SystemIO

extension Verifier {
    /// Every stored blob (stray files reported on the way), or, for named repositories, the stored blobs they link.
    func blobsToCheck(_ names: [RepositoryName]) throws -> [Digest] {
        guard !options.repositories.isEmpty else {
            var digests: [Digest] = []
            let invalid = try store.forEachBlob { digests.append($0) }
            for path in invalid {
                found(VerifyProblem(.strayEntry, repository: nil, subject: path,
                                    detail: "not a blob of this store (no digest, or in another digest's folder); never served"))
            }
            return digests
        }
        var digests = Set<Digest>()
        for name in names {
            digests.formUnion(try store.layerLinks(name).entries)
            digests.formUnion(try store.revisionLinks(name).entries)
        }
        return digests.filter { store.blobSize($0) != nil }.sorted()
    }

    /// Hashes `digests` on `options.jobs` threads, each taking the next blob from a shared counter. Progress is
    /// by bytes (a single large blob would otherwise show nothing for minutes), with the blobs done beside.
    func checkBlobs(_ digests: [Digest]) throws {
        let counters = Counters()
        let totalMiB = Int(digests.reduce(Int64(0)) { $0 + (store.blobSize($1) ?? 0) } >> 20)
        let showProgress = { [output] in
            let mib = Int(counters.bytes.load(ordering: .relaxed) >> 20)
            output.progress(done: min(mib, totalMiB), total: totalMiB,
                            what: "MiB hashed, \(counters.done.load(ordering: .relaxed))/\(digests.count) blobs")
        }
        let work = { [self] in
            // One buffer per thread, reused: blobs are streamed, never held whole.
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
            defer { buffer.deallocate() }
            while !options.shouldStop() {
                let index = counters.next.add(1, ordering: .relaxed).oldValue
                guard index < digests.count else { return }
                checkBlob(digests[index], buffer: buffer) { bytes in
                    counters.bytes.add(Int64(bytes), ordering: .relaxed)
                    showProgress()
                }
                counters.done.add(1, ordering: .relaxed)
                showProgress()
            }
        }
        let threads = (0..<min(options.jobs, max(1, digests.count)) - 1).map { _ in
            SystemIO.Thread.start(name: "swr-verify", work)
        }
        work()
        for thread in threads { pthread_join(thread, nil) }
    }

    /// Re-hashes one blob; reports (and quarantines) it when its content is not what its name says.
    /// - Parameter hashed: called with the size of each chunk hashed.
    private func checkBlob(_ digest: Digest, buffer: UnsafeMutableRawBufferPointer, hashed: (Int) -> Void) {
        let path = store.layout.blob(digest)
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else {
            // Gone since the listing: deleted by a garbage collection, or quarantined by another run.
            if errno == ENOENT { return }
            return unreadable(digest, SystemError("open", errno: errno))
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return unreadable(digest, SystemError("fstat", errno: errno)) }
        // Reading may take long for a large blob on a busy disk; the kernel reads ahead for sequential access.
        _ = posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL)
        let hasher = DigestHasher(digest.algorithm)
        var chunks = 0
        while true {
            // A blob of many GiB takes minutes: a stop is heeded within it too (the blob then counts as unchecked).
            chunks += 1
            if chunks % 64 == 0 && options.shouldStop() { return }
            let n = read(fd, buffer.baseAddress, buffer.count)
            if n < 0 {
                if errno == EINTR { continue }
                return unreadable(digest, SystemError("read", errno: errno))
            }
            if n == 0 { break }
            hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            hashed(n)
        }
        let size = hasher.byteCount
        let actual = hasher.finalize()
        report.withLock {
            $0.blobs += 1
            $0.bytes += size
        }
        guard actual != digest else { return }
        damaged.withLock { _ = $0.insert(digest) }
        let device = UInt64(st.st_dev), inode = UInt64(st.st_ino)
        found(VerifyProblem(.corruptBlob, repository: nil, subject: digest.description,
                            detail: "content (\(size) bytes) hashes to \(actual)")) { [store] () throws(StoreError) -> String? in
            try store.quarantineBlob(digest, device: device, inode: inode).map { "moved to \($0), no longer served" }
        }
    }

    private func unreadable(_ digest: Digest, _ error: SystemError) {
        found(VerifyProblem(.unreadableBlob, repository: nil, subject: digest.description, detail: "\(error)"))
    }
}

/// Shared by the hashing threads: the next blob to take, how many are done, and the bytes hashed.
private final class Counters: Sendable {
    let next = Atomic<Int>(0)
    let done = Atomic<Int>(0)
    let bytes = Atomic<Int64>(0)
}
