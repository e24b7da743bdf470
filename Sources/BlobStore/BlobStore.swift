import Glibc
import OCIModel
import Synchronization
import SystemIO

/// The content-addressed, deduplicated store: one copy of each blob, repositories holding links
/// (see `Layout` for the tree).
///
/// Methods block (file I/O, `fsync`): call the mutating ones from a `BlockingPool`. Reads of small metadata are
/// served from `MetadataCache` when hot. A blob is durable before anything links it; metadata changes are durable
/// in the store's write-ahead log (`MetadataJournal`) before they are acknowledged, and replayed from it after a
/// crash, so a `kill -9` at any instant leaves a consistent store; what a crash can leave behind is unreferenced
/// content (collected later) and files in `tmp/` (removed at start).
public final class BlobStore: Sendable {
    public let layout: Layout
    let cache = MetadataCache()
    /// Sorted listings of large folders, for catalog and tag-list pages.
    let listings = DirectoryListings()
    /// Serialises metadata mutations (manifests, tags, referrers) so that the cache always agrees with the disk.
    /// Taken after `references` when both are needed.
    let metadataLock = Mutex(())
    /// Held shared by every mutation that makes something reachable, exclusively by the garbage collector while
    /// it deletes (see `ReferenceLock`, and `GarbageCollector` for the protocol).
    public let references = ReferenceLock()
    /// Whether a collection is running in this process (one at a time).
    let collecting = Mutex(false)
    /// Directories whose entries the collector removed and has not synced yet (see `syncRemovals`).
    let unsyncedDirectories = Mutex<Set<String>>([])
    /// A repository link older than this many seconds is touched when a client asks about its blob (`HEAD`):
    /// a client that checks a blob and then pushes a manifest naming it finds the blob kept for the collector's
    /// grace period. A quarter of the grace period (`gc.grace`); set by the server.
    public let linkRefreshSeconds = Atomic<Int>(900)
    public let uploads: UploadRegistry
    /// `ComposedStorage`'s upload sessions when this store is its metadata (see `BlobStore+MetadataSessions`).
    let uploadSessions = UploadSessionTable()
    /// Flushes shared by concurrent writers (see `GroupCommit`).
    public let durability: GroupCommit
    /// What writers renamed into place and have not flushed yet (see `UnflushedPaths`).
    let unflushed = UnflushedPaths()
    /// The write-ahead log of metadata changes: links, manifests, tags, referrers (see `MetadataJournal`).
    let journal: MetadataJournal
    /// The log's records left at opening are in the tree (until then, nothing may empty the log).
    let journalReplayed = Atomic<Bool>(false)
    /// Blobs stored and their bytes, once counted (see `StoreStatistics`; `serve` starts the count).
    public let statistics = StoreStatistics()

    /// Opens (creating if needed) a store under `root`.
    /// Upload sessions that no client can continue (see `UploadRegistry`) are deleted here.
    /// - Parameters:
    ///   - uploadLimits: how many upload sessions, and for how long.
    /// - Throws: `SystemError` when the folders cannot be created.
    public convenience init(root: String, uploadLimits: UploadLimits = UploadLimits()) throws(SystemError) {
        try self.init(root: root, uploadLimits: uploadLimits, clock: { Int(time(nil)) })
    }

    /// - Parameter clock: seconds since the epoch, as upload expiry sees them (tests move it).
    init(root: String, uploadLimits: UploadLimits, clock: @escaping @Sendable () -> Int) throws(SystemError) {
        layout = Layout(root: root)
        for dir in [layout.root, layout.blobsDirectory, layout.repositoriesDirectory, layout.tmpDirectory] {
            try FileSystem.makeDirectories(dir)
        }
        try layout.makePrivateFolder(layout.uploadsDirectory)
        // Made (private) by the first session record; one an earlier version made loses group and other access.
        _ = chmod(layout.sessionsDirectory, Layout.privateFolderMode)
        // Files in tmp/ are writes a crash interrupted; nothing refers to them.
        for name in try FileSystem.list(layout.tmpDirectory) {
            Glibc.unlink("\(layout.tmpDirectory)/\(name)")
        }
        uploads = try UploadRegistry(layout: layout, limits: uploadLimits, clock: clock)
        durability = try GroupCommit(root: layout.root, folders: [layout.blobsDirectory, layout.repositoriesDirectory,
                                                                  layout.uploadsDirectory, layout.tmpDirectory])
        journal = try MetadataJournal(path: layout.journalFile)
        // What a crash left in the log reaches the tree before anything reads it.
        try replayJournal()
    }

    deinit {
        // A store closed cleanly leaves an empty log (a failure here leaves it for the next opening's replay).
        // Not when the opening failed: the log then holds changes the tree may lack, for the next replay.
        if journalReplayed.load(ordering: .acquiring) { try? checkpoint() }
    }

    // MARK: - Blobs

    /// The size of a stored blob, whatever repository links it; nil when absent.
    public func blobSize(_ digest: Digest) -> Int64? {
        FileSystem.fileSize(layout.blob(digest))
    }

    /// Whether `name` links the blob.
    public func isLinked(_ name: RepositoryName, _ digest: Digest) -> Bool {
        FileSystem.exists(layout.layerLink(name, digest))
    }

    /// Opens a blob of a repository for reading.
    /// - Returns: the open descriptor and the blob's size.
    /// - Throws: `StoreError.blobUnknown` when the repository does not link it.
    public func openBlob(_ name: RepositoryName, _ digest: Digest) throws(StoreError) -> (SharedFileDescriptor, Int64) {
        guard isLinked(name, digest) else { throw .blobUnknown(digest) }
        let fd = open(layout.blob(digest), O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { throw .blobUnknown(digest) }
            throw .io(SystemError("open blob", errno: errno))
        }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let e = errno
            close(fd)
            throw .io(SystemError("fstat blob", errno: e))
        }
        return (SharedFileDescriptor(taking: fd), Int64(st.st_size))
    }

    /// The size of a blob `name` links, or nil when it does not link it or the blob is absent. A link older than
    /// `linkRefreshSeconds` is touched (cheap: the `stat` is needed anyway, and the `utimensat` happens once per
    /// such period): a client that sees the blob here and then skips its upload finds it kept by the collector
    /// for its grace period. Not under the reference lock (this runs on an event loop, and must not wait for a
    /// collector's batch): a link the collector is deleting at this very instant may still go, and the manifest
    /// that names it is then refused (MANIFEST_BLOB_UNKNOWN), never stored dangling.
    public func linkedBlobSize(_ name: RepositoryName, _ digest: Digest) -> Int64? {
        linkedBlobSize(name, digest, refreshAfter: linkRefreshSeconds.load(ordering: .relaxed))
    }

    /// Links a stored blob into a repository (cross-repository mount). Under the reference lock, the blob is
    /// touched and then the link made or touched, so that the collector keeps both for its grace period.
    /// - Throws: `StoreError.blobUnknown` when the blob is not stored.
    public func linkBlob(_ name: RepositoryName, _ digest: Digest) throws(StoreError) {
        try references.withShared { () throws(StoreError) in
            let present: Bool
            do throws(SystemError) { present = try FileSystem.refresh(layout.blob(digest)) } catch { throw .io(error) }
            guard present else { throw .blobUnknown(digest) }
            do throws(SystemError) { try recordLink(name, digest) } catch { throw .io(error) }
        }
    }

    /// Removes a blob's link from a repository; the content stays until garbage collection.
    public func unlinkBlob(_ name: RepositoryName, _ digest: Digest) throws(StoreError) {
        guard try removeLink(name, digest) else { throw .blobUnknown(digest) }
    }

    /// Removes a blob's link durably, after a checkpoint (see `checkpoint`). - Returns: false when there was none.
    func removeLink(_ name: RepositoryName, _ digest: Digest) throws(StoreError) -> Bool {
        do {
            return try metadataLock.withLock { _ throws(SystemError) -> Bool in
                try checkpointLocked()
                return try FileSystem.remove(layout.layerLink(name, digest))
            }
        } catch {
            throw .io(error)
        }
    }

    // MARK: - Repositories

    public func repositoryExists(_ name: RepositoryName) -> Bool {
        FileSystem.isRealDirectory(layout.repository(name))
    }

    /// Every repository holding a manifest or a blob, sorted. Walks the tree: call it from a blocking pool.
    public func repositories() throws(StoreError) -> [String] {
        var found: [String] = []
        func walk(_ relative: String) throws(SystemError) {
            let path = relative.isEmpty ? layout.repositoriesDirectory : "\(layout.repositoriesDirectory)/\(relative)"
            let entries = try FileSystem.list(path)
            if entries.contains("_manifests") || entries.contains("_layers") { found.append(relative) }
            for entry in entries where !entry.hasPrefix("_") && FileSystem.isRealDirectory("\(path)/\(entry)") {
                try walk(relative.isEmpty ? entry : "\(relative)/\(entry)")
            }
        }
        do { try walk("") } catch { throw .io(error) }
        return found.sorted()
    }
}
