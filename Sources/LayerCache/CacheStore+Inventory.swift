import Glibc
import OCIModel
import SystemIO

/// What `swcopy cache ls` shows.
public struct CacheListing: Sendable {
    /// Cached layer stacks, base stacks before the stacks built on them.
    public var layers: [LayerRecord]
    /// Recorded images.
    public var images: [ImageRecord]
    /// Prepared bundles (GC roots), with whether each still exists.
    public var bundles: [(record: BundleRecord, live: Bool)]
}

/// What `swcopy cache du` shows: bytes on disk (allocated blocks, `st_blocks × 512`, as `du(1)`).
///
/// Every inode is counted once across the whole cache, whatever the number of names it has: a file shared by
/// hard links between a stack and the stacks built on it counts once, for the stack that introduced it (stacks are
/// visited base first). Directories count too: each stack has its own.
public struct CacheDiskUsage: Sendable {
    public struct Layer: Sendable {
        public var chainID: Digest
        /// Blocks of the inodes first met in this stack's directory.
        public var bytes: Int64
    }

    /// One entry per cached stack, base stacks first.
    public var layers: [Layer]
    /// Image records, configs, bundle records and locks.
    public var metadataBytes: Int64
    /// Work directories in `tmp/` (builds in progress or leftovers).
    public var temporaryBytes: Int64
    /// Everything: the sum of the above.
    public var totalBytes: Int64
}

extension CacheStore {
    /// Lists layers, images and bundles.
    public func listing() throws -> CacheListing {
        let layers = try layerRecordsBaseFirst()
        let bundles = try bundles().map { (record: $0, live: Self.isLive($0)) }
        return CacheListing(layers: layers, images: try images(), bundles: bundles)
    }

    /// Measures the cache on disk (see ``CacheDiskUsage`` for how).
    public func diskUsage() throws -> CacheDiskUsage {
        var seen = Set<InodeKey>()
        func blocks(of path: String) throws -> Int64 {
            var bytes: Int64 = 0
            try Self.walkTree(path) { _, st in
                if seen.insert(InodeKey(st)).inserted { bytes += Int64(st.st_blocks) * 512 }
            }
            return bytes
        }
        var layers: [CacheDiskUsage.Layer] = []
        for record in try layerRecordsBaseFirst() {
            layers.append(.init(chainID: record.chainID, bytes: try blocks(of: layout.chainDirectory(record.chainID))))
        }
        var metadata: Int64 = 0
        for directory in [layout.imagesDirectory, layout.configsDirectory, layout.rootsDirectory, layout.locksDirectory] {
            metadata += try blocks(of: directory)
        }
        let temporary = try blocks(of: layout.tmpDirectory)
        let total = layers.reduce(metadata + temporary) { $0 + $1.bytes }
        return CacheDiskUsage(layers: layers, metadataBytes: metadata, temporaryBytes: temporary, totalBytes: total)
    }

    /// Every cached stack's record, ordered by depth (base stacks first), then by chainID.
    func layerRecordsBaseFirst() throws -> [LayerRecord] {
        var records: [Digest: LayerRecord] = [:]
        for name in try FileSystem.list(layout.layersDirectory) {
            guard let chainID = layout.chainID(fromDirectoryName: name),
                  let record = try layerRecord(chainID) else { continue }
            records[chainID] = record
        }
        var depths: [Digest: Int] = [:]
        func depth(_ chainID: Digest) -> Int {
            if let known = depths[chainID] { return known }
            var value = 0
            if let parent = records[chainID]?.parent, records[parent] != nil, parent != chainID { value = depth(parent) + 1 }
            depths[chainID] = value
            return value
        }
        return records.values.sorted {
            let (a, b) = (depth($0.chainID), depth($1.chainID))
            return a != b ? a < b : $0.chainID < $1.chainID
        }
    }

    /// Sizes of a freshly built rootfs: apparent bytes of regular files (each inode once), the part in inodes not
    /// shared with the parent, and the number of entries.
    static func measure(_ rootfs: String, sharedInodes: Set<UInt64>) throws
        -> (size: Int64, layerSize: Int64, entries: Int)
    {
        var seen = Set<UInt64>()
        var size: Int64 = 0, layerSize: Int64 = 0, entries = 0
        try RawPath(rootfs).walk { _, st in
            entries += 1
            guard (st.st_mode & S_IFMT) == S_IFREG, seen.insert(UInt64(st.st_ino)).inserted else { return }
            size += Int64(st.st_size)
            if !sharedInodes.contains(UInt64(st.st_ino)) { layerSize += Int64(st.st_size) }
        }
        return (size, layerSize, entries - 1)  // the rootfs directory itself is no entry
    }

    /// Calls `visit` with the `lstat` of `path` and of everything below it (symlinks are not followed). Names are
    /// handled as raw bytes; the path given to `visit` is for display (invalid UTF-8 shown as U+FFFD).
    static func walkTree(_ path: String, _ visit: (String, stat) throws -> Void) throws {
        try RawPath(path).walk { raw, st in try visit(raw.description, st) }
    }
}
