import BlobStore
import Glibc
import OCIModel

/// What the garbage collector reads and removes. Each removal is one `DELETE` whose `WHERE` re-checks the cutoff
/// (and that nothing names the item any more), so it is atomic by itself; `exclusively` keeps every shared section
/// (PUT, mount, commit, HEAD refresh) of every replica out while a batch of removals runs.
extension PostgresMetadataStore {
    /// Holds the collection lock exclusively on one connection while `body` runs; the calls `body` makes on this
    /// thread use that connection (see `exclusiveHolder`). Waits for the shared sections in progress on any replica;
    /// new ones queue behind this one.
    public func exclusively<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        if exclusiveHolder.withLock({ $0.map { pthread_equal($0.thread, pthread_self()) != 0 } ?? false }) {
            return try body()  // already inside
        }
        let connection: PGConnection
        do {
            connection = try pool.acquire()
        } catch {
            throw Self.storeError(error)
        }
        defer { pool.release(connection) }
        do {
            try connection.query("SELECT pg_advisory_lock($1)", [.int(MetadataSchema.collectionLockKey)])
        } catch {
            throw Self.storeError(error)
        }
        exclusiveHolder.withLock { $0 = (pthread_self(), connection) }
        defer {
            exclusiveHolder.withLock { $0 = nil }
            // A broken connection has lost the lock with its session; the pool then closes it.
            _ = try? connection.query("SELECT pg_advisory_unlock($1)", [.int(MetadataSchema.collectionLockKey)])
        }
        return try body()
    }

    /// The database's clock, read holding the collection lock exclusively: every shared section that began earlier
    /// has committed, and every later one stamps a time at least this.
    public func collectionClock() throws(StoreError) -> Int64 {
        try exclusively { () throws(StoreError) -> Int64 in
            try run { connection in try Self.clock(connection) }
        }
    }

    public func tagEntries(_ name: RepositoryName) throws(StoreError) -> [TagEntry] {
        let rows: [(String, String, Int64)] = try run { connection in
            guard let id = try repositoryID(name.value, on: connection) else { return [] }
            return try connection.query(
                "SELECT name, manifest_digest, modified FROM tags WHERE repository_id = $1 ORDER BY name", [.int(id)]
            ).rows.map { row in (try row.required(row.string, 0), try row.required(row.string, 1), try row.required(row.int, 2)) }
        }
        return try rows.map { (tag, digest, modified) throws(StoreError) in
            do {
                return TagEntry(tag: try Tag(validating: tag), digest: try Self.digest(digest), modified: modified)
            } catch {
                throw Self.storeError(error)
            }
        }
    }

    public func revisionEntries(_ name: RepositoryName) throws(StoreError) -> [LinkEntry] {
        try linkEntries(name, "SELECT digest, modified FROM manifests WHERE repository_id = $1 ORDER BY digest")
    }

    public func layerLinkEntries(_ name: RepositoryName) throws(StoreError) -> [LinkEntry] {
        try linkEntries(name, "SELECT digest, modified FROM repository_blobs WHERE repository_id = $1 ORDER BY digest")
    }

    private func linkEntries(_ name: RepositoryName, _ sql: String) throws(StoreError) -> [LinkEntry] {
        let rows: [(String, Int64)] = try run { connection in
            guard let id = try repositoryID(name.value, on: connection) else { return [] }
            return try connection.query(sql, [.int(id)]).rows.map { row in
                (try row.required(row.string, 0), try row.required(row.int, 1))
            }
        }
        return try rows.map { (digest, modified) throws(StoreError) in
            LinkEntry(digest: try Self.digest(digest), modified: modified)
        }
    }

    public func referrerEntries(_ name: RepositoryName) throws(StoreError) -> [Digest: [Digest]] {
        let rows: [(String, String)] = try run { connection in
            guard let id = try repositoryID(name.value, on: connection) else { return [] }
            return try connection.query("""
                SELECT subject_digest, digest FROM manifests
                WHERE repository_id = $1 AND subject_digest IS NOT NULL ORDER BY subject_digest, digest
                """, [.int(id)]).rows.map { row in (try row.required(row.string, 0), try row.required(row.string, 1)) }
        }
        var entries: [Digest: [Digest]] = [:]
        for (subject, digest) in rows {
            entries[try Self.digest(subject), default: []].append(try Self.digest(digest))
        }
        return entries
    }

    public func blobEntries() throws(StoreError) -> [BlobEntry] {
        let rows: [(String, Int64, Int64)] = try run { connection in
            try connection.query("SELECT digest, size, modified FROM blobs ORDER BY digest").rows.map { row in
                (try row.required(row.string, 0), try row.required(row.int, 1), try row.required(row.int, 2))
            }
        }
        return try rows.map { (digest, size, modified) throws(StoreError) in
            BlobEntry(digest: try Self.digest(digest), size: size, modified: modified)
        }
    }

    public func manifestBytes(_ digest: Digest, maxBytes: Int) throws(StoreError) -> [UInt8]? {
        try run { connection in
            try connection.query("""
                SELECT payload FROM manifests WHERE digest = $1 AND octet_length(payload) <= $2 LIMIT 1
                """, [.text(digest.description), .int(maxBytes)]).first?.bytes(0)
        }
    }

    public func removeTag(_ name: RepositoryName, _ tag: Tag, pointingTo digest: Digest,
                          modifiedBefore cutoff: Int64) throws(StoreError) -> Bool {
        try change(name.value) { connection, _ in
            guard let id = try repositoryID(name.value, on: connection) else { return false }
            return try connection.query("""
                DELETE FROM tags WHERE repository_id = $1 AND name = $2 AND manifest_digest = $3 AND modified < $4
                """, [.int(id), .text(tag.value), .text(digest.description), .int(cutoff)]).affectedRows == 1
        }
    }

    /// Removes the manifest (its referrer entry is the same row) unless a tag points to it: a tag set after the
    /// collector's mark would otherwise be taken with it (the tags' foreign key cascades).
    public func removeRevision(_ name: RepositoryName, _ digest: Digest, subject: Digest?,
                               modifiedBefore cutoff: Int64) throws(StoreError) -> Bool {
        try change(name.value) { connection, _ in
            guard let id = try repositoryID(name.value, on: connection) else { return false }
            return try connection.query("""
                DELETE FROM manifests m WHERE m.repository_id = $1 AND m.digest = $2 AND m.modified < $3
                  AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.repository_id = $1 AND t.manifest_digest = $2)
                """, [.int(id), .text(digest.description), .int(cutoff)]).affectedRows == 1
        }
    }

    public func removeLayerLink(_ name: RepositoryName, _ digest: Digest,
                                modifiedBefore cutoff: Int64) throws(StoreError) -> Bool {
        try change(name.value) { connection, _ in
            guard let id = try repositoryID(name.value, on: connection) else { return false }
            return try connection.query(
                "DELETE FROM repository_blobs WHERE repository_id = $1 AND digest = $2 AND modified < $3",
                [.int(id), .text(digest.description), .int(cutoff)]).affectedRows == 1
        }
    }

    public func removeBlobRecord(_ digest: Digest, modifiedBefore cutoff: Int64) throws(StoreError) -> Int64? {
        try run { connection in
            try connection.query("""
                DELETE FROM blobs b WHERE b.digest = $1 AND b.modified < $2
                  AND NOT EXISTS (SELECT 1 FROM repository_blobs l WHERE l.digest = $1)
                  AND NOT EXISTS (SELECT 1 FROM manifest_references r WHERE r.reference_digest = $1 AND NOT r.is_manifest)
                RETURNING size
                """, [.text(digest.description), .int(cutoff)]).first?.int(0)
        }
    }
}
