import OCIModel

/// What garbage collection needs (the requirements of StoreMaintenance's `CollectableStore`, which this type
/// conforms to there): the metadata store's entries, sections and cutoff-guarded removals, and the blob
/// storage's deletions.
///
/// A blob goes in two steps, the record first (`removeBlobRecord`, guarded by the cutoff in the exclusive
/// section), then its content: a crash between them leaves content no metadata records, which the next
/// collection lists (`blobEntries` adds what the blob storage holds beyond the records, with the storage's own
/// time) and deletes once older than the cutoff — never a record of missing content.
extension ComposedStorage {
    /// Runs `body` as this process's only collection of this storage; nil at once when one is running.
    public func asOnlyCollection<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T? {
        let started = collection.withLock { state -> Bool in
            if state.running { return false }
            state.running = true
            return true
        }
        guard started else { return nil }
        defer { collection.withLock { $0 = (false, []) } }
        return try body()
    }

    public func exclusively<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        try metadata.exclusively(body)
    }

    public func collectionClock() throws(StoreError) -> Int64 { try metadata.collectionClock() }
    public func repositoryNames() throws(StoreError) -> [RepositoryName] { try metadata.repositoryNames() }
    public func tagEntries(_ name: RepositoryName) throws(StoreError) -> [TagEntry] { try metadata.tagEntries(name) }
    public func revisionEntries(_ name: RepositoryName) throws(StoreError) -> [LinkEntry] { try metadata.revisionEntries(name) }
    public func layerLinkEntries(_ name: RepositoryName) throws(StoreError) -> [LinkEntry] { try metadata.layerLinkEntries(name) }

    public func referrerEntries(_ name: RepositoryName) throws(StoreError) -> [Digest: [Digest]] {
        try metadata.referrerEntries(name)
    }

    public func manifestBytes(_ digest: Digest, maxBytes: Int) throws(StoreError) -> [UInt8]? {
        try metadata.manifestBytes(digest, maxBytes: maxBytes)
    }

    public func removeTag(_ name: RepositoryName, _ tag: Tag, pointingTo digest: Digest,
                          modifiedBefore cutoff: Int64) throws(StoreError) -> Bool {
        try metadata.removeTag(name, tag, pointingTo: digest, modifiedBefore: cutoff)
    }

    public func removeRevision(_ name: RepositoryName, _ digest: Digest, subject: Digest?,
                               modifiedBefore cutoff: Int64) throws(StoreError) -> Bool {
        try metadata.removeRevision(name, digest, subject: subject, modifiedBefore: cutoff)
    }

    public func removeLayerLink(_ name: RepositoryName, _ digest: Digest, modifiedBefore cutoff: Int64) throws(StoreError) -> Bool {
        try metadata.removeLayerLink(name, digest, modifiedBefore: cutoff)
    }

    /// The recorded blobs, then those the blob storage holds that no record names (remembered for
    /// `removeBlob`), with the storage's time.
    public func blobEntries() throws(StoreError) -> [BlobEntry] {
        var entries = try metadata.blobEntries()
        let recorded = Set(entries.map(\.digest))
        var unrecorded: Set<Digest> = []
        try blobs.enumerate { entry throws(StoreError) in
            guard !recorded.contains(entry.digest) else { return }
            entries.append(entry)
            unrecorded.insert(entry.digest)
        }
        collection.withLock { $0.unrecorded = unrecorded }
        return entries
    }

    /// The record (if still older than the cutoff), then the content. A blob that had no record when listed
    /// goes only if it still has none (an upload's commit links it in a shared section, which this excludes).
    /// - Returns: the bytes freed, nil when nothing was removed.
    public func removeBlob(_ digest: Digest, modifiedBefore cutoff: Int64) throws(StoreError) -> Int64? {
        if let size = try metadata.removeBlobRecord(digest, modifiedBefore: cutoff) {
            _ = try blobs.delete(digest)
            return size
        }
        guard collection.withLock({ $0.unrecorded.contains(digest) }), try metadata.blobSize(digest) == nil else { return nil }
        guard let size = try blobs.size(of: digest), try blobs.delete(digest) else { return nil }
        return size
    }

    /// The filesystem metadata store syncs its removals' folders in batches (`BlobStore.syncRemovals`); other
    /// stores make each removal durable as it happens.
    public func syncRemovals() throws(StoreError) {
        if let store = metadata as? BlobStore { try store.syncRemovals() }
    }

    /// See `expireUploads`; each session with the bytes it held.
    public func expireUploads(dryRun: Bool) -> [(id: String, bytes: Int64)] {
        expireSessions(dryRun: dryRun).map { ($0.id.value, $0.state.size) }
    }
}
