import BlobStore
import OCIModel

/// Upload sessions: one row each, with the blob storage's opaque state as `bytea` and a lease.
///
/// A lease is a random token and an expiry on the database's clock (`lease_until`): `acquireUpload` takes a session
/// whose lease is absent or lapsed, atomically (`UPDATE … WHERE lease lapsed RETURNING`), so one request at a time
/// holds it across replicas; `renewUpload`, `releaseUpload` check the token, so a request whose lease lapsed and was
/// taken by another cannot overwrite the newer holder's state. This process remembers its tokens in `leases`.
extension PostgresMetadataStore {
    static let sessionColumns = "id, repository, owner, kind, started, last_active, size, state"

    public func createUpload(_ session: UploadSession, limits: UploadLimits) throws(StoreError) {
        let token = Int64.random(in: 1...Int64.max)
        try run { connection in try connection.transaction { connection in
            // Serializes creations on every replica, so that two cannot both take the last slot.
            try connection.query("SELECT pg_advisory_xact_lock($1)", [.int(MetadataSchema.uploadLimitLockKey)])
            let counts = try connection.query(
                "SELECT count(*), count(*) FILTER (WHERE owner = $1) FROM upload_sessions", [.text(session.owner)])
            let total = try counts.first!.required(counts.first!.int, 0)
            let owned = try counts.first!.required(counts.first!.int, 1)
            guard total < limits.maxOpen else { throw StoreError.tooManyUploads(limit: limits.maxOpen) }
            guard owned < limits.maxPerOwner else { throw StoreError.tooManyUploadsForOwner(limit: limits.maxPerOwner) }
            try connection.query("""
                INSERT INTO upload_sessions (\(Self.sessionColumns), lease_token, lease_until)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, clock_timestamp() + $10 * interval '1 second')
                """, Self.parameters(session) + [.int(token), .int(Self.defaultLeaseSeconds)])
        } }
        leases.withLock { $0[session.id] = token }
    }

    /// The lease a new session starts with, until its request releases it.
    static let defaultLeaseSeconds = 60

    public func acquireUpload(_ id: UploadID, for name: RepositoryName, leaseSeconds: Int) throws(StoreError) -> UploadSession {
        let token = Int64.random(in: 1...Int64.max)
        let session: UploadSession = try run { connection in
            let taken = try connection.query("""
                UPDATE upload_sessions
                SET lease_token = $3, lease_until = clock_timestamp() + $4 * interval '1 second'
                WHERE id = $1 AND repository = $2 AND kind = $5
                  AND (lease_until IS NULL OR lease_until < clock_timestamp())
                RETURNING \(Self.sessionColumns)
                """, [.text(id.value), .text(name.value), .int(token), .int(leaseSeconds),
                      .text(Upload.Kind.resumable.rawValue)])
            if let row = taken.first { return try Self.session(row) }
            let exists = try connection.query(
                "SELECT 1 FROM upload_sessions WHERE id = $1 AND repository = $2 AND kind = $3",
                [.text(id.value), .text(name.value), .text(Upload.Kind.resumable.rawValue)])
            throw exists.isEmpty ? StoreError.uploadUnknown(id.value) : StoreError.uploadBusy(id.value)
        }
        leases.withLock { $0[id] = token }
        return session
    }

    public func renewUpload(_ id: UploadID, leaseSeconds: Int) throws(StoreError) {
        let token = try leaseToken(id)
        let renewed = try run { connection in
            try connection.query("""
                UPDATE upload_sessions SET lease_until = clock_timestamp() + $3 * interval '1 second'
                WHERE id = $1 AND lease_token = $2
                """, [.text(id.value), .int(token), .int(leaseSeconds)]).affectedRows == 1
        }
        guard renewed else { throw try lost(id) }
    }

    public func releaseUpload(_ session: UploadSession) throws(StoreError) {
        let token = try leaseToken(session.id)
        let saved = try run { connection in
            try connection.query("""
                UPDATE upload_sessions SET last_active = $3, size = $4, state = $5, lease_token = NULL, lease_until = NULL
                WHERE id = $1 AND lease_token = $2
                """, [.text(session.id.value), .int(token), .int(session.lastActive), .int(session.state.size),
                      .bytes(session.state.data)]).affectedRows == 1
        }
        leases.withLock { _ = $0.removeValue(forKey: session.id) }
        guard saved else { throw try lost(session.id) }
    }

    public func removeUpload(_ id: UploadID) throws(StoreError) {
        try run { connection in
            _ = try connection.query("DELETE FROM upload_sessions WHERE id = $1", [.text(id.value)])
        }
        leases.withLock { _ = $0.removeValue(forKey: id) }
    }

    public func expiredUploads(now: Int, limits: UploadLimits) throws(StoreError) -> [UploadSession] {
        try run { connection in
            try connection.query("""
                SELECT \(Self.sessionColumns) FROM upload_sessions
                WHERE (lease_until IS NULL OR lease_until < clock_timestamp())
                  AND (last_active <= $1::bigint - $2::bigint OR started <= $1::bigint - $3::bigint)
                ORDER BY id
                """, [.int(now), .int(limits.idleTimeout), .int(limits.maxAge)]).rows.map(Self.session)
        }
    }

    public func uploadIDs() throws(StoreError) -> Set<UploadID> {
        Set(try run { connection in
            try connection.query("SELECT id FROM upload_sessions").rows.compactMap { row in
                UploadID(validating: try row.required(row.string, 0))
            }
        })
    }

    public func uploadCount() throws(StoreError) -> Int {
        try run { connection in
            Int(try connection.query("SELECT count(*) FROM upload_sessions").first?.int(0) ?? 0)
        }
    }

    // MARK: Rows

    private func leaseToken(_ id: UploadID) throws(StoreError) -> Int64 {
        guard let token = leases.withLock({ $0[id] }) else { throw .uploadBusy(id.value) }
        return token
    }

    /// Why a lease check failed: the session is gone, or its lease lapsed and another request took it.
    private func lost(_ id: UploadID) throws(StoreError) -> StoreError {
        let exists = try run { connection in
            try !connection.query("SELECT 1 FROM upload_sessions WHERE id = $1", [.text(id.value)]).isEmpty
        }
        return exists ? .uploadBusy(id.value) : .uploadUnknown(id.value)
    }

    private static func parameters(_ session: UploadSession) -> [PGValue] {
        [.text(session.id.value), .text(session.repository.value), .text(session.owner), .text(session.kind.rawValue),
         .int(session.started), .int(session.lastActive), .int(session.state.size), .bytes(session.state.data)]
    }

    private static func session(_ row: PGRow) throws -> UploadSession {
        let idText = try row.required(row.string, 0)
        guard let id = UploadID(validating: idText) else { throw StoreError.unavailable("stored upload id \(idText) is invalid") }
        let kindText = try row.required(row.string, 3)
        guard let kind = Upload.Kind(rawValue: kindText) else {
            throw StoreError.unavailable("stored upload kind \(kindText) is invalid")
        }
        return UploadSession(
            id: id, repository: try RepositoryName(validating: row.required(row.string, 1)),
            owner: try row.required(row.string, 2), kind: kind,
            started: Int(try row.required(row.int, 4)), lastActive: Int(try row.required(row.int, 5)),
            state: UploadState(size: try row.required(row.int, 6), data: try row.required(row.bytes, 7)))
    }
}
