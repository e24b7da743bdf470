import BlobStore
import Glibc
import OCIModel

extension PostgresMetadataStore {
    // MARK: Blobs and links

    public func blobSize(_ digest: Digest) throws(StoreError) -> Int64? {
        try run { connection in
            try connection.query("""
                SELECT b.size FROM blobs b
                WHERE b.digest = $1 AND EXISTS (SELECT 1 FROM repository_blobs l WHERE l.digest = b.digest)
                """, [.text(digest.description)]).first?.int(0)
        }
    }

    public func linkedBlobSize(_ name: RepositoryName, _ digest: Digest, refreshAfter: Int) throws(StoreError) -> Int64? {
        // Whether the link is older than `refreshAfter` is decided on the database's clock, the one it was stamped with.
        // Saturating: a caller may pass a huge value to mean "never refresh".
        let product = Int64(clamping: refreshAfter).multipliedReportingOverflow(by: 1_000_000_000)
        let window = product.overflow ? Int64.max : max(product.partialValue, 0)
        let found: (size: Int64, stale: Bool)? = try run { connection in
            guard let id = try repositoryID(name.value, on: connection) else { return nil }
            guard let row = try connection.query("""
                SELECT b.size, l.modified < (extract(epoch FROM clock_timestamp()) * 1000000)::bigint * 1000 - $3::bigint
                FROM repository_blobs l JOIN blobs b ON b.digest = l.digest
                WHERE l.repository_id = $1 AND l.digest = $2
                """, [.int(id), .text(digest.description), .int(window)]).first
            else { return nil }
            return (try row.required(row.int, 0), try row.required(row.bool, 1))
        }
        guard let found else { return nil }
        // Refreshing is a write under the collection lock; most HEADs find a recent link and skip it.
        if found.stale {
            try change(nil, shared: true) { connection, stamp in
                guard let id = try repositoryID(name.value, on: connection) else { return }
                try connection.query("UPDATE repository_blobs SET modified = $3 WHERE repository_id = $1 AND digest = $2",
                                     [.int(id), .text(digest.description), .int(stamp)])
                try connection.query("UPDATE blobs SET modified = $2 WHERE digest = $1",
                                     [.text(digest.description), .int(stamp)])
            }
        }
        return found.size
    }

    /// One statement (`swr_link`, its own transaction): no NOTIFY, since no replica caches links or absences.
    public func link(_ name: RepositoryName, _ digest: Digest, size: Int64?, requireKnown: Bool) throws(StoreError) {
        _ = try callLink(name, digest, size: requireKnown ? nil : size, from: nil, refreshAfter: 0)
    }

    /// One statement (`swr_link` with `from`): a mount is one round trip.
    public func mount(_ name: RepositoryName, _ digest: Digest, from: RepositoryName,
                      refreshAfter: Int) throws(StoreError) -> Int64? {
        try callLink(name, digest, size: nil, from: from, refreshAfter: refreshAfter)
    }

    private func callLink(_ name: RepositoryName, _ digest: Digest, size: Int64?, from: RepositoryName?,
                          refreshAfter: Int) throws(StoreError) -> Int64? {
        let parameters: [PGValue] = [
            .text(name.value), .text(digest.description), size.map { PGValue.int($0) } ?? .null,
            .optional(from?.value), .int(MetadataSchema.collectionLockKey), .int(Self.nanoseconds(refreshAfter)),
        ]
        let outcome: Result<Int64?, StoreError> = try run { connection in
            do {
                let row = try Self.retryingRaces {
                    try connection.query("SELECT swr_link($1, $2, $3, $4, $5, $6)", parameters).first
                }
                return .success(try row?.int(0))
            } catch {
                guard let failure = error as? PGError, failure.sqlState == "SWR01" else { throw error }
                return .failure(.blobUnknown(digest))
            }
        }
        return try outcome.get()
    }

    /// Seconds as nanoseconds, saturating (a caller may pass a huge value to mean "never").
    static func nanoseconds(_ seconds: Int) -> Int64 {
        let product = Int64(clamping: seconds).multipliedReportingOverflow(by: 1_000_000_000)
        return product.overflow ? Int64.max : max(product.partialValue, 0)
    }

    public func unlink(_ name: RepositoryName, _ digest: Digest) throws(StoreError) -> Bool {
        try change(name.value) { connection, _ in
            guard let id = try repositoryID(name.value, on: connection) else { return false }
            return try connection.query("DELETE FROM repository_blobs WHERE repository_id = $1 AND digest = $2",
                                        [.int(id), .text(digest.description)]).affectedRows == 1
        }
    }

    // MARK: Manifests, tags, referrers

    /// One transaction under the collection lock (shared): refresh and check the manifest's blobs and children in
    /// one `UPDATE … RETURNING` each (the rows it returns are present and now locked until COMMIT, so neither an
    /// unlink nor the collector removes them in between), refresh what the children name transitively, store the
    /// manifest and what it names, then upsert the tag. Two replicas moving one tag serialize on the tag's row:
    /// the later commit wins and both leave a consistent state.
    public func putManifest(_ name: RepositoryName, _ manifest: ManifestRecord, tag: Tag?) throws(StoreError) -> MissingReference? {
        var referrer: [UInt8]?
        if let descriptor = manifest.referrer {
            do { referrer = try JSONCoding.encode(descriptor) } catch {
                throw .manifestInvalid("referrer descriptor: \(error)")
            }
        }
        let parameters: [PGValue] = [
            .text(name.value), .text(manifest.digest.description), .text(manifest.mediaType), .bytes(manifest.bytes),
            .optional(manifest.subject?.description), .optional(manifest.referrer?.artifactType?.rawValue),
            referrer.map(PGValue.bytes) ?? .null,
            Self.array(manifest.references.blobs.map(\.description)),
            Self.array(manifest.references.manifests.map(\.description)),
            .optional(tag?.value), .text(channel), .int(MetadataSchema.collectionLockKey),
            Self.array(manifest.references.declaredSizes.map(\.digest.description)),
            .text("{" + manifest.references.declaredSizes.map { String($0.size) }.joined(separator: ",") + "}"),
            .int(Self.nanoseconds(manifest.refreshAfter)),
        ]
        // One statement, one implicit transaction (see `swr_put_manifest` in `MetadataSchema`): a missing reference
        // raises SWR01/SWR02, a wrong declared size SWR03, and rolls it all back.
        let outcome: Result<(missing: MissingReference?, moved: Bool), StoreError> = try run { connection in
            do {
                let row = try Self.retryingRaces {
                    try connection.query(
                        "SELECT swr_put_manifest($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::bigint[], $15)",
                        parameters).first
                }
                return .success((nil, try row?.bool(0) ?? true))
            } catch {
                guard let failure = error as? PGError, let detail = failure.detail,
                      ["SWR01", "SWR02", "SWR03"].contains(failure.sqlState) else { throw error }
                if failure.sqlState == "SWR03" {
                    let fields = detail.split(separator: " ")
                    guard fields.count == 2, let position = Int(fields[0]), let stored = Int64(fields[1]) else {
                        return .failure(.unavailable("unreadable size mismatch \(detail)"))
                    }
                    return .success((.size(index: position - 1, stored: stored), false))
                }
                do {
                    let digest = try Digest(parsing: detail)
                    return .success((failure.sqlState == "SWR01" ? .blob(digest) : .manifest(digest), false))
                } catch {
                    return .failure(.unavailable("unreadable missing reference \(detail)"))
                }
            }
        }
        let (missing, moved) = try outcome.get()
        // A tag that moved is the only change a cache can hold stale (see migration 3); creations leave them right.
        if missing == nil && moved { bumpGeneration() }
        return missing
    }

    public var checksDeclaredSizes: Bool { true }

    /// Runs one statement (its own implicit transaction) again when PostgreSQL aborted it as the loser of a race
    /// (40001, 40P01), like `PGConnection.transaction` does for transactions.
    static func retryingRaces<T>(_ body: () throws -> T) throws -> T {
        var attempt = 1
        while true {
            do {
                return try body()
            } catch {
                guard let failure = error as? PGError, failure.isRetryableTransactionFailure, attempt < 8 else { throw error }
                attempt += 1
                usleep(UInt32.random(in: 1_000...5_000) * UInt32(attempt))
            }
        }
    }

    /// A `text[]` parameter in PostgreSQL's array syntax; digests hold no quote or backslash, but each element is
    /// quoted anyway.
    static func array(_ values: [String]) -> PGValue {
        .text("{" + values.map { "\"" + $0 + "\"" }.joined(separator: ",") + "}")
    }

    public func manifest(_ name: RepositoryName, _ digest: Digest) throws(StoreError) -> StoredManifest? {
        try run { connection in
            guard let id = try repositoryID(name.value, on: connection) else { return nil }
            guard let row = try connection.query(
                "SELECT payload, media_type FROM manifests WHERE repository_id = $1 AND digest = $2",
                [.int(id), .text(digest.description)]).first else { return nil }
            return StoredManifest(bytes: try row.required(row.bytes, 0), digest: digest,
                                  mediaType: try row.required(row.string, 1))
        }
    }

    public func manifestMediaType(_ name: RepositoryName, _ digest: Digest) throws(StoreError) -> String? {
        try run { connection in
            guard let id = try repositoryID(name.value, on: connection) else { return nil }
            return try connection.query("SELECT media_type FROM manifests WHERE repository_id = $1 AND digest = $2",
                                        [.int(id), .text(digest.description)]).first?.string(0)
        }
    }

    public func resolve(_ name: RepositoryName, _ tag: Tag) throws(StoreError) -> Digest? {
        let text: String? = try run { connection in
            guard let id = try repositoryID(name.value, on: connection) else { return nil }
            return try connection.query("SELECT manifest_digest FROM tags WHERE repository_id = $1 AND name = $2",
                                        [.int(id), .text(tag.value)]).first?.string(0)
        }
        return try text.map(Self.digest)
    }

    public func deleteManifest(_ name: RepositoryName, _ digest: Digest) throws(StoreError) -> Bool {
        // Its tags and references go with it (ON DELETE CASCADE), and its referrer entry is its own row.
        try change(name.value) { connection, _ in
            guard let id = try repositoryID(name.value, on: connection) else { return false }
            return try connection.query("DELETE FROM manifests WHERE repository_id = $1 AND digest = $2",
                                        [.int(id), .text(digest.description)]).affectedRows == 1
        }
    }

    public func deleteTag(_ name: RepositoryName, _ tag: Tag) throws(StoreError) -> Bool {
        try change(name.value) { connection, _ in
            guard let id = try repositoryID(name.value, on: connection) else { return false }
            return try connection.query("DELETE FROM tags WHERE repository_id = $1 AND name = $2",
                                        [.int(id), .text(tag.value)]).affectedRows == 1
        }
    }

    /// An index range scan on the primary key `(repository_id, name)` in byte order, stopping after `limit` + 1
    /// rows (the plan: Limit → Index Only Scan using tags_pkey; see `catalogPageIsAnIndexRangeScan`, which checks both).
    public func tagPage(_ name: RepositoryName, after last: String?, limit: Int?) throws(StoreError) -> (tags: [String], more: Bool) {
        let page: (tags: [String], more: Bool)? = try run { connection in
            guard let id = try repositoryID(name.value, on: connection),
                  try connection.query("SELECT \(Self.nonEmpty) FROM repositories r WHERE r.id = $1", [.int(id)])
                    .first?.bool(0) == true
            else { return nil }
            var parameters: [PGValue] = [.int(id), .text(last ?? "")]
            var sql = "SELECT name FROM tags WHERE repository_id = $1 AND name > $2 ORDER BY name"
            if let limit {
                sql += " LIMIT $3"
                parameters.append(.int(max(limit, 0) + 1))
            }
            var tags = try connection.query(sql, parameters).rows.map { row in try row.required(row.string, 0) }
            var more = false
            if let limit, tags.count > limit {
                tags.removeLast(tags.count - limit)
                more = true
            }
            return (tags, more)
        }
        guard let page else { throw .nameUnknown(name.value) }
        return page
    }

    public func referrers(_ name: RepositoryName, subject: Digest) throws(StoreError) -> [Descriptor] {
        let encoded: [[UInt8]] = try run { connection in
            guard let id = try repositoryID(name.value, on: connection) else { return [] }
            return try connection.query("""
                SELECT referrer_descriptor FROM manifests
                WHERE repository_id = $1 AND subject_digest = $2 AND referrer_descriptor IS NOT NULL
                ORDER BY digest
                """, [.int(id), .text(subject.description)]).rows.map { row in try row.required(row.bytes, 0) }
        }
        return try encoded.map { bytes throws(StoreError) in
            do { return try JSONCoding.decode(Descriptor.self, from: bytes) } catch {
                throw .unavailable("stored referrer descriptor is unreadable: \(error)")
            }
        }
    }

    static func digest(_ text: String) throws(StoreError) -> Digest {
        do { return try Digest(parsing: text) } catch {
            throw .unavailable("stored digest \(text) is invalid: \(error)")
        }
    }
}
