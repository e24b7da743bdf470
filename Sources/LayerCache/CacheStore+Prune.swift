import Glibc
import OCIModel
import SystemIO

/// What ``CacheStore/prune(dryRun:)`` removed (or would remove).
public struct PruneReport: Sendable {
    /// Records of bundles whose directory (its `config.json`) is gone.
    public var staleBundles: [String] = []
    /// Images no live bundle uses.
    public var images: [Digest] = []
    /// Stacks no remaining image or live bundle uses.
    public var chains: [Digest] = []
    /// Leftover work directories and lock files in `tmp/`.
    public var temporaries: [String] = []
    /// Disk bytes freed: blocks of the removed stacks' inodes that no kept stack shares.
    public var freedBytes: Int64 = 0
}

extension CacheStore {
    /// Removes what no prepared bundle needs.
    ///
    /// Roots are the recorded bundles whose directory still holds `config.json`; their images, those images'
    /// chains (every prefix stack, so a sibling image can still be built on them) and the bundles' own chains are
    /// kept. Everything else goes: stale bundle records, other images and configs, other chains, and work
    /// directories of dead processes. Waits for users holding a ``withLease(_:)``.
    ///
    /// A chain is first renamed into a work directory, then deleted there, so a half-deleted chain is never
    /// visible under `layers/` (and a crash mid-delete is finished by the next sweep).
    /// - Parameter dryRun: Report only; change nothing.
    public func prune(dryRun: Bool) throws -> PruneReport {
        let gcLock = try FileLock.acquire(layout.gcLock, exclusive: true)
        defer { gcLock?.unlock() }
        var report = PruneReport()

        var liveImages = Set<Digest>(), keptChains = Set<Digest>()
        for bundle in try bundles() {
            if Self.isLive(bundle) {
                liveImages.insert(bundle.manifestDigest)
                if let chainID = bundle.chainID { keptChains.insert(chainID) }
            } else {
                report.staleBundles.append(bundle.bundlePath)
                if !dryRun { try forgetBundle(at: bundle.bundlePath) }
            }
        }
        var keptConfigs = Set<Digest>()
        for image in try images() {
            if liveImages.contains(image.manifestDigest) {
                keptChains.formUnion(image.chainIDs)
                keptConfigs.insert(image.configDigest)
            } else {
                report.images.append(image.manifestDigest)
            }
        }
        let records = try layerRecordsBaseFirst()
        // Parents of kept chains stay too (a bundle's chain recorded without its image still has its stack).
        let byID = Dictionary(records.map { ($0.chainID, $0) }, uniquingKeysWith: { a, _ in a })
        for chainID in Array(keptChains) {
            var parent = byID[chainID]?.parent
            while let next = parent, keptChains.insert(next).inserted { parent = byID[next]?.parent }
        }
        report.chains = records.map(\.chainID).filter { !keptChains.contains($0) }
        report.freedBytes = try freedBytes(removing: report.chains, keeping: keptChains)

        if !dryRun {
            for digest in report.images { try CacheFiles.removeTree(layout.imageRecord(digest)) }
            for name in try FileSystem.list(layout.configsDirectory) where name.hasSuffix(".json") {
                let hex = String(name.dropLast(5))
                if !keptConfigs.contains(where: { $0.encoded == hex }) {
                    try CacheFiles.removeTree("\(layout.configsDirectory)/\(name)")
                }
            }
            for chainID in report.chains { try removeChain(chainID) }
            try FileSystem.syncDirectory(layout.layersDirectory)
            try dropIdleChainLocks()
        }
        report.temporaries = try sweepWorkDirectories(dryRun: dryRun) + sweepAbandonedRecordFiles(dryRun: dryRun)
        return report
    }

    /// Moves a chain out of `layers/` into a work directory and deletes it there; drops its lock file unless a
    /// builder holds it.
    private func removeChain(_ chainID: Digest) throws {
        let work = try WorkDirectory(in: layout.tmpDirectory)
        defer { work.remove() }
        let source = layout.chainDirectory(chainID)
        if rename(source, "\(work.path)/chain") != 0 && errno != ENOENT {
            throw SystemError("rename \(source) → \(work.path)/chain", errno: errno)
        }
        let lockPath = layout.chainLock(chainID)
        if let lock = try FileLock.acquire(lockPath, exclusive: true, wait: false) {
            unlink(lockPath)
            lock.unlock()
        }
    }

    /// How old a record's temporary file (`.<random>.tmp`, see ``CacheFiles/writeAtomically(_:to:mode:)``) must be
    /// before prune takes it for the leftover of a crash: a live writer renames it within milliseconds.
    static let abandonedFileAge: time_t = 3600

    /// Removes temporary record files that a crash left in `images/`, `configs/` and `roots/`.
    private func sweepAbandonedRecordFiles(dryRun: Bool) throws -> [String] {
        let cutoff = time(nil) - Self.abandonedFileAge
        var removed: [String] = []
        for directory in [layout.imagesDirectory, layout.configsDirectory, layout.rootsDirectory] {
            for name in try FileSystem.list(directory) where name.hasPrefix(".") && name.hasSuffix(".tmp") {
                let path = "\(directory)/\(name)"
                guard let st = CacheFiles.lstatOrNil(path), st.st_mtim.tv_sec < cutoff else { continue }
                removed.append(path)
                if !dryRun { unlink(path) }
            }
        }
        return removed
    }

    /// Removes lock files of chains that are not cached (a build that failed leaves its lock file) unless a
    /// builder holds them.
    private func dropIdleChainLocks() throws {
        for name in try FileSystem.list(layout.locksDirectory) where name.hasSuffix(".lock") {
            guard let chainID = layout.chainID(fromDirectoryName: String(name.dropLast(5))), !hasChain(chainID) else {
                continue
            }
            let path = layout.chainLock(chainID)
            if let lock = try FileLock.acquire(path, exclusive: true, wait: false) {
                unlink(path)
                lock.unlock()
            }
        }
    }

    /// Blocks of the inodes in `removing` that no chain in `keeping` also holds.
    private func freedBytes(removing: [Digest], keeping: Set<Digest>) throws -> Int64 {
        guard !removing.isEmpty else { return 0 }
        var kept = Set<InodeKey>()
        for chainID in keeping {
            try Self.walkTree(layout.chainDirectory(chainID)) { _, st in kept.insert(InodeKey(st)) }
        }
        var freed: Int64 = 0
        for chainID in removing {
            try Self.walkTree(layout.chainDirectory(chainID)) { _, st in
                if kept.insert(InodeKey(st)).inserted { freed += Int64(st.st_blocks) * 512 }
            }
        }
        return freed
    }
}
