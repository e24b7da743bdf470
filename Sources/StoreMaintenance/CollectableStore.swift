import BlobStore
import OCIModel

/// What garbage collection needs from a whole store: its metadata's entries, sections and cutoff-guarded removals
/// (`CollectableMetadata`, with its guarantees), and the blobs' content, whose removals `syncRemovals` makes
/// durable. `BlobStore` (filesystem) and `ComposedStorage` (blob storage plus a metadata store) implement it.
public protocol CollectableStore: CollectableMetadata {
    /// Runs `body` as the only collection of this store in this process; nil at once when one is running.
    func asOnlyCollection<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T?
    /// Removes a blob (its record and its content) if it is still older than the cutoff.
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
