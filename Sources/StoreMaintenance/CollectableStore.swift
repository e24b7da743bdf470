import BlobStore
import OCIModel

/// What garbage collection needs from a store: enumerate, read manifests, delete each kind of thing under an
/// exclusive section, with modification times to decide by. `BlobStore` (filesystem) implements it; a shared
/// backend (object storage plus a database) can implement it with the same guarantees:
///
/// - `exclusively` excludes every mutation that makes something reachable (they run "shared"), across every
///   process that serves the store;
/// - every such mutation sets the modification time of what it makes reachable to its clock's now, after
///   checking it is present, inside its shared section; `collectionClock` reads that same clock;
/// - each `remove…` deletes only when the item is still older than the cutoff it is given, and `syncRemovals`
///   makes the removals so far durable.
public protocol CollectableStore: Sendable {
    /// Runs `body` as the only collection of this store in this process; nil at once when one is running.
    func asOnlyCollection<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T?
    /// Runs `body` with no mutation in progress and none starting. Store errors only: taking the section may
    /// itself fail in a store over a network (`MetadataStore.exclusively`).
    func exclusively<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T
    /// The mutations' clock (nanoseconds since the epoch), read with no mutation in progress.
    func collectionClock() throws(StoreError) -> Int64

    func repositoryNames() throws(StoreError) -> [RepositoryName]
    func tagEntries(_ name: RepositoryName) throws(StoreError) -> [TagEntry]
    func revisionEntries(_ name: RepositoryName) throws(StoreError) -> [LinkEntry]
    func layerLinkEntries(_ name: RepositoryName) throws(StoreError) -> [LinkEntry]
    /// Subject → the manifests of `name` recorded as its referrers.
    func referrerEntries(_ name: RepositoryName) throws(StoreError) -> [Digest: [Digest]]
    func blobEntries() throws(StoreError) -> [BlobEntry]
    func manifestBytes(_ digest: Digest, maxBytes: Int) throws(StoreError) -> [UInt8]?

    func removeTag(_ name: RepositoryName, _ tag: Tag, pointingTo digest: Digest, modifiedBefore cutoff: Int64) throws(StoreError) -> Bool
    func removeRevision(_ name: RepositoryName, _ digest: Digest, subject: Digest?, modifiedBefore cutoff: Int64) throws(StoreError) -> Bool
    func removeLayerLink(_ name: RepositoryName, _ digest: Digest, modifiedBefore cutoff: Int64) throws(StoreError) -> Bool
    /// - Returns: the bytes freed, nil when not removed.
    func removeBlob(_ digest: Digest, modifiedBefore cutoff: Int64) throws(StoreError) -> Int64?
    func syncRemovals() throws(StoreError)
    /// Deletes the upload sessions past their expiry (only lists them when `dryRun`).
    /// - Returns: each session's id and the bytes it held.
    func expireUploads(dryRun: Bool) -> [(id: String, bytes: Int64)]
}

extension BlobStore: CollectableStore {
    public func expireUploads(dryRun: Bool) -> [(id: String, bytes: Int64)] {
        uploads.expireSessions(dryRun: dryRun).map { ($0.id.value, $0.size) }
    }
}
