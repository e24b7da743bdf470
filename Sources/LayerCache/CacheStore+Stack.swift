import OCIModel

/// The outcome of ``CacheStore/ensureStack(diffIDs:apply:)``.
public struct EnsuredStack: Sendable {
    /// The chainID of each layer's stack, base first.
    public var chainIDs: [Digest]
    /// Indexes (into `diffIDs`) of the layers that had to be applied; empty when everything was cached.
    public var appliedLayers: [Int]
    /// The rootfs of the whole stack; nil for an image without layers.
    public var rootfs: String?
}

extension CacheStore {
    /// Ensures every stack of an image is cached, base first, applying only the layers whose stack is missing.
    ///
    /// An image sharing all but its top layer with a cached one applies (and so decompresses) that layer alone.
    /// - Parameters:
    ///   - diffIDs: The config's `rootfs.diff_ids`, base first.
    ///   - apply: Applies layer `index` (an index into `diffIDs`) to the directory it is given; see
    ///     ``ensureChain(chainID:diffID:parent:apply:)`` for what it may and may not do.
    ///   - whileFlushing: Called, when stacks were built, with the new top rootfs (complete, not yet published)
    ///     while the flush before publishing runs on another thread; it may only read that tree (a bundle copies
    ///     it meanwhile). What it throws is rethrown once the stacks are published (they do not depend on it).
    /// - Returns: The chainIDs, which layers were applied, and the top rootfs.
    /// - Throws: Whatever `apply` throws, ``CacheStoreError`` or `SystemError`; on a failure no new stack is
    ///   published (they are published together, after one flush, once all are built).
    public func ensureStack(diffIDs: [Digest], apply: (_ index: Int, _ tempRoot: String) throws -> Void,
                            whileFlushing: ((_ topRootfs: String) throws -> Void)? = nil) throws -> EnsuredStack
    {
        let chainIDs = ChainID.compute(diffIDs: diffIDs)
        // Find the highest cached stack: everything below it is irrelevant (each stack is a whole rootfs).
        func highestCached() -> Int {
            var start = chainIDs.count
            while start > 0 && !hasChain(chainIDs[start - 1]) { start -= 1 }
            return start
        }
        var start = highestCached()
        if start == chainIDs.count {
            return EnsuredStack(chainIDs: chainIDs, appliedLayers: [], rootfs: chainIDs.last.map { layout.chainRootfs($0) })
        }
        // The missing stacks are built one on top of the other in one work directory, flushed with a single
        // syncfs, then published base first: nothing is visible before it is whole and durable, and the disk
        // writes back while later layers unpack (a syncfs per stack would wait for the disk between layers).
        // Locks are taken base first, as every builder does, so two builders cannot deadlock.
        var locks: [FileLock] = []
        defer { for lock in locks { lock.unlock() } }
        if lockingEnabled {
            for chainID in chainIDs[start...] {
                if let lock = try FileLock.acquire(layout.chainLock(chainID), exclusive: true) { locks.append(lock) }
            }
            start = highestCached()  // another process may have built some while we waited
        }
        var applied: [Int] = []
        let work = try WorkDirectory(in: layout.tmpDirectory)
        defer { work.remove() }
        // Each built stack is measured and recorded on another thread, which also has the disk write back what is
        // built so far, while the next stack is seeded from it and its layer applied (see StackFinisher).
        let finisher = StackFinisher(flushing: syncBeforePublish ? work.path : nil)
        defer { finisher.stop() }
        var parentRootfs = start > 0 ? layout.chainRootfs(chainIDs[start - 1]) : nil
        var built: [(chainID: Digest, directory: String)] = []
        for index in start..<chainIDs.count {
            let directory = "\(work.path)/chain-\(index)"
            let shared = try buildRootfs(at: directory, parentRootfs: parentRootfs) { root in
                applied.append(index)
                try apply(index, root)
            }
            let (chainID, diffID, parent) = (chainIDs[index], diffIDs[index], index > 0 ? chainIDs[index - 1] : nil)
            finisher.submit { [self] in
                try writeRecord(chainID: chainID, diffID: diffID, parent: parent, chainDirectory: directory,
                                sharedInodes: shared)
            }
            parentRootfs = "\(directory)/rootfs"
            built.append((chainID, directory))
        }
        try finisher.finish()
        var hookError: (any Error)?
        if let whileFlushing, let top = built.last {
            let flush = syncBeforePublish ? BackgroundCall { [self] in try syncFileSystem(of: top.directory) } : nil
            do { try whileFlushing("\(top.directory)/rootfs") } catch { hookError = error }
            try flush?.wait()
        } else if syncBeforePublish, let first = built.first {
            try syncFileSystem(of: first.directory)
        }
        // The stacks are whole and durable: they are published even when the hook failed (its work is the caller's).
        for chain in built { try publish(chain.directory, as: layout.chainDirectory(chain.chainID)) }
        if let hookError { throw hookError }
        return EnsuredStack(chainIDs: chainIDs, appliedLayers: applied, rootfs: chainIDs.last.map { layout.chainRootfs($0) })
    }
}
