import Glibc
import OCIModel
import Synchronization
import SystemIO

/// The upload sessions of a store: created on disk, so that a client can continue a chunked upload after a
/// reconnect or a server restart; expired when abandoned; limited in number.
public final class UploadRegistry: Sendable {
    private struct State {
        var loaded: [UploadID: Upload] = [:]
        var busy: Set<UploadID> = []
        var open = 0
    }

    let layout: Layout
    public let maxOpen: Int
    private let state: Mutex<State>

    init(layout: Layout, maxOpen: Int) throws(SystemError) {
        self.layout = layout
        self.maxOpen = maxOpen
        let existing = try FileSystem.list(layout.uploadsDirectory).filter { UploadID(validating: $0) != nil }.count
        state = Mutex(State(open: existing))
    }

    /// Sessions open now, on disk.
    public var openCount: Int { state.withLock { $0.open } }

    /// Starts a session for `name` and hands it over acquired: `release` it when the request ends.
    /// - Throws: `tooManyUploads` at the limit, `io` when the files cannot be made.
    public func start(_ name: RepositoryName) throws(StoreError) -> Upload {
        let admitted = state.withLock { s -> Bool in
            guard s.open < maxOpen else { return false }
            s.open += 1
            return true
        }
        guard admitted else { throw .tooManyUploads(limit: maxOpen) }
        let id = UploadID.random()
        let dir = layout.upload(id)
        let now = Int(time(nil))
        // No fsync here: a session lost in a machine crash is one the client restarts; what must survive a
        // crash is a committed blob, and that is synced at commit.
        guard mkdir(dir, 0o755) == 0 else {
            let e = errno
            state.withLock { $0.open -= 1 }
            throw .io(SystemError("mkdir \(dir)", errno: e))
        }
        let info = Array("\(name.value)\n\(now)\n".utf8)
        let infoFD = open(layout.uploadInfo(id), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        let dataFD = open(layout.uploadData(id), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard infoFD >= 0, dataFD >= 0,
              (try? FileSystem.writeAll(infoFD, info)) != nil else {
            let e = errno
            if infoFD >= 0 { close(infoFD) }
            if dataFD >= 0 { close(dataFD) }
            FileSystem.removeTree(dir)
            state.withLock { $0.open -= 1 }
            throw .io(SystemError("create upload", errno: e))
        }
        close(infoFD)
        let upload = Upload(id: id, repository: name, fd: dataFD, size: 0, hasher: DigestHasher(.sha256), now: now)
        state.withLock {
            $0.loaded[id] = upload
            $0.busy.insert(id)
        }
        return upload
    }

    /// Takes a session for one request.
    /// - Throws: `uploadUnknown` for a malformed, unknown or other repository's id; `uploadBusy` while another
    ///   request uses it.
    public func acquire(_ idText: some StringProtocol, for name: RepositoryName) throws(StoreError) -> Upload {
        guard let id = UploadID(validating: idText) else { throw .uploadUnknown(String(idText.prefix(64))) }
        let result = state.withLock { s -> Result<Upload?, StoreError> in
            if s.busy.contains(id) { return .failure(.uploadBusy(id.value)) }
            if let upload = s.loaded[id] {
                guard upload.repository == name else { return .failure(.uploadUnknown(id.value)) }
                s.busy.insert(id)
                return .success(upload)
            }
            s.busy.insert(id)
            return .success(nil)
        }
        if let upload = try result.get() { return upload }
        // Not in memory: a session from before a restart, if its files are there.
        guard let info = try? FileSystem.read(layout.uploadInfo(id), maxBytes: 4096) ?? nil else {
            state.withLock { _ = $0.busy.remove(id) }
            throw .uploadUnknown(id.value)
        }
        let lines = String(decoding: info, as: UTF8.self).split(separator: "\n")
        let fd = open(layout.uploadData(id), O_RDWR | O_CLOEXEC)
        var st = stat()
        guard lines.count >= 2, lines[0] == name.value, let started = Int(lines[1]), fd >= 0, fstat(fd, &st) == 0 else {
            if fd >= 0 { close(fd) }
            state.withLock { _ = $0.busy.remove(id) }
            throw .uploadUnknown(id.value)
        }
        let upload = Upload(id: id, repository: name, fd: fd, size: Int64(st.st_size), hasher: nil, now: max(started, Int(time(nil))))
        state.withLock { $0.loaded[id] = upload }
        return upload
    }

    /// Ends a request's use of a session.
    public func release(_ upload: Upload) {
        upload.lastActive = Int(time(nil))
        state.withLock { _ = $0.busy.remove(upload.id) }
    }

    /// Appends bytes at the end of the upload; the hash follows only what was written.
    public func append(_ upload: Upload, _ bytes: UnsafeRawBufferPointer) throws(StoreError) {
        var offset = 0
        while offset < bytes.count {
            let n = pwrite(upload.fd, bytes.baseAddress! + offset, bytes.count - offset, off_t(upload.size))
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(SystemError("write upload", errno: errno))
            }
            upload.hasher?.update(UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + n]))
            upload.size += Int64(n)
            offset += n
        }
    }

    /// Appends a chunk received from a client.
    public func append(_ upload: Upload, _ bytes: [UInt8]) throws(StoreError) {
        // Returned, not thrown, from the closure: typed throws through `withUnsafeBytes` crash this compiler.
        let failure = bytes.withUnsafeBytes { raw -> StoreError? in
            do throws(StoreError) { try append(upload, raw) } catch { return error }
            return nil
        }
        if let failure { throw failure }
    }

    /// Verifies the upload against `expected`, moves it into the blob store and links it into its repository.
    /// Blocks (hashing after a restart, `fsync`, rename): call it from a blocking pool.
    /// - Throws: `digestMismatch` (the session stays open), or `io`.
    public func commit(_ upload: Upload, expected: Digest, into store: BlobStore) throws(StoreError) {
        let actual = try digest(of: upload, algorithm: expected.algorithm)
        guard actual == expected else { throw .digestMismatch(expected: expected, actual: actual) }
        let blobPath = layout.blob(expected)
        do throws(SystemError) {
            if fsync(upload.fd) != 0 { throw SystemError("fsync upload", errno: errno) }
            try FileSystem.makeDirectories(layout.blobDirectory(expected))
            if FileSystem.fileSize(blobPath) == upload.size {
                // Already stored (deduplication): this copy is dropped with the session.
            } else if rename(layout.uploadData(upload.id), blobPath) != 0 {
                throw SystemError("rename upload → blob", errno: errno)
            }
            try FileSystem.syncDirectory(layout.blobDirectory(expected))
            try FileSystem.touch(layout.layerLink(upload.repository, expected))
        } catch {
            throw .io(error)
        }
        discard(upload)
    }

    /// Deletes a session and its bytes.
    public func cancel(_ upload: Upload) {
        discard(upload)
    }

    private func discard(_ upload: Upload) {
        close(upload.fd)
        upload.fd = -1
        FileSystem.removeTree(layout.upload(upload.id))
        state.withLock {
            $0.loaded[upload.id] = nil
            $0.busy.remove(upload.id)
            $0.open = max(0, $0.open - 1)
        }
    }

    /// The digest of what was received, rehashing the data file when the running hash is not available
    /// (after a restart, or for another algorithm).
    private func digest(of upload: Upload, algorithm: Digest.Algorithm) throws(StoreError) -> Digest {
        if let hasher = upload.hasher, hasher.algorithm == algorithm {
            return hasher.copy().finalize()
        }
        let hasher = DigestHasher(algorithm)
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var offset: Int64 = 0
        while offset < upload.size {
            let n = buffer.withUnsafeMutableBytes { pread(upload.fd, $0.baseAddress, $0.count, off_t(offset)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(SystemError("read upload", errno: errno))
            }
            if n == 0 { break }
            buffer.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            offset += Int64(n)
        }
        if algorithm == .sha256 { upload.hasher = hasher.copy() }
        return hasher.finalize()
    }

    /// Removes sessions idle for longer than `seconds` (not those in use). - Returns: how many.
    @discardableResult
    public func expire(olderThan seconds: Int) -> Int {
        let now = Int(time(nil))
        var removed = 0
        for name in (try? FileSystem.list(layout.uploadsDirectory)) ?? [] {
            guard let id = UploadID(validating: name) else { continue }
            let (busy, loaded) = state.withLock { ($0.busy.contains(id), $0.loaded[id]) }
            if busy { continue }
            let last: Int
            if let loaded {
                last = loaded.lastActive
            } else {
                var st = stat()
                guard stat(layout.uploadData(id), &st) == 0 || stat(layout.upload(id), &st) == 0 else { continue }
                last = Int(st.st_mtim.tv_sec)
            }
            guard now - last > seconds else { continue }
            let taken = state.withLock { s -> Bool in
                if s.busy.contains(id) { return false }
                s.busy.insert(id)
                return true
            }
            guard taken else { continue }
            if let loaded {
                close(loaded.fd)
                loaded.fd = -1
            }
            FileSystem.removeTree(layout.upload(id))
            state.withLock {
                $0.loaded[id] = nil
                $0.busy.remove(id)
                $0.open = max(0, $0.open - 1)
            }
            removed += 1
        }
        return removed
    }
}
