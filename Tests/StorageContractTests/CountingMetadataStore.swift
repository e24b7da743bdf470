import BlobStore
import OCIModel
import Synchronization

/// A metadata store that forwards to another and counts the lookups a cache should spare.
final class CountingMetadataStore: MetadataStore, Sendable {
    let base: any MetadataStore
    let resolves = Atomic<Int>(0)
    let manifestReads = Atomic<Int>(0)
    /// While true, links and session removals fail as an unreachable database's do (fault injection).
    let unreachable = Atomic<Bool>(false)

    init(_ base: any MetadataStore) { self.base = base }

    func repositoryExists(_ name: RepositoryName) throws(StoreError) -> Bool { try base.repositoryExists(name) }
    func repositoryPage(after last: String?, limit: Int, include: (String) -> Bool) throws(StoreError) -> (names: [String], more: Bool) {
        try base.repositoryPage(after: last, limit: limit, include: include)
    }
    func blobSize(_ digest: Digest) throws(StoreError) -> Int64? { try base.blobSize(digest) }
    func linkedBlobSize(_ name: RepositoryName, _ digest: Digest, refreshAfter: Int) throws(StoreError) -> Int64? {
        try base.linkedBlobSize(name, digest, refreshAfter: refreshAfter)
    }
    func link(_ name: RepositoryName, _ digest: Digest, size: Int64?, requireKnown: Bool) throws(StoreError) {
        if unreachable.load(ordering: .relaxed) { throw .unavailable("test: database unreachable") }
        try base.link(name, digest, size: size, requireKnown: requireKnown)
    }
    func unlink(_ name: RepositoryName, _ digest: Digest) throws(StoreError) -> Bool { try base.unlink(name, digest) }
    func putManifest(_ name: RepositoryName, _ manifest: ManifestRecord, tag: Tag?) throws(StoreError) -> MissingReference? {
        try base.putManifest(name, manifest, tag: tag)
    }
    func manifest(_ name: RepositoryName, _ digest: Digest) throws(StoreError) -> StoredManifest? {
        manifestReads.add(1, ordering: .relaxed)
        return try base.manifest(name, digest)
    }
    func manifestMediaType(_ name: RepositoryName, _ digest: Digest) throws(StoreError) -> String? {
        try base.manifestMediaType(name, digest)
    }
    func resolve(_ name: RepositoryName, _ tag: Tag) throws(StoreError) -> Digest? {
        resolves.add(1, ordering: .relaxed)
        return try base.resolve(name, tag)
    }
    func deleteManifest(_ name: RepositoryName, _ digest: Digest) throws(StoreError) -> Bool { try base.deleteManifest(name, digest) }
    func deleteTag(_ name: RepositoryName, _ tag: Tag) throws(StoreError) -> Bool { try base.deleteTag(name, tag) }
    func tagPage(_ name: RepositoryName, after last: String?, limit: Int?) throws(StoreError) -> (tags: [String], more: Bool) {
        try base.tagPage(name, after: last, limit: limit)
    }
    func referrers(_ name: RepositoryName, subject: Digest) throws(StoreError) -> [Descriptor] { try base.referrers(name, subject: subject) }
    var generation: UInt64 { base.generation }
    func createUpload(_ session: UploadSession, limits: UploadLimits) throws(StoreError) { try base.createUpload(session, limits: limits) }
    func acquireUpload(_ id: UploadID, for name: RepositoryName, leaseSeconds: Int) throws(StoreError) -> UploadSession {
        try base.acquireUpload(id, for: name, leaseSeconds: leaseSeconds)
    }
    func renewUpload(_ id: UploadID, leaseSeconds: Int) throws(StoreError) { try base.renewUpload(id, leaseSeconds: leaseSeconds) }
    func releaseUpload(_ session: UploadSession) throws(StoreError) { try base.releaseUpload(session) }
    func removeUpload(_ id: UploadID) throws(StoreError) {
        if unreachable.load(ordering: .relaxed) { throw .unavailable("test: database unreachable") }
        try base.removeUpload(id)
    }
    func expiredUploads(now: Int, limits: UploadLimits) throws(StoreError) -> [UploadSession] {
        try base.expiredUploads(now: now, limits: limits)
    }
    func uploadIDs() throws(StoreError) -> Set<UploadID> { try base.uploadIDs() }
    func uploadCount() throws(StoreError) -> Int { try base.uploadCount() }
    func exclusively<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T { try base.exclusively(body) }
    func collectionClock() throws(StoreError) -> Int64 { try base.collectionClock() }
    func repositoryNames() throws(StoreError) -> [RepositoryName] { try base.repositoryNames() }
    func tagEntries(_ name: RepositoryName) throws(StoreError) -> [TagEntry] { try base.tagEntries(name) }
    func revisionEntries(_ name: RepositoryName) throws(StoreError) -> [LinkEntry] { try base.revisionEntries(name) }
    func layerLinkEntries(_ name: RepositoryName) throws(StoreError) -> [LinkEntry] { try base.layerLinkEntries(name) }
    func referrerEntries(_ name: RepositoryName) throws(StoreError) -> [Digest: [Digest]] { try base.referrerEntries(name) }
    func blobEntries() throws(StoreError) -> [BlobEntry] { try base.blobEntries() }
    func manifestBytes(_ digest: Digest, maxBytes: Int) throws(StoreError) -> [UInt8]? { try base.manifestBytes(digest, maxBytes: maxBytes) }
    func removeTag(_ name: RepositoryName, _ tag: Tag, pointingTo digest: Digest, modifiedBefore cutoff: Int64) throws(StoreError) -> Bool {
        try base.removeTag(name, tag, pointingTo: digest, modifiedBefore: cutoff)
    }
    func removeRevision(_ name: RepositoryName, _ digest: Digest, subject: Digest?, modifiedBefore cutoff: Int64) throws(StoreError) -> Bool {
        try base.removeRevision(name, digest, subject: subject, modifiedBefore: cutoff)
    }
    func removeLayerLink(_ name: RepositoryName, _ digest: Digest, modifiedBefore cutoff: Int64) throws(StoreError) -> Bool {
        try base.removeLayerLink(name, digest, modifiedBefore: cutoff)
    }
    func removeBlobRecord(_ digest: Digest, modifiedBefore cutoff: Int64) throws(StoreError) -> Int64? {
        try base.removeBlobRecord(digest, modifiedBefore: cutoff)
    }
    func isReachable() -> Bool { base.isReachable() }
}
