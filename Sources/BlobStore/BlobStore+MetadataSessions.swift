import Glibc
import OCIModel
import Synchronization
import SystemIO

/// Upload sessions of `BlobStore` as a `MetadataStore`: one record a session in `sessions/<id>` (JSON, written to
/// `tmp/`, synced, renamed into place, the folder synced: a crash leaves the old record or the new), mirrored in
/// memory (loaded once); leases in memory only (see the type's comment in `BlobStore+MetadataStore`).
///
/// These are `ComposedStorage`'s sessions; the embedded store's own (`UploadRegistry`, `uploads/<id>/info`) are
/// another thing and are not seen here.
extension BlobStore {
    public func createUpload(_ session: UploadSession, limits: UploadLimits) throws(StoreError) {
        try uploadSessions.load(layout)
        try uploadSessions.admit(session, limits: limits)
        do throws(SystemError) {
            try writeSessionRecord(session)
        } catch {
            uploadSessions.forget(session.id)
            throw .io(error)
        }
    }

    public func acquireUpload(_ id: UploadID, for name: RepositoryName, leaseSeconds: Int) throws(StoreError) -> UploadSession {
        try uploadSessions.load(layout)
        return try uploadSessions.lease(id, for: name, seconds: leaseSeconds)
    }

    public func renewUpload(_ id: UploadID, leaseSeconds: Int) throws(StoreError) {
        try uploadSessions.load(layout)
        try uploadSessions.renew(id, seconds: leaseSeconds)
    }

    /// Writes the record, then ends the lease (also when the write failed: the previous record stands).
    public func releaseUpload(_ session: UploadSession) throws(StoreError) {
        try uploadSessions.load(layout)
        defer { uploadSessions.endLease(session.id) }
        guard uploadSessions.contains(session.id) else { throw .uploadUnknown(session.id.value) }
        do throws(SystemError) {
            try writeSessionRecord(session)
        } catch {
            throw .io(error)
        }
        // Removed while the record was written (only by a holder whose lease had lapsed): no record revived.
        if !uploadSessions.update(session) { _ = try? FileSystem.remove(layout.session(session.id)) }
    }

    public func removeUpload(_ id: UploadID) throws(StoreError) {
        try uploadSessions.load(layout)
        uploadSessions.forget(id)
        do { _ = try FileSystem.remove(layout.session(id)) } catch { throw .io(error) }
    }

    public func expiredUploads(now: Int, limits: UploadLimits) throws(StoreError) -> [UploadSession] {
        try uploadSessions.load(layout)
        return uploadSessions.expired(now: now, limits: limits)
    }

    public func uploadIDs() throws(StoreError) -> Set<UploadID> {
        try uploadSessions.load(layout)
        return uploadSessions.ids()
    }

    public func uploadCount() throws(StoreError) -> Int {
        try uploadSessions.load(layout)
        return uploadSessions.ids().count
    }

    private func writeSessionRecord(_ session: UploadSession) throws(SystemError) {
        try FileSystem.makeDirectories(layout.sessionsDirectory, mode: Layout.privateFolderMode)
        try FileSystem.writeAtomically(SessionRecord(session).encoded, to: layout.session(session.id),
                                       tmpDirectory: layout.tmpDirectory)
    }
}

/// The sessions in memory, with their leases.
final class UploadSessionTable: Sendable {
    private struct State {
        var loaded = false
        var sessions: [UploadID: UploadSession] = [:]
        /// Lease deadlines on the monotonic clock (nanoseconds).
        var leases: [UploadID: UInt64] = [:]

        func isLeased(_ id: UploadID, now: UInt64) -> Bool {
            leases[id].map { $0 > now } ?? false
        }
    }

    /// The lease `createUpload` gives the calling request (it renews it as `acquireUpload`'s are).
    static let initialLeaseSeconds = 30
    private let state = Mutex(State())

    init() {}

    /// Reads the records once; one that cannot be read is removed (it cannot be continued).
    func load(_ layout: Layout) throws(StoreError) {
        try state.withLock { s throws(StoreError) in
            guard !s.loaded else { return }
            let names: [String]
            do throws(SystemError) { names = try FileSystem.list(layout.sessionsDirectory) } catch { throw .io(error) }
            for name in names {
                guard let id = UploadID(validating: name) else { continue }
                let bytes = (try? FileSystem.read(layout.session(id), maxBytes: 1 << 20)) ?? nil
                if let bytes, let session = SessionRecord.decode(bytes, id: id) {
                    s.sessions[id] = session
                } else {
                    _ = try? FileSystem.remove(layout.session(id))
                }
            }
            s.loaded = true
        }
    }

    func admit(_ session: UploadSession, limits: UploadLimits) throws(StoreError) {
        let deadline = Self.deadline(seconds: Self.initialLeaseSeconds)
        try state.withLock { s throws(StoreError) in
            guard s.sessions.count < limits.maxOpen else { throw .tooManyUploads(limit: limits.maxOpen) }
            let owned = s.sessions.values.reduce(0) { $0 + ($1.owner == session.owner ? 1 : 0) }
            guard owned < limits.maxPerOwner else { throw .tooManyUploadsForOwner(limit: limits.maxPerOwner) }
            guard s.sessions[session.id] == nil else { throw .io(SystemError("upload session \(session.id)", errno: EEXIST)) }
            s.sessions[session.id] = session
            s.leases[session.id] = deadline
        }
    }

    func lease(_ id: UploadID, for name: RepositoryName, seconds: Int) throws(StoreError) -> UploadSession {
        let now = Self.monotonicNow()
        return try state.withLock { s throws(StoreError) -> UploadSession in
            // A monolithic session's id never left the request that started it: whoever names it guessed it.
            guard let session = s.sessions[id], session.repository == name, session.kind == .resumable else {
                throw .uploadUnknown(id.value)
            }
            guard !s.isLeased(id, now: now) else { throw .uploadBusy(id.value) }
            s.leases[id] = now + UInt64(max(seconds, 0)) * 1_000_000_000
            return session
        }
    }

    func renew(_ id: UploadID, seconds: Int) throws(StoreError) {
        let deadline = Self.deadline(seconds: seconds)
        try state.withLock { s throws(StoreError) in
            guard s.sessions[id] != nil else { throw .uploadUnknown(id.value) }
            s.leases[id] = deadline
        }
    }

    func contains(_ id: UploadID) -> Bool {
        state.withLock { $0.sessions[id] != nil }
    }

    /// - Returns: false when the session is gone.
    func update(_ session: UploadSession) -> Bool {
        state.withLock { s in
            guard s.sessions[session.id] != nil else { return false }
            s.sessions[session.id] = session
            return true
        }
    }

    func endLease(_ id: UploadID) {
        state.withLock { _ = $0.leases.removeValue(forKey: id) }
    }

    func forget(_ id: UploadID) {
        state.withLock { s in
            s.sessions[id] = nil
            s.leases[id] = nil
        }
    }

    func expired(now: Int, limits: UploadLimits) -> [UploadSession] {
        let clock = Self.monotonicNow()
        return state.withLock { s in
            s.sessions.values.filter { session in
                !s.isLeased(session.id, now: clock)
                    && (now - session.lastActive > limits.idleTimeout || now - session.started > limits.maxAge)
            }
        }
    }

    func ids() -> Set<UploadID> {
        state.withLock { Set($0.sessions.keys) }
    }

    private static func deadline(seconds: Int) -> UInt64 {
        monotonicNow() + UInt64(max(seconds, 0)) * 1_000_000_000
    }

    private static func monotonicNow() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }
}

/// A session as its record holds it (version 1).
private struct SessionRecord: Codable {
    var version = 1
    let repository: String
    let owner: String
    let kind: String
    let started: Int
    let lastActive: Int
    let size: Int64
    /// `UploadState.data`, in hex.
    let data: String

    init(_ session: UploadSession) {
        repository = session.repository.value
        owner = session.owner
        kind = session.kind.rawValue
        started = session.started
        lastActive = session.lastActive
        size = session.state.size
        data = session.state.data.map { String($0 >> 4, radix: 16) + String($0 & 0x0F, radix: 16) }.joined()
    }

    var encoded: [UInt8] { JSONCoding.encodeInfallibly(self) }

    static func decode(_ bytes: [UInt8], id: UploadID) -> UploadSession? {
        guard let record = try? JSONCoding.decode(SessionRecord.self, from: bytes), record.version == 1,
              let name = try? RepositoryName(validating: record.repository), let kind = Upload.Kind(rawValue: record.kind),
              record.size >= 0, record.data.utf8.count % 2 == 0 else { return nil }
        var data: [UInt8] = []
        data.reserveCapacity(record.data.utf8.count / 2)
        var text = Substring(record.data)
        while !text.isEmpty {
            guard let byte = UInt8(text.prefix(2), radix: 16) else { return nil }
            data.append(byte)
            text = text.dropFirst(2)
        }
        return UploadSession(id: id, repository: name, owner: record.owner, kind: kind, started: record.started,
                             lastActive: record.lastActive, state: UploadState(size: record.size, data: data))
    }
}
