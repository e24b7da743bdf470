import CLinuxShim
import Glibc
import OCIModel
import SystemIO

/// What `swregistry verify --repair` may change: damaged blobs leave `blobs/` for `quarantine/`, and entries that
/// point at nothing are removed. Each operation checks again, under the metadata lock, that what was found is still
/// so (a server may have repaired it meanwhile: a re-push), updates the metadata cache, and moves the metadata
/// generation on, so that nothing this process serves from memory (manifest bytes, rendered answers) outlives it.
///
/// Each also holds the store's reference lock exclusively (see `ReferenceLock`, `GarbageCollector`): a push,
/// mount or upload commit checks what it names and writes under the shared lock, so none of them can make a
/// link or tag current between a repair's check and its change.
extension BlobStore {
    /// Moves a blob whose content does not hash to its name out of `blobs/`, so that it is no longer served: a
    /// client then gets 404 and pushes it again (a damaged blob of the right size would otherwise stay, since an
    /// upload that finds its blob stored with that size keeps the stored one).
    /// - Parameters:
    ///   - device, inode: the file that was hashed; a file replaced since is left alone.
    /// - Returns: where the blob went, relative to the root; nil when the file is gone or was replaced.
    public func quarantineBlob(_ digest: Digest, device: UInt64, inode: UInt64) throws(StoreError) -> String? {
        do {
            // Exclusive: no push, mount or upload commit is between its check and its write meanwhile.
            return try exclusivelyAfterCheckpoint { () throws(SystemError) -> String? in
                try metadataLock.withLock { _ throws(SystemError) -> String? in
                    let path = layout.blob(digest)
                    var st = stat()
                    guard isContained(path), lstat(path, &st) == 0, UInt64(st.st_dev) == device, UInt64(st.st_ino) == inode else { return nil }
                    let directory = "\(layout.quarantineDirectory)/\(digest.algorithm.rawValue)"
                    try FileSystem.makePrivateDirectory(layout.quarantineDirectory)
                    try FileSystem.makePrivateDirectory(directory)
                    // The same digest may have been quarantined before (damaged again after a re-push): keep both.
                    for attempt in 0..<1000 {
                        let name = attempt == 0 ? digest.encoded : "\(digest.encoded).\(attempt)"
                        let target = "\(directory)/\(name)"
                        var rc = swshim_renameat2(AT_FDCWD, path, AT_FDCWD, target, UInt32(swshim_RENAME_NOREPLACE))
                        if rc != 0 && errno == EINVAL {
                            // The filesystem has no RENAME_NOREPLACE: check, then rename (this lock keeps other
                            // quarantines out of the gap).
                            if FileSystem.exists(target) { continue }
                            rc = rename(path, target)
                        }
                        if rc == 0 {
                            cache.dropManifest(digest)
                            cache.metadataChanged()
                            try FileSystem.syncDirectory(directory)
                            try FileSystem.syncDirectory(layout.blobDirectory(digest))
                            return "quarantine/\(digest.algorithm.rawValue)/\(name)"
                        }
                        if errno == ENOENT { return nil }
                        guard errno == EEXIST else { throw SystemError("rename \(path) → \(target)", errno: errno) }
                    }
                    throw SystemError("rename \(path) into \(directory)", errno: EEXIST)
                }
            }
        } catch {
            throw .io(error)
        }
    }

    /// Removes a repository's link to a blob that is not stored.
    /// - Returns: false when there was nothing to do: the blob is stored again, or the link is gone.
    public func removeDanglingLayerLink(_ name: RepositoryName, _ digest: Digest) throws(StoreError) -> Bool {
        do {
            // Exclusive: no push, mount or upload commit is between its check and its write meanwhile.
            return try exclusivelyAfterCheckpoint { () throws(SystemError) -> Bool in
                try metadataLock.withLock { _ throws(SystemError) -> Bool in
                    guard blobSize(digest) == nil else { return false }
                    return try removeContained(layout.layerLink(name, digest))
                }
            }
        } catch {
            throw .io(error)
        }
    }

    /// Removes a repository's revision whose manifest blob is not stored (tags and referrer entries that point to it
    /// are dangling then; the caller removes those as such).
    /// - Returns: false when the blob is stored again or the revision is gone.
    public func removeDanglingRevision(_ name: RepositoryName, _ digest: Digest) throws(StoreError) -> Bool {
        do {
            // Exclusive: no push, mount or upload commit is between its check and its write meanwhile.
            return try exclusivelyAfterCheckpoint { () throws(SystemError) -> Bool in
                try metadataLock.withLock { _ throws(SystemError) -> Bool in
                    guard blobSize(digest) == nil else { return false }
                    defer { cache.metadataChanged() }
                    cache.setRevision(name, digest, mediaType: nil)
                    cache.dropManifest(digest)
                    return try removeContained(layout.revisionLink(name, digest))
                }
            }
        } catch {
            throw .io(error)
        }
    }

    /// Removes a tag that points to no manifest of its repository.
    /// - Parameter target: what the tag held when it was found dangling (nil: no digest); a tag moved since stays.
    /// - Returns: false when the tag moved, its manifest is there again, or the tag is gone.
    public func removeDanglingTag(_ name: RepositoryName, _ tag: Tag, target: Digest?) throws(StoreError) -> Bool {
        do {
            // Exclusive: no push, mount or upload commit is between its check and its write meanwhile.
            return try exclusivelyAfterCheckpoint { () throws(SystemError) -> Bool in
                try metadataLock.withLock { _ throws(SystemError) -> Bool in
                    let path = layout.tag(name, tag)
                    let text = (try? FileSystem.read(path, maxBytes: 1024)) ?? nil
                    guard FileSystem.exists(path) else { return false }
                    let current = text.flatMap { try? Digest(parsing: String(decoding: $0, as: UTF8.self)) }
                    guard current == target else { return false }
                    if let current, FileSystem.exists(layout.revisionLink(name, current)) { return false }
                    defer { cache.metadataChanged() }
                    cache.setTag(name, tag, nil)
                    return try removeContained(path)
                }
            }
        } catch {
            throw .io(error)
        }
    }

    /// Removes a referrer entry whose referrer is not a manifest of the repository.
    /// - Returns: false when the manifest is there again or the entry is gone.
    public func removeDanglingReferrer(_ name: RepositoryName, subject: Digest, referrer: Digest) throws(StoreError) -> Bool {
        do {
            // Exclusive: no push, mount or upload commit is between its check and its write meanwhile.
            return try exclusivelyAfterCheckpoint { () throws(SystemError) -> Bool in
                try metadataLock.withLock { _ throws(SystemError) -> Bool in
                    guard !FileSystem.exists(layout.revisionLink(name, referrer)) else { return false }
                    defer { cache.metadataChanged() }
                    return try removeContained(layout.referrer(name, subject: subject, referrer: referrer))
                }
            }
        } catch {
            throw .io(error)
        }
    }
}
