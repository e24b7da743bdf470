import Glibc
import OCIModel
import SystemIO

/// The filesystem tree as a `MetadataStore`, for `ComposedStorage` (and for reading a store whole, as an import
/// does). Most requirements are the store's own functions (`BlobStore+Manifests`, `+Collection`,
/// `+RegistryStorage`); this file adds the rest in the protocol's terms.
///
/// - **Blob records are the blob files** under `blobs/`: the store records a blob by holding it. Pair it with a
///   `FileBlobStorage` over the same root, which commits blobs there; `link` of a blob that is not there throws
///   `blobUnknown`.
/// - **One process**: the store's caches, its generation and its reference lock are this process's (the server
///   holds `StoreLock`); so are the upload sessions' leases, kept in memory, while the sessions themselves are
///   records on disk (`sessions/<id>`, JSON, written aside then renamed, synced). A restart therefore ends every
///   lease at once — which is what a lease of a crashed holder does when it lapses.
/// - `removeBlobRecord` checks the cutoff, not that no link names the blob (that would walk every repository
///   for each blob): the collector calls it only for blobs no surviving link or manifest names, after the pass
///   that removed the links.
extension BlobStore: MetadataStore {
    // MARK: Blobs and links

    /// See `MetadataStore.linkedBlobSize`; a `stat`, and an `utimensat` once per `refreshAfter` seconds.
    public func linkedBlobSize(_ name: RepositoryName, _ digest: Digest, refreshAfter: Int) -> Int64? {
        let link = layout.layerLink(name, digest)
        guard let modified = FileSystem.modificationTime(link) else { return nil }
        var now = timespec()
        clock_gettime(CLOCK_REALTIME_COARSE, &now)
        let age = Int64(now.tv_sec) - modified / 1_000_000_000
        if age >= Int64(refreshAfter) { _ = try? FileSystem.refresh(link) }
        return blobSize(digest)
    }

    /// Links a blob the store holds (`linkBlob`: the blob, then the link, touched under the reference lock).
    /// `size` and `requireKnown` change nothing here: the record is the blob file, so the blob must be there.
    public func link(_ name: RepositoryName, _ digest: Digest, size: Int64?, requireKnown: Bool) throws(StoreError) {
        try linkBlob(name, digest)
    }

    public func unlink(_ name: RepositoryName, _ digest: Digest) throws(StoreError) -> Bool {
        try removeLink(name, digest)
    }

    // MARK: Manifests, tags, referrers

    /// `putManifest` with the protocol's check, in its shared section: every blob linked (or a manifest of the
    /// repository, as the registry accepts), every child manifest held.
    public func putManifest(_ name: RepositoryName, _ manifest: ManifestRecord, tag: Tag?) throws(StoreError) -> MissingReference? {
        let refusal = try putManifest(name, bytes: manifest.bytes, digest: manifest.digest, mediaType: manifest.mediaType,
                                      tag: tag, subject: manifest.subject, referrer: manifest.referrer,
                                      references: manifest.references) { () -> Refused? in
            for blob in manifest.references.blobs
            where !(isLinked(name, blob) && blobSize(blob) != nil) && manifestMediaType(name, blob) == nil {
                return Refused(missing: .blob(blob))
            }
            for child in manifest.references.manifests where manifestMediaType(name, child) == nil {
                return Refused(missing: .manifest(child))
            }
            return nil
        }
        return refusal?.missing
    }

    /// What `putManifest`'s check found missing.
    private struct Refused: Error {
        let missing: MissingReference
    }

    /// Manifests are capped when they are put; this bounds a read of a damaged store.
    static let storedManifestLimit = 64 << 20

    public func manifest(_ name: RepositoryName, _ digest: Digest) throws(StoreError) -> StoredManifest? {
        do { return try manifest(name, digest, maxBytes: Self.storedManifestLimit) } catch {
            if case .manifestUnknown = error { return nil }
            throw error
        }
    }

    public func resolve(_ name: RepositoryName, _ tag: Tag) throws(StoreError) -> Digest? {
        do { return try resolve(name, tag: tag) } catch {
            if case .manifestUnknown = error { return nil }
            throw error
        }
    }

    /// Removes the manifest with its tags and its referrer entry (under its subject, read from its bytes).
    public func deleteManifest(_ name: RepositoryName, _ digest: Digest) throws(StoreError) -> Bool {
        guard manifestMediaType(name, digest) != nil else { return false }
        let bytes = (try? manifestBytes(digest, maxBytes: Self.storedManifestLimit)) ?? nil
        let subject = bytes.flatMap { ManifestReferences(bytes: $0).subject }
        do { try deleteManifest(name, digest, subject: subject) } catch {
            if case .manifestUnknown = error { return false }
            throw error
        }
        return true
    }

    /// Disfavoured: a call whose result is unused keeps meaning the registry's `deleteTag`, which throws.
    @_disfavoredOverload
    public func deleteTag(_ name: RepositoryName, _ tag: Tag) throws(StoreError) -> Bool {
        do { try deleteTag(name, tag) as Void } catch {
            if case .manifestUnknown = error { return false }
            throw error
        }
        return true
    }

    public var generation: UInt64 { metadataGeneration }

    // MARK: Garbage collection

    /// `removeBlob`: the record is the blob (see the type's comment for what is not checked).
    public func removeBlobRecord(_ digest: Digest, modifiedBefore cutoff: Int64) throws(StoreError) -> Int64? {
        try removeBlob(digest, modifiedBefore: cutoff)
    }

    public func isReachable() -> Bool {
        readinessProblem() == nil
    }
}
