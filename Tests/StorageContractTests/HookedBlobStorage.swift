import BlobStore
import OCIModel

/// A blob storage that forwards to another and runs `afterCommit` once an upload's commit succeeded (to play a
/// collector that takes the blob before it is linked).
final class HookedBlobStorage: BlobStorage, @unchecked Sendable {
    let base: any BlobStorage
    var afterCommit: (Digest) -> Void = { _ in }

    init(_ base: any BlobStorage) { self.base = base }

    func size(of digest: Digest) throws(StoreError) -> Int64? { try base.size(of: digest) }
    func content(of digest: Digest, redirect: Bool) throws(StoreError) -> BlobContent { try base.content(of: digest, redirect: redirect) }
    func put(_ bytes: [UInt8], as digest: Digest) throws(StoreError) { try base.put(bytes, as: digest) }
    func read(_ digest: Digest, maxBytes: Int) throws(StoreError) -> [UInt8]? { try base.read(digest, maxBytes: maxBytes) }
    func delete(_ digest: Digest) throws(StoreError) -> Bool { try base.delete(digest) }
    func enumerate(_ visit: (BlobEntry) throws(StoreError) -> Void) throws(StoreError) { try base.enumerate(visit) }
    func beginUpload(_ id: UploadID) throws(StoreError) -> UploadState { try base.beginUpload(id) }
    func appender(for id: UploadID, _ state: UploadState) throws(StoreError) -> any BlobAppender { try base.appender(for: id, state) }
    func commitUpload(_ id: UploadID, _ state: UploadState, as expected: Digest) throws(StoreError) -> Int64 {
        let size = try base.commitUpload(id, state, as: expected)
        afterCommit(expected)
        return size
    }
    func abortUpload(_ id: UploadID, _ state: UploadState) { base.abortUpload(id, state) }
    func staleUploads(startedBefore cutoff: Int64) throws(StoreError) -> [UploadID] { try base.staleUploads(startedBefore: cutoff) }
    func isReachable() -> Bool { base.isReachable() }
}
