import Glibc
import OCIModel
import Synchronization
import SystemIO

/// Uploads: `uploads/<id>/data` holds the bytes, appended by an `UploadWriter` (pipelined hashing and writing on
/// the pool, back-pressure, bounded write-back); commit verifies, syncs and renames the data file under its digest.
extension FileBlobStorage {
    /// Makes the upload's folder: first the marker `begun` (so that `BlobStore`'s sessions, should the folder be
    /// shared with one, leave it alone), then the empty data file. Not synced: an upload a machine crash loses is
    /// one the client starts again (as `UploadRegistry` does); a folder left half made is a stale upload.
    public func beginUpload(_ id: UploadID) throws(StoreError) -> UploadState {
        let directory = layout.upload(id)
        do throws(SystemError) {
            guard mkdir(directory, Layout.privateFolderMode) == 0 else { throw SystemError("mkdir upload", errno: errno) }
            for path in [layout.uploadBegun(id), layout.uploadData(id)] {
                let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, Layout.privateFileMode)
                guard fd >= 0 else { throw SystemError("create \(path)", errno: errno) }
                close(fd)
            }
        } catch {
            FileSystem.removeTree(directory)
            throw .io(error)
        }
        let tag = StateTag.random()
        hashes.store(id, tag: tag, size: 0, hasher: DigestHasher(.sha256))
        return UploadState(size: 0, data: tag.encoded)
    }

    public func appender(for id: UploadID, _ state: UploadState) throws(StoreError) -> any BlobAppender {
        let fd = try openData(id, state)
        // Handed over whole: only the writer's hash lane touches it, then `finished`, after the lanes are done.
        let hashes = hashes
        nonisolated(unsafe) let hasher = StateTag(decoding: state.data).flatMap { hashes.take(id, tag: $0, size: state.size) }
        return UploadWriter(fd: fd, size: state.size, hasher: hasher, pool: pool) { written, failed in
            close(fd)
            let tag = StateTag.random()
            // After a failure the hash ran ahead of what was written: none is kept, commit rehashes.
            if !failed, let hasher { hashes.store(id, tag: tag, size: written, hasher: hasher) }
            return tag.encoded
        }
    }

    /// Verifies with the running hash when this process holds it for this very state, else by rehashing the
    /// data file (another process wrote the last bytes, or this one restarted); then `fsync`, `rename` under the
    /// digest (or, when the blob is already there, drops the data), `fsync` of the blob's folder.
    ///
    /// The blob's time is set to now either way: the collector deletes a blob no metadata records only when it
    /// is older than its cutoff, and this one is about to be linked.
    public func commitUpload(_ id: UploadID, _ state: UploadState, as expected: Digest) throws(StoreError) -> Int64 {
        let fd = try openData(id, state)
        defer { close(fd) }
        let tag = StateTag(decoding: state.data)
        let actual: Digest
        if let tag, let hasher = hashes.peek(id, tag: tag, size: state.size), hasher.algorithm == expected.algorithm {
            actual = hasher.copy().finalize()
        } else {
            let hasher = try rehash(fd, size: state.size, algorithm: expected.algorithm)
            // A client that retries with the right digest is not made to wait for another rehash.
            if let tag, hasher.algorithm == .sha256 { hashes.store(id, tag: tag, size: state.size, hasher: hasher.copy()) }
            actual = hasher.finalize()
        }
        guard actual == expected else { throw .digestMismatch(expected: expected, actual: actual) }
        let blobPath = layout.blob(expected)
        do throws(SystemError) {
            if fsync(fd) != 0 { throw SystemError("fsync upload", errno: errno) }
            try FileSystem.makeDirectories(layout.blobDirectory(expected))
            var present = FileSystem.fileSize(blobPath) == state.size
            if present { present = try FileSystem.refresh(blobPath) }
            if !present {
                if rename(layout.uploadData(id), blobPath) != 0 { throw SystemError("rename upload → blob", errno: errno) }
                // rename keeps the data file's time, which is that of its last write.
                try FileSystem.refresh(blobPath)
            }
            try FileSystem.syncDirectory(layout.blobDirectory(expected))
        } catch {
            throw .io(error)
        }
        abortUpload(id, state)
        return state.size
    }

    public func abortUpload(_ id: UploadID, _ state: UploadState) {
        hashes.remove(id)
        FileSystem.removeTree(layout.upload(id))
    }

    /// Upload folders whose marker (else the folder itself, when a crash cut `beginUpload` short) is older than
    /// `cutoff`; a folder with an `info` file is a `BlobStore` session (a store sharing the folder), not ours.
    public func staleUploads(startedBefore cutoff: Int64) throws(StoreError) -> [UploadID] {
        let names: [String]
        do { names = try FileSystem.list(layout.uploadsDirectory) } catch { throw .io(error) }
        return names.compactMap { name -> UploadID? in
            guard let id = UploadID(validating: name), !FileSystem.exists(layout.uploadInfo(id)),
                  let started = FileSystem.modificationTime(layout.uploadBegun(id)) ?? FileSystem.modificationTime(layout.upload(id)),
                  started < cutoff else { return nil }
            return id
        }
    }

    /// Opens the upload's data file for writing, cut back to the state's size.
    /// - Throws: `uploadUnknown` when the data is gone (aborted, expired) or shorter than the state says (a
    ///   machine crash lost bytes that were never synced: the client must start again).
    private func openData(_ id: UploadID, _ state: UploadState) throws(StoreError) -> Int32 {
        let fd = open(layout.uploadData(id), O_RDWR | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT || errno == ENOTDIR { throw .uploadUnknown(id.value) }
            throw .io(SystemError("open upload", errno: errno))
        }
        var st = stat()
        var failure: StoreError?
        if fstat(fd, &st) != 0 {
            failure = .io(SystemError("fstat upload", errno: errno))
        } else if Int64(st.st_size) < state.size {
            failure = .uploadUnknown(id.value)
        } else if Int64(st.st_size) > state.size, st.st_mode & S_IFMT == S_IFREG, ftruncate(fd, off_t(state.size)) != 0 {
            // Bytes past the state are a dead writer's: the next chunk goes where the state ends.
            failure = .io(SystemError("truncate upload", errno: errno))
        }
        if let failure {
            close(fd)
            throw failure
        }
        return fd
    }

    /// Hashes the first `size` bytes of the data file.
    private func rehash(_ fd: Int32, size: Int64, algorithm: Digest.Algorithm) throws(StoreError) -> DigestHasher {
        let hasher = DigestHasher(algorithm)
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var offset: Int64 = 0
        while offset < size {
            let want = Int(min(Int64(buffer.count), size - offset))
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, want, off_t(offset)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(SystemError("read upload", errno: errno))
            }
            if n == 0 { throw .io(SystemError("read upload: shorter than its state", errno: EIO)) }
            buffer.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            offset += Int64(n)
        }
        return hasher
    }
}

/// Names one upload state: a new random tag each time an appender finishes, so that a running hash kept in
/// memory is used only for exactly the state it was computed for.
struct StateTag: Hashable, Sendable {
    /// Format of `UploadState.data`: this byte, then the tag's 16 bytes.
    static let version: UInt8 = 1
    let bytes: [UInt8]

    static func random() -> StateTag {
        var generator = SystemRandomNumberGenerator()
        return StateTag(bytes: (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }

    private init(bytes: [UInt8]) { self.bytes = bytes }

    /// nil for data of another format (another version, or the empty state of an orphan found by expiry).
    init?(decoding data: [UInt8]) {
        guard data.count == 17, data[0] == Self.version else { return nil }
        bytes = Array(data[1...])
    }

    var encoded: [UInt8] { [Self.version] + bytes }
}

/// The running hashes of the uploads this process wrote last, each for one state (tag and size).
final class RunningHashes: Sendable {
    /// Owned by the table while stored; handed out whole (`take`) to the one appender of the upload, or copied.
    private final class Entry: @unchecked Sendable {
        let tag: StateTag
        let size: Int64
        let hasher: DigestHasher

        init(tag: StateTag, size: Int64, hasher: DigestHasher) {
            self.tag = tag
            self.size = size
            self.hasher = hasher
        }
    }

    /// Entries kept at most (sessions abandoned by a replica that moved on are dropped with the rest past this).
    static let limit = 4096
    private let entries = Mutex<[UploadID: Entry]>([:])

    func store(_ id: UploadID, tag: StateTag, size: Int64, hasher: DigestHasher) {
        let entry = Entry(tag: tag, size: size, hasher: hasher)
        entries.withLock { table in
            if table.count >= Self.limit { table.removeAll() }
            table[id] = entry
        }
    }

    /// Removes and returns the hasher when it is for this state (the appender feeds it).
    func take(_ id: UploadID, tag: StateTag, size: Int64) -> DigestHasher? {
        let entry = entries.withLock { table -> Entry? in
            guard let entry = table[id], entry.tag == tag, entry.size == size else { return nil }
            table[id] = nil
            return entry
        }
        return entry?.hasher
    }

    /// The hasher for this state, left in the table (the caller copies it before finalizing).
    func peek(_ id: UploadID, tag: StateTag, size: Int64) -> DigestHasher? {
        let entry = entries.withLock { table -> Entry? in
            guard let entry = table[id], entry.tag == tag, entry.size == size else { return nil }
            return entry
        }
        return entry?.hasher
    }

    func remove(_ id: UploadID) {
        entries.withLock { _ = $0.removeValue(forKey: id) }
    }
}
