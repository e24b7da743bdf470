import Glibc
import OCIModel
import Synchronization
import SystemIO

/// The upload sessions of a store: created on disk, so that a client can continue a chunked upload after a
/// reconnect or a server restart; limited in number, overall and per owner; expired when idle or old.
///
/// Every session on disk is known here, in memory (a few bytes each): counting, expiring and finding them never
/// lists the folder. A session's data file is open only while a request holds it.
public final class UploadRegistry: Sendable {
    private struct State {
        var sessions: [UploadID: Upload] = [:]
        var busy: Set<UploadID> = []
        var perOwner: [String: Int] = [:]

        mutating func insert(_ upload: Upload) {
            sessions[upload.id] = upload
            perOwner[upload.owner, default: 0] += 1
        }

        /// Forgets a session (its files are the caller's to remove).
        mutating func remove(_ upload: Upload) {
            guard sessions.removeValue(forKey: upload.id) != nil else { return }
            busy.remove(upload.id)
            let left = perOwner[upload.owner, default: 1] - 1
            perOwner[upload.owner] = left > 0 ? left : nil
        }
    }

    let layout: Layout
    public let limits: UploadLimits
    /// Sessions found on disk at start-up that no client could continue (a monolithic upload the server crashed
    /// under, files half made) or that were past `maxAge`; they were deleted.
    public let removedAtStart: Int
    /// Seconds since the epoch; replaceable so that tests can move time.
    let clock: @Sendable () -> Int
    private let state: Mutex<State>

    /// Loads the sessions on disk, deleting those no client can continue.
    init(layout: Layout, limits: UploadLimits, clock: @escaping @Sendable () -> Int) throws(SystemError) {
        self.layout = layout
        self.limits = limits
        self.clock = clock
        let now = clock()
        var loaded = State()
        var removed = 0
        for name in try FileSystem.list(layout.uploadsDirectory) {
            // A `FileBlobStorage` upload sharing the folder belongs to a `MetadataStore`'s session, not to us.
            guard let id = UploadID(validating: name), !FileSystem.exists(layout.uploadBegun(id)) else { continue }
            if let upload = Self.load(id, layout: layout, now: now), upload.kind == .resumable,
               now - upload.started <= limits.maxAge {
                loaded.insert(upload)
            } else {
                FileSystem.removeTree(layout.upload(id))
                removed += 1
            }
        }
        removedAtStart = removed
        state = Mutex(loaded)
    }

    /// Sessions open now.
    public var openCount: Int { state.withLock { $0.sessions.count } }

    /// Sessions open now for one owner.
    public func openCount(owner: String) -> Int {
        state.withLock { $0.perOwner[Self.ownerKey(owner), default: 0] }
    }

    /// Starts a session for `name` and hands it over acquired: `release` (or `commit`, `cancel`) it when the
    /// request ends.
    ///
    /// The session's `info` file, with its kind, is written before any byte of the body is read: a monolithic
    /// session the server crashes under is recognised and deleted at the next start.
    /// - Parameters:
    ///   - owner: whom the session counts against (`UploadLimits.maxPerOwner`).
    ///   - kind: whether the client will be given the session's id.
    /// - Throws: `tooManyUploads` or `tooManyUploadsForOwner` at a limit (once idle sessions have been expired),
    ///   `io` when the files cannot be made.
    public func start(_ name: RepositoryName, owner: String, kind: Upload.Kind = .resumable) throws(StoreError) -> Upload {
        let now = clock()
        let upload = Upload(id: UploadID.random(), repository: name, owner: Self.ownerKey(owner), kind: kind,
                            started: now, size: 0, hasher: DigestHasher(.sha256), now: now)
        var refusal = admit(upload)
        // At a limit, sessions idle past their timeout give way before anyone is refused: a flood of empty
        // sessions holds the cap for the idle timeout at most, not until the periodic sweep.
        if refusal != nil, expire() > 0 { refusal = admit(upload) }
        if let refusal { throw refusal }
        do throws(SystemError) {
            try makeFiles(upload)
        } catch {
            state.withLock { $0.remove(upload) }
            throw .io(error)
        }
        return upload
    }

    /// Counts `upload` in, as busy, unless a limit forbids it.
    private func admit(_ upload: Upload) -> StoreError? {
        state.withLock { s -> StoreError? in
            guard s.sessions.count < limits.maxOpen else { return .tooManyUploads(limit: limits.maxOpen) }
            guard s.perOwner[upload.owner, default: 0] < limits.maxPerOwner else {
                return .tooManyUploadsForOwner(limit: limits.maxPerOwner)
            }
            s.insert(upload)
            s.busy.insert(upload.id)
            return nil
        }
    }

    /// Creates the session's folder, its `info` file and its data file, left open in `upload.fd`.
    private func makeFiles(_ upload: Upload) throws(SystemError) {
        let dir = layout.upload(upload.id)
        // No fsync here: a session lost in a machine crash is one the client restarts; what must survive a
        // crash is a committed blob, and that is synced at commit. A folder left without a complete `info`
        // file is deleted at start-up.
        guard mkdir(dir, Layout.privateFolderMode) == 0 else { throw SystemError("mkdir \(dir)", errno: errno) }
        let info = Array("\(upload.repository.value)\n\(upload.started)\n\(upload.owner)\n\(upload.kind.rawValue)\n".utf8)
        let infoFD = open(layout.uploadInfo(upload.id), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, Layout.privateFileMode)
        var failure: SystemError?
        if infoFD < 0 {
            failure = SystemError("create upload info", errno: errno)
        } else {
            do { try FileSystem.writeAll(infoFD, info) } catch { failure = error }
            close(infoFD)
        }
        if failure == nil {
            upload.fd = open(layout.uploadData(upload.id), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, Layout.privateFileMode)
            if upload.fd < 0 { failure = SystemError("create upload data", errno: errno) }
        }
        if let failure {
            FileSystem.removeTree(dir)
            throw failure
        }
    }

    /// Takes a session for one request and opens its data file.
    /// - Throws: `uploadUnknown` for a malformed, unknown or other repository's id; `uploadBusy` while another
    ///   request uses it; `io` when its data file cannot be opened.
    public func acquire(_ idText: some StringProtocol, for name: RepositoryName) throws(StoreError) -> Upload {
        guard let id = UploadID(validating: idText) else { throw .uploadUnknown(String(idText.prefix(64))) }
        let taken = state.withLock { s -> Result<Upload, StoreError> in
            // A monolithic session's id is never handed out: whoever names it guessed it.
            guard let upload = s.sessions[id], upload.repository == name, upload.kind == .resumable else {
                return .failure(.uploadUnknown(id.value))
            }
            if s.busy.contains(id) { return .failure(.uploadBusy(id.value)) }
            s.busy.insert(id)
            return .success(upload)
        }
        let upload = try taken.get()
        let fd = open(layout.uploadData(id), O_RDWR | O_CLOEXEC)
        guard fd >= 0 else {
            let e = errno
            if e == ENOENT {
                // The files went away behind the server's back: the session cannot continue.
                discard(upload)
                throw .uploadUnknown(id.value)
            }
            state.withLock { _ = $0.busy.remove(id) }
            throw .io(SystemError("open upload", errno: e))
        }
        upload.fd = fd
        upload.sizeWhenAcquired = upload.size
        return upload
    }

    /// Ends a request's use of a session: closes its data file; bytes received make it active again.
    public func release(_ upload: Upload) {
        if upload.fd >= 0 {
            close(upload.fd)
            upload.fd = -1
        }
        if upload.size != upload.sizeWhenAcquired { upload.lastActive = clock() }
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
            // Shared flushes (`GroupCommit`): the data, then the blob's entry, then the link, each durable before
            // the next step makes it reachable.
            try store.durability.flush(files: [upload.fd], directories: [])
            // The blob and its link are touched under the reference lock: the collector, which deletes only
            // under the exclusive lock and only what is older than its cutoff, cannot take the blob between the
            // check that it is stored and the link (see `GarbageCollector`).
            try store.references.withShared { () throws(SystemError) in
                let present = FileSystem.fileSize(blobPath)
                var directories: [String] = []
                var renamed = false
                defer { if renamed { store.unflushed.remove(blobPath) } }
                if present == upload.size, try FileSystem.refresh(blobPath) {
                    // Already stored (deduplication): this copy is dropped with the session. Flushed all the same
                    // when a concurrent writer put it there and has not flushed it yet.
                    if store.unflushed.contains(blobPath) { directories = [layout.blobDirectory(expected)] }
                } else {
                    directories = try FileSystem.createDirectories(layout.blobDirectory(expected))
                    if rename(layout.uploadData(upload.id), blobPath) != 0 {
                        throw SystemError("rename upload → blob", errno: errno)
                    }
                    renamed = true
                    store.unflushed.insert(blobPath)
                    directories.append(layout.blobDirectory(expected))
                    if let present { store.statistics.blobRemoved(expected, size: present) }  // a damaged copy replaced
                    store.statistics.blobAdded(expected, size: upload.size)
                    // rename keeps the data file's time, which is that of its last write.
                    try FileSystem.refresh(blobPath)
                }
                if !directories.isEmpty { try store.durability.flush(files: [], directories: directories) }
                try store.recordLink(upload.repository, expected)
            }
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
        if upload.fd >= 0 {
            close(upload.fd)
            upload.fd = -1
        }
        state.withLock { $0.remove(upload) }
        FileSystem.removeTree(layout.upload(upload.id))
    }

    /// The digest of what was received, rehashing the data file when the running hash is not available
    /// (after a restart or a failed write, or for another algorithm). Each session is rehashed at most once.
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

    /// Deletes the sessions not in use that received no byte for `limits.idleTimeout` seconds or started more
    /// than `limits.maxAge` seconds ago.
    /// - Returns: how many.
    @discardableResult
    public func expire() -> Int {
        expireSessions().count
    }

    /// Deletes the expired sessions (see `expire`).
    /// - Parameter dryRun: only find them.
    /// - Returns: them, with the bytes each had received.
    public func expireSessions(dryRun: Bool = false) -> [Upload] {
        let now = clock()
        // Forgotten at once, under the lock (a request naming one now finds it unknown, and its slot is free),
        // then its files are removed.
        let expired = state.withLock { s -> [Upload] in
            let found = s.sessions.values.filter { upload in
                !s.busy.contains(upload.id)
                    && (now - upload.lastActive > limits.idleTimeout || now - upload.started > limits.maxAge)
            }
            if !dryRun { for upload in found { s.remove(upload) } }
            return found
        }
        if !dryRun { for upload in expired { FileSystem.removeTree(layout.upload(upload.id)) } }
        return expired
    }

    // MARK: - Start-up

    /// A session as its `info` file describes it, or nil when the files are incomplete or unreadable.
    ///
    /// `info` holds one value a line: repository, start time, owner, kind. A file of two lines comes from a
    /// version that recorded neither owner nor kind: resumable, owned by nobody.
    private static func load(_ id: UploadID, layout: Layout, now: Int) -> Upload? {
        guard let bytes = try? FileSystem.read(layout.uploadInfo(id), maxBytes: 4096) ?? nil else { return nil }
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        // Each line ends with a newline: the last element is empty.
        guard lines.count == 3 || lines.count == 5, lines.last == "",
              let name = try? RepositoryName(validating: lines[0]), let started = Int(lines[1]) else { return nil }
        let owner = lines.count == 5 ? String(lines[2]) : ""
        let kind = lines.count == 5 ? Upload.Kind(rawValue: String(lines[3])) : .resumable
        // The data file is made after `info` is written: without it, the session never started.
        guard let kind, let size = FileSystem.fileSize(layout.uploadData(id)) else { return nil }
        // Idle time counts from now: while the server was down the client could not send.
        return Upload(id: id, repository: name, owner: owner, kind: kind, started: started, size: size, hasher: nil, now: now)
    }

    /// An owner as kept in memory and on disk: one line of at most 256 bytes.
    static func ownerKey(_ owner: String) -> String {
        var bytes = Array(owner.utf8.prefix(256))
        for i in bytes.indices where bytes[i] < 0x20 || bytes[i] == 0x7F { bytes[i] = UInt8(ascii: "?") }
        return String(decoding: bytes, as: UTF8.self)
    }
}
