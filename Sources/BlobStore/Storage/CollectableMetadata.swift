import OCIModel

/// What garbage collection reads and removes in a store's metadata (see `GarbageCollector` in StoreMaintenance).
/// `MetadataStore` refines it (the metadata half of a store), and so does StoreMaintenance's `CollectableStore` (a
/// whole store, blob content too), so that the collector's needs are written once. The guarantees:
///
/// - `exclusively` excludes every mutation that makes something reachable (they run "shared"), across every
///   process that serves the store;
/// - every such mutation sets the modification time of what it makes reachable to its clock's now, after checking
///   it is present, inside its shared section; `collectionClock` reads that same clock;
/// - each `remove…` deletes only when the item is still older than the cutoff it is given.
public protocol CollectableMetadata: Sendable {
    /// Runs `body` with no mutation in progress and none starting, on every replica. Store errors only: taking the
    /// section may itself fail in a store over a network.
    func exclusively<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T
    /// The mutations' clock (nanoseconds since the epoch), read inside `exclusively`.
    func collectionClock() throws(StoreError) -> Int64

    func repositoryNames() throws(StoreError) -> [RepositoryName]
    func tagEntries(_ name: RepositoryName) throws(StoreError) -> [TagEntry]
    func revisionEntries(_ name: RepositoryName) throws(StoreError) -> [LinkEntry]
    func layerLinkEntries(_ name: RepositoryName) throws(StoreError) -> [LinkEntry]
    /// Subject → the manifests of `name` recorded as its referrers.
    func referrerEntries(_ name: RepositoryName) throws(StoreError) -> [Digest: [Digest]]
    /// Every blob with its size and time (last linked, mounted or named by a manifest put).
    func blobEntries() throws(StoreError) -> [BlobEntry]
    /// A manifest's bytes by digest, whatever repository holds it.
    func manifestBytes(_ digest: Digest, maxBytes: Int) throws(StoreError) -> [UInt8]?

    func removeTag(_ name: RepositoryName, _ tag: Tag, pointingTo digest: Digest, modifiedBefore cutoff: Int64) throws(StoreError) -> Bool
    func removeRevision(_ name: RepositoryName, _ digest: Digest, subject: Digest?, modifiedBefore cutoff: Int64) throws(StoreError) -> Bool
    func removeLayerLink(_ name: RepositoryName, _ digest: Digest, modifiedBefore cutoff: Int64) throws(StoreError) -> Bool
}
