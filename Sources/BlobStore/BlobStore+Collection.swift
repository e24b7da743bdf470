import CLinuxShim
import Glibc
import OCIModel
import Synchronization
import SystemIO

/// A repository link (layer link or manifest revision) as the collector sees it.
public struct LinkEntry: Sendable, Hashable {
    public let digest: Digest
    /// Modification time, nanoseconds since the epoch.
    public let modified: Int64

    public init(digest: Digest, modified: Int64) {
        self.digest = digest
        self.modified = modified
    }
}

/// A tag with the digest it points to and when it was last pushed (the tag file's modification time).
public struct TagEntry: Sendable, Hashable {
    public let tag: Tag
    public let digest: Digest
    public let modified: Int64

    public init(tag: Tag, digest: Digest, modified: Int64) {
        self.tag = tag
        self.digest = digest
        self.modified = modified
    }
}

/// A stored blob with its size and modification time.
public struct BlobEntry: Sendable, Hashable {
    public let digest: Digest
    public let size: Int64
    public let modified: Int64

    public init(digest: Digest, size: Int64, modified: Int64) {
        self.digest = digest
        self.size = size
        self.modified = modified
    }
}

/// What garbage collection reads and deletes (see `GarbageCollector` in StoreMaintenance for the protocol).
///
/// Enumeration holds no lock: the collector's decisions rest on modification times checked again, under the
/// exclusive reference lock, right before each deletion. Every `remove…` must be called holding that lock (in
/// `exclusively`); each is one `unlink` that makes nothing dangle when called in the collector's order, and
/// leaves the directory to be synced by `syncRemovals` (one `fsync` per directory and phase, not per file).
extension BlobStore {
    // MARK: - Running

    /// Runs `body` as this process's only collection, or returns nil at once when one is running.
    public func asOnlyCollection<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T? {
        let started = collecting.withLock { running -> Bool in
            if running { return false }
            running = true
            return true
        }
        guard started else { return nil }
        defer { collecting.withLock { $0 = false } }
        return try body()
    }

    /// Runs `body` holding the reference lock exclusively: no mutation is in progress, none starts; the metadata
    /// log is checkpointed first, so that what `body` deletes stays deleted (see `checkpoint`).
    public func exclusively<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        try references.withExclusive { () throws(StoreError) -> T in
            do throws(SystemError) { try checkpoint() } catch { throw StoreError.io(error) }
            return try body()
        }
    }

    /// The store's clock, read with no mutation in progress: the modification time of a file touched now,
    /// which is the clock every touch of a mutation uses (the filesystem's, coarse-grained), so that every
    /// mutation that starts after this call leaves its touches at this time or later.
    /// - Returns: nanoseconds since the epoch.
    public func collectionClock() throws(StoreError) -> Int64 {
        let path = "\(layout.tmpDirectory)/gc-clock"
        return try exclusively { () throws(StoreError) -> Int64 in
            do throws(SystemError) { try FileSystem.touchFresh(path, durability: durability) } catch { throw .io(error) }
            guard let now = FileSystem.modificationTime(path) else { throw .io(SystemError("stat \(path)", errno: ENOENT)) }
            return now
        }
    }

    // MARK: - Enumeration

    /// Every repository holding a manifest or a blob, validated, sorted.
    public func repositoryNames() throws(StoreError) -> [RepositoryName] {
        try repositories().compactMap { try? RepositoryName(validating: $0) }
    }

    /// The tags of `name` with their digests and push times; a tag file that does not hold a digest is skipped,
    /// one that cannot be read fails the listing (its manifest must not look unreferenced).
    public func tagEntries(_ name: RepositoryName) throws(StoreError) -> [TagEntry] {
        var entries: [TagEntry] = []
        _ = try walkTags(name) { tag, path throws(StoreError) in
            let text: [UInt8]?
            do throws(SystemError) { text = try FileSystem.read(path, maxBytes: 1024) } catch { throw .io(error) }
            guard let modified = FileSystem.modificationTime(path), let text,
                  let digest = try? Digest(parsing: String(decoding: text, as: UTF8.self)) else { return }
            entries.append(TagEntry(tag: tag, digest: digest, modified: modified))
        }
        return entries
    }

    /// The manifests of `name` (revision links).
    public func revisionEntries(_ name: RepositoryName) throws(StoreError) -> [LinkEntry] {
        try linkEntries(revisionLinksDirectory(name))
    }

    /// The blobs linked into `name` (layer links).
    public func layerLinkEntries(_ name: RepositoryName) throws(StoreError) -> [LinkEntry] {
        try linkEntries(layerLinksDirectory(name))
    }

    /// `<directory>/<algorithm>/<encoded>` files as digests with their times.
    private func linkEntries(_ directory: String) throws(StoreError) -> [LinkEntry] {
        var entries: [LinkEntry] = []
        _ = try walkDigestFiles(directory, relativeTo: "") { digest, path throws(StoreError) in
            guard let modified = FileSystem.modificationTime(path) else { return }
            entries.append(LinkEntry(digest: digest, modified: modified))
        }
        return entries
    }

    /// The referrers recorded in `name`: subject → the digests of the manifests whose subject it is.
    public func referrerEntries(_ name: RepositoryName) throws(StoreError) -> [Digest: [Digest]] {
        var result: [Digest: [Digest]] = [:]
        _ = try walkReferrers(name) { subject, referrer, _ throws(StoreError) in result[subject, default: []].append(referrer) }
        return result
    }

    /// Every stored blob (see `Layout.walkBlobs`).
    public func blobEntries() throws(StoreError) -> [BlobEntry] {
        var entries: [BlobEntry] = []
        _ = try layout.walkBlobs(list: listContained) { digest, st throws(StoreError) in entries.append(BlobEntry(digest, st)) }
        return entries
    }

    /// A stored manifest's bytes by digest, whatever repository holds it; nil when absent.
    public func manifestBytes(_ digest: Digest, maxBytes: Int) throws(StoreError) -> [UInt8]? {
        if let bytes = cache.manifest(digest) { return bytes }
        do { return try FileSystem.read(layout.blob(digest), maxBytes: maxBytes) } catch { throw .io(error) }
    }

    // MARK: - Removal (holding the reference lock exclusively)

    /// Removes a tag if it still points to `digest` and was last pushed before `cutoff`.
    /// - Returns: whether it was removed.
    public func removeTag(_ name: RepositoryName, _ tag: Tag, pointingTo digest: Digest,
                          modifiedBefore cutoff: Int64) throws(StoreError) -> Bool {
        let path = layout.tag(name, tag)
        return try metadataLock.withLock { _ throws(StoreError) -> Bool in
            guard let modified = FileSystem.modificationTime(path), modified < cutoff else { return false }
            do throws(SystemError) {
                guard let text = try FileSystem.read(path, maxBytes: 1024),
                      String(decoding: text, as: UTF8.self) == digest.description else { return false }
                defer { cache.metadataChanged() }
                cache.setTag(name, tag, nil)
                return try unlinkForCollection(path)
            } catch {
                throw .io(error)
            }
        }
    }

    /// Removes a manifest from `name` if its revision link is older than `cutoff`: first its referrer entry
    /// (a referrers list never names a manifest that is gone), then the revision link. Tags are not looked at:
    /// the collector removes only a revision no tag pointed to when it marked, and a tag set since touched the
    /// revision (so it is not older than the cutoff).
    /// - Returns: whether it was removed.
    public func removeRevision(_ name: RepositoryName, _ digest: Digest, subject: Digest?,
                               modifiedBefore cutoff: Int64) throws(StoreError) -> Bool {
        let path = layout.revisionLink(name, digest)
        return try metadataLock.withLock { _ throws(StoreError) -> Bool in
            guard let modified = FileSystem.modificationTime(path), modified < cutoff else { return false }
            defer { cache.metadataChanged() }
            do throws(SystemError) {
                if let subject { try unlinkForCollection(layout.referrer(name, subject: subject, referrer: digest)) }
                cache.setRevision(name, digest, mediaType: nil)
                return try unlinkForCollection(path)
            } catch {
                throw .io(error)
            }
        }
    }

    /// Removes a layer link of `name` if it is older than `cutoff`. - Returns: whether it was removed.
    public func removeLayerLink(_ name: RepositoryName, _ digest: Digest, modifiedBefore cutoff: Int64) throws(StoreError) -> Bool {
        let path = layout.layerLink(name, digest)
        guard let modified = FileSystem.modificationTime(path), modified < cutoff else { return false }
        do { return try unlinkForCollection(path) } catch { throw .io(error) }
    }

    /// Removes a blob if it is older than `cutoff`. - Returns: its size when removed, else nil.
    public func removeBlob(_ digest: Digest, modifiedBefore cutoff: Int64) throws(StoreError) -> Int64? {
        let path = layout.blob(digest)
        var st = stat()
        guard lstat(path, &st) == 0,
              Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec) < cutoff else { return nil }
        cache.dropManifest(digest)
        let removed: Bool
        do { removed = try unlinkForCollection(path) } catch { throw .io(error) }
        guard removed else { return nil }
        statistics.blobRemoved(digest, size: Int64(st.st_size))
        return Int64(st.st_size)
    }

    /// Makes the removals so far durable. The collector calls it between passes, so that a machine crash cannot
    /// bring back a tag or a revision whose manifest or blob a later pass removed.
    ///
    /// A few directories are synced one by one; past that, one `syncfs` of the store's filesystem: each
    /// directory `fsync` is a journal commit (some 20 ms each on a busy disk here, a minute for the 2,000
    /// directories of a 1,000-repository store), where one `syncfs` commits them all at once.
    public func syncRemovals() throws(StoreError) {
        let directories = unsyncedDirectories.withLock { pending -> Set<String> in
            defer { pending = [] }
            return pending
        }
        do throws(SystemError) {
            if directories.count <= 8 {
                for directory in directories.sorted() { try FileSystem.syncDirectory(directory) }
                return
            }
            let fd = open(layout.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard fd >= 0 else { throw SystemError("open \(layout.root)", errno: errno) }
            defer { close(fd) }
            if swshim_syncfs(fd) != 0 { throw SystemError("syncfs \(layout.root)", errno: errno) }
        } catch {
            throw .io(error)
        }
    }

    /// Unlinks a file, recording its directory for `syncRemovals`. - Returns: false when it was not there.
    @discardableResult
    private func unlinkForCollection(_ path: String) throws(SystemError) -> Bool {
        // A folder replaced by a link to elsewhere is not the store's to clean (see `isContained`).
        guard isContained(path) else { return false }
        if Glibc.unlink(path) != 0 {
            if errno == ENOENT { return false }
            throw SystemError("unlink \(path)", errno: errno)
        }
        unsyncedDirectories.withLock { _ = $0.insert(FileSystem.parent(of: path)) }
        return true
    }
}
