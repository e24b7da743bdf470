import CLinuxShim
import Glibc
import OCIModel
import SystemIO

/// The layer cache: root filesystems of layer stacks keyed by chainID, the images that use them, and the bundles
/// prepared from those images (see ``CacheStoreLayout`` for the tree).
///
/// Each stack `L₀|…|Lₙ` is unpacked once into `layers/<chainID>/rootfs` as a hard-link clone of its parent stack's
/// rootfs with layer `Lₙ` applied on top, so identical base stacks of different images are shared, and the rootfs
/// of any stack is ready to copy or to use as an overlay lower directory.
///
/// A `prepare` runs, under one lease so that a concurrent prune cannot remove what it builds before the bundle is
/// recorded:
///
/// ```swift
/// let prepared = try store.withLease {
///     let stack = try store.ensureStack(diffIDs: config.rootfs.diffIDs) { index, root in
///         try unpack(layerBlobs[index], onto: root)  // verifies the diffID; replaces entries, never edits inodes
///     }
///     let image = ImageRecord(manifestDigest: manifestDigest, names: [reference], configDigest: configDigest,
///                             diffIDs: config.rootfs.diffIDs)
///     try store.recordImage(image, configBytes: configBytes)
///     return try BundleDirectory.prepare(image: image, store: store, at: bundlePath, mode: .flatten)
/// }
/// ```
///
/// All calls block (file-system work); run them off any event loop. Several processes may use one cache at once:
/// chains are published by atomic rename, builds of one chain are serialised by a per-chain lock, and ``prune(dryRun:)``
/// excludes users holding a ``withLease(_:)``.
public final class CacheStore: Sendable {
    /// Where everything is.
    public let layout: CacheStoreLayout
    /// Whether a finished chain is flushed to disk (`syncfs`) before it is published. Without it a power loss can
    /// leave a published chain with missing data; the rename itself stays atomic.
    public let syncBeforePublish: Bool
    /// Whether concurrent builds of one chain wait for each other (the rename alone keeps them correct; the lock
    /// saves the duplicate work). Tests turn it off to exercise the rename race.
    let lockingEnabled: Bool

    /// Opens (creating if needed) the cache at `root` and removes work directories left by dead processes.
    ///
    /// The root and its directories are made private (0700, see ``PrivateDirectory``): an existing cache with
    /// looser modes is tightened, one owned by another user, or holding anything but a cache, is refused, and so is
    /// a root another user could redirect (see ``TrustedPath``).
    ///
    /// - Parameters:
    ///   - root: The cache directory (see ``CacheLocation/resolve(explicit:environment:uid:)``).
    ///   - syncBeforePublish: Flush each new chain before publishing it (default true).
    /// - Throws: ``PrivateDirectoryError`` when the root belongs to another user or holds other files;
    ///   ``TrustedPathError`` when another user could redirect it; `SystemError` when the
    ///   directories cannot be created.
    public convenience init(root: String, syncBeforePublish: Bool = true) throws {
        try self.init(root: root, syncBeforePublish: syncBeforePublish, lockingEnabled: true)
    }

    init(root: String, syncBeforePublish: Bool, lockingEnabled: Bool) throws {
        // Resolved once, on a path no other user can redirect (see TrustedPath); a symlink to the cache is
        // followed when root or the user owns it (an administrator moving the cache to another disk).
        let resolved = try TrustedPath.resolve(root, createParents: true, followFinalSymlink: true)
        let layout = CacheStoreLayout(root: resolved)
        self.layout = layout
        self.syncBeforePublish = syncBeforePublish
        self.lockingEnabled = lockingEnabled
        // The root first, private before anything is written into it (see PrivateDirectory); then its parts,
        // private too, so that loosening the root by hand still exposes no tree. An existing root must hold
        // nothing but a cache's parts: `--cache-dir /usr` must not make /usr private.
        let parts = Set(layout.directories.map { String($0.dropFirst(resolved.count + 1)) })
        try PrivateDirectory.ensure(resolved) { existing in
            if let other = try FileSystem.list(existing).sorted().first(where: { !parts.contains($0) }) {
                throw PrivateDirectoryError.holdsOtherFiles(path: existing, entry: other)
            }
        }
        for directory in layout.directories { try PrivateDirectory.ensure(directory) }
        _ = try sweepWorkDirectories(dryRun: false)
    }

    /// Whether the stack `chainID` is cached (its `meta.json`, written last, is present).
    public func hasChain(_ chainID: Digest) -> Bool {
        CacheFiles.exists(layout.chainMeta(chainID))
    }

    /// The rootfs directory of a cached stack, or nil when it is not cached.
    public func chainRootfs(_ chainID: Digest) -> String? {
        hasChain(chainID) ? layout.chainRootfs(chainID) : nil
    }

    /// The record of a cached stack, or nil when it is not cached.
    public func layerRecord(_ chainID: Digest) throws -> LayerRecord? {
        try Self.readRecord(LayerRecord.self, at: layout.chainMeta(chainID))
    }

    /// Returns the rootfs of stack `chainID`, building it first when it is not cached.
    ///
    /// A build makes a work directory `tmp/<random>/chain/rootfs`, fills it with a hard-link clone of the parent's
    /// rootfs (see ``TreeClone``), calls `apply` to put the layer on top, writes `meta.json`, flushes, and renames
    /// the chain directory to `layers/<chainID hex>`. Nothing is visible before that rename, so a crash or a failing
    /// `apply` leaves no partial layer (the work directory is removed, or swept at the next open). If another
    /// process published the same chain meanwhile, its copy is kept and ours discarded.
    ///
    /// - Parameters:
    ///   - chainID: The stack to ensure; must equal ``ChainID/child(of:diffID:)`` of `parent` and `diffID` (or
    ///     `diffID` for a base layer), so a record can never lie about its content's key.
    ///   - diffID: The layer's uncompressed digest.
    ///   - parent: The stack below, which must be cached; nil for a base layer.
    ///   - apply: Applies the layer to the directory it is given (the unpacker). It must replace entries, never
    ///     write into an existing non-directory inode: those are shared with the parent stack.
    /// - Returns: The cached rootfs path, `layers/<chainID hex>/rootfs`.
    /// - Throws: ``CacheStoreError`` for a chainID mismatch or a missing parent; whatever `apply` throws;
    ///   `SystemError` for file-system failures.
    public func ensureChain(chainID: Digest, diffID: Digest, parent: Digest?,
                            apply: (_ tempRoot: String) throws -> Void) throws -> String
    {
        let expected = parent.map { ChainID.child(of: $0, diffID: diffID) } ?? diffID
        guard expected == chainID else { throw CacheStoreError.chainMismatch(chainID: chainID, expected: expected) }
        if hasChain(chainID) { return layout.chainRootfs(chainID) }
        if let parent, !hasChain(parent) { throw CacheStoreError.parentMissing(chainID: chainID, parent: parent) }

        let lock = lockingEnabled ? try FileLock.acquire(layout.chainLock(chainID), exclusive: true) : nil
        defer { lock?.unlock() }
        if hasChain(chainID) { return layout.chainRootfs(chainID) }  // built by another process while we waited

        let work = try WorkDirectory(in: layout.tmpDirectory)
        defer { work.remove() }
        let chainDirectory = try build(chainID: chainID, diffID: diffID, parent: parent,
                                       parentRootfs: parent.map { layout.chainRootfs($0) },
                                       at: "\(work.path)/chain", apply: apply)
        if syncBeforePublish { try syncFileSystem(of: chainDirectory) }
        try publish(chainDirectory, as: layout.chainDirectory(chainID))
        return layout.chainRootfs(chainID)
    }

    /// Builds a chain directory (`rootfs` and `meta.json`) at `chainDirectory`, not yet published: a hard-link
    /// clone of `parentRootfs` (a published stack, or one built just before in the same work directory) with the
    /// layer applied.
    func build(chainID: Digest, diffID: Digest, parent: Digest?, parentRootfs: String?, at chainDirectory: String,
               apply: (_ tempRoot: String) throws -> Void) throws -> String
    {
        let shared = try buildRootfs(at: chainDirectory, parentRootfs: parentRootfs, apply: apply)
        try writeRecord(chainID: chainID, diffID: diffID, parent: parent, chainDirectory: chainDirectory,
                        sharedInodes: shared)
        return chainDirectory
    }

    /// The first half of ``build(chainID:diffID:parent:parentRootfs:at:apply:)``: creates `chainDirectory` and its
    /// `rootfs`, seeded from `parentRootfs`, and applies the layer.
    /// - Returns: The inodes shared with the parent (for ``writeRecord(chainID:diffID:parent:chainDirectory:sharedInodes:)``).
    func buildRootfs(at chainDirectory: String, parentRootfs: String?, apply: (_ tempRoot: String) throws -> Void)
        throws -> Set<UInt64>
    {
        let rootfs = "\(chainDirectory)/rootfs"
        // 0700: the rootfs below keeps the image's modes (setuid files, devices); only the cache's owner may reach it.
        if mkdir(chainDirectory, PrivateDirectory.mode) != 0 { throw SystemError("mkdir \(chainDirectory)", errno: errno) }
        var shared: Set<UInt64> = []
        if let parentRootfs {
            shared = try TreeClone.clone(from: parentRootfs, to: rootfs, mode: .hardLink).linkedInodes
        } else if mkdir(rootfs, 0o755) != 0 {
            throw SystemError("mkdir \(rootfs)", errno: errno)
        }
        try apply(rootfs)
        return shared
    }

    /// The second half: measures the built rootfs and writes `meta.json`. It only reads the tree, so it may run on
    /// another thread while the next stack is seeded from this one.
    func writeRecord(chainID: Digest, diffID: Digest, parent: Digest?, chainDirectory: String,
                     sharedInodes: Set<UInt64>) throws
    {
        let measure = try Self.measure("\(chainDirectory)/rootfs", sharedInodes: sharedInodes)
        let record = LayerRecord(chainID: chainID, diffID: diffID, parent: parent, size: measure.size,
                                 layerSize: measure.layerSize, entries: measure.entries, created: CacheFiles.now())
        try writeNew(Self.encodeRecord(record), to: "\(chainDirectory)/meta.json")
    }

    /// Renames a finished chain directory into `layers/`. Losing the race to another builder is success: both
    /// built the same content, and the one already visible may be in use.
    func publish(_ directory: String, as target: String) throws {
        var rc = swshim_renameat2(AT_FDCWD, directory, AT_FDCWD, target, UInt32(swshim_RENAME_NOREPLACE))
        if rc != 0 && errno == EINVAL {
            // The filesystem has no RENAME_NOREPLACE; plain rename(2) still refuses a non-empty target directory.
            rc = rename(directory, target)
        }
        if rc != 0 {
            let e = errno
            guard (e == EEXIST || e == ENOTEMPTY) && CacheFiles.exists("\(target)/meta.json") else {
                throw SystemError("rename \(directory) → \(target)", errno: e)
            }
            return
        }
        try FileSystem.syncDirectory(layout.layersDirectory)
    }

    /// Writes a new file in a chain directory not yet published (no rename needed: the directory is not visible; no
    /// fsync: the `syncfs` made before publishing covers it).
    private func writeNew(_ bytes: [UInt8], to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SystemError("open \(path)", errno: errno) }
        defer { close(fd) }
        try CacheFiles.writeAll(fd, bytes, path: path)
    }

    /// Flushes the filesystem holding `path`: one `syncfs` covers the whole new tree (an `fsync` per file would
    /// cost as much and more calls).
    func syncFileSystem(of path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("open \(path)", errno: errno) }
        defer { close(fd) }
        if swshim_syncfs(fd) != 0 { throw SystemError("syncfs \(path)", errno: errno) }
    }

    /// Runs `body` while holding a shared lease on the cache: ``prune(dryRun:)`` waits until no lease is held, so
    /// a chain built or looked up inside the lease cannot be removed before the bundle using it is recorded.
    public func withLease<T>(_ body: () throws -> T) throws -> T {
        let lease = try FileLock.acquire(layout.gcLock, exclusive: false)
        defer { lease?.unlock() }
        return try body()
    }
}
