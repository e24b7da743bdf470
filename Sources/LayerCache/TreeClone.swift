import CLinuxShim
import Glibc
import SystemIO

/// Clones a directory tree, preserving types, modes, owners, timestamps, xattrs, symlinks (never followed),
/// hard links inside the tree, device nodes and FIFOs.
///
/// Two modes share one walk:
/// - ``Mode/hardLink``: directories are recreated and every non-directory (file, symlink, FIFO, device, socket)
///   is hard-linked (`linkat` without `AT_SYMLINK_FOLLOW`), so the clone costs one inode per directory. This is
///   how a chain's rootfs is seeded from its parent's; the layer applied on top must replace entries, never write
///   into an existing non-directory inode. When a file already has the filesystem's maximum link count (`EMLINK`)
///   it is copied instead.
/// - ``Mode/copy``: an independent copy that shares no inode with the source (a `--flatten` bundle rootfs that a
///   container may write into). File data is reflinked (`FICLONE`) where the filesystem can, else copied in the
///   kernel (`copy_file_range`), else read and written, holes kept (see ``copyFileData(from:to:space:)``). Files hard-linked to each other in the source are
///   hard-linked to each other in the copy.
///
/// Ownership is set with `lchown` as root; a non-root caller keeps its own ids (`EPERM` is expected and ignored).
/// Extended attributes the target filesystem or caller cannot set (`ENOTSUP`, `EPERM` when not root) are skipped.
public enum TreeClone {
    /// How non-directories reach the clone.
    public enum Mode: Sendable {
        case hardLink
        case copy
    }

    /// What a clone did.
    public struct Summary: Sendable {
        /// Directories created.
        public var directories = 0
        /// Non-directory entries (names) created.
        public var entries = 0
        /// Bytes of file data copied (zero for hard links; reflinked bytes count as copied).
        public var bytesCopied: Int64 = 0
        /// Inode numbers of the source that the clone hard-linked (``Mode/hardLink`` only).
        public var linkedInodes: Set<UInt64> = []
    }

    /// Clones `source` (a directory) to `destination`, which must not exist.
    ///
    /// - Parameters:
    ///   - source: The tree to clone; a symlink here is refused rather than followed.
    ///   - destination: A new path on the same filesystem (for ``Mode/hardLink``) whose parent exists.
    ///   - mode: Hard links or an independent copy.
    ///   - space: For a copy, keeps the destination filesystem's free-space reserve (checked before and while
    ///     copying); nil: not checked.
    /// - Returns: Counts, and the linked inodes.
    /// - Throws: `SystemError` naming the path and call that failed; the partial destination is left for the caller
    ///   to remove (it builds in a work directory); ``FreeSpaceError`` when the free space drops below the reserve.
    @discardableResult
    public static func clone(from source: String, to destination: String, mode: Mode,
                             space: FreeSpaceGuard? = nil) throws -> Summary
    {
        let source = RawPath(source)
        guard let st = source.lstatOrNil() else { throw SystemError("lstat \(source)", errno: ENOENT) }
        guard (st.st_mode & S_IFMT) == S_IFDIR else { throw SystemError("clone \(source): not a directory", errno: ENOTDIR) }
        try space?.check()
        var walker = Walker(mode: mode, isRoot: geteuid() == 0, space: space)
        try walker.cloneDirectory(source, RawPath(destination), st)
        // The walk made the directories; the names inside them are made now, a directory at a time on each of a few
        // threads (linking and copying are kernel work done in the calling thread; two threads adding names to the
        // same directory would only queue on its lock). Then the deferred links, then each directory's metadata,
        // deepest first.
        walker.summary.bytesCopied += try Batch.run(walker.batches, isRoot: walker.isRoot, space: space,
                                                    threads: Batch.defaultThreadCount)
        try walker.makeDeferredLinks()
        for (from, to, st) in walker.deferredDirectories {
            try TreeClone.copyMetadata(from: from, to: to, st, isRoot: walker.isRoot)
        }
        return walker.summary
    }

    /// One clone in progress: the walk, on the calling thread.
    struct Walker {
        let mode: Mode
        let isRoot: Bool
        let space: FreeSpaceGuard?
        var summary = Summary()
        /// For ``Mode/copy``: the first copy made of each multiply-linked source inode, keyed by (dev, ino).
        var copiedLinks: [InodeKey: RawPath] = [:]
        /// The names each directory is to receive (see ``Batch``).
        var batches: [Batch] = []
        /// For ``Mode/copy``: further names of a multiply-linked inode (the first copy's path, then the entry's own
        /// source, destination and `lstat`), linked once the files are copied.
        var deferredLinks: [(first: RawPath, source: RawPath, destination: RawPath, st: stat)] = []
        /// Directories whose metadata is set once their entries are in, children first.
        var deferredDirectories: [(source: RawPath, destination: RawPath, st: stat)] = []

        init(mode: Mode, isRoot: Bool, space: FreeSpaceGuard?) {
            self.mode = mode
            self.isRoot = isRoot
            self.space = space
        }

        mutating func cloneDirectory(_ source: RawPath, _ destination: RawPath, _ st: stat) throws {
            // 0700 while filling, so a read-only source directory can still receive its children here;
            // the real mode is set after them, and the mtime last (adding children changes it).
            if mkdir(destination.bytes, 0o700) != 0 { throw SystemError("mkdir \(destination)", errno: errno) }
            try space?.charge(FreeSpaceGuard.entryCost)
            summary.directories += 1
            var links: [[CChar]] = []
            var copies: [Batch.FileCopy] = []
            for entry in try source.entries() {
                let from = source.appending(entry.name), to = destination.appending(entry.name)
                if mode == .hardLink && entry.type != DT_DIR && entry.type != DT_UNKNOWN {
                    // No lstat: the directory entry says enough (its type, its inode).
                    links.append(entry.name)
                    summary.linkedInodes.insert(entry.inode)
                    summary.entries += 1
                    continue
                }
                guard let child = from.lstatOrNil() else { throw SystemError("lstat \(from)", errno: errno) }
                if (child.st_mode & S_IFMT) == S_IFDIR {
                    try cloneDirectory(from, to, child)
                    continue
                }
                summary.entries += 1
                switch mode {
                case .hardLink:
                    links.append(entry.name)
                    summary.linkedInodes.insert(UInt64(child.st_ino))
                case .copy:
                    // A cached stack's files usually have several links (one per stack that holds them), most of
                    // them outside this tree: only the links met here are kept, made once the first copy exists.
                    if child.st_nlink > 1 {
                        let key = InodeKey(child)
                        if let first = copiedLinks[key] {
                            deferredLinks.append((first, from, to, child))
                            continue
                        }
                        copiedLinks[key] = to
                    }
                    if (child.st_mode & S_IFMT) == S_IFREG {
                        copies.append((from, to, child))
                    } else {
                        summary.bytesCopied += try TreeClone.copyEntry(from, to, child, isRoot: isRoot, space: space)
                    }
                }
            }
            if !links.isEmpty { batches.append(.links(source: source, destination: destination, names: links)) }
            if !copies.isEmpty { batches.append(.copies(copies)) }
            deferredDirectories.append((source, destination, st))
        }

        /// Makes the hard links deferred by a copy (after the files they link to were copied).
        mutating func makeDeferredLinks() throws {
            for (first, source, destination, st) in deferredLinks {
                if swshim_link_nofollow(first.bytes, destination.bytes) == 0 { continue }
                // EMLINK: the first copy has the most links this filesystem allows; copy this one on its own.
                guard errno == EMLINK else { throw SystemError("link \(first) → \(destination)", errno: errno) }
                summary.bytesCopied += try TreeClone.copyEntry(source, destination, st, isRoot: isRoot, space: space)
            }
        }
    }

    /// Makes an independent copy of one non-directory and its metadata.
    /// - Returns: Bytes of file data copied.
    static func copyEntry(_ source: RawPath, _ destination: RawPath, _ st: stat, isRoot: Bool,
                          space: FreeSpaceGuard? = nil) throws -> Int64
    {
        var copied: Int64 = 0
        try space?.charge(FreeSpaceGuard.entryCost)
        switch st.st_mode & S_IFMT {
        case S_IFREG:
            copied = try TreeClone.copyFileData(from: source, to: destination, space: space)
        case S_IFLNK:
            let target = try TreeClone.readLink(source) + [0]
            if symlink(target, destination.bytes) != 0 { throw SystemError("symlink \(destination)", errno: errno) }
        case S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK:
            if mknod(destination.bytes, (st.st_mode & S_IFMT) | 0o600, st.st_rdev) != 0 {
                throw SystemError("mknod \(destination)", errno: errno)
            }
        default:
            throw SystemError("clone \(source): unknown file type \(st.st_mode & S_IFMT)", errno: EINVAL)
        }
        try TreeClone.copyMetadata(from: source, to: destination, st, isRoot: isRoot)
        return copied
    }

    /// The target of a symlink as raw bytes (no NUL).
    static func readLink(_ path: RawPath) throws -> [CChar] {
        var size = 256
        while true {
            var buffer = [CChar](repeating: 0, count: size)
            let n = readlink(path.bytes, &buffer, size)
            if n < 0 { throw SystemError("readlink \(path)", errno: errno) }
            if n < size { return Array(buffer[0..<n]) }
            size *= 4
        }
    }

    /// The target of a symlink, for display and tests (invalid UTF-8 shown as U+FFFD).
    static func readLink(_ path: String) throws -> String {
        String(decoding: try readLink(RawPath(path)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// An inode's identity: device and inode number.
struct InodeKey: Hashable {
    let device: UInt64
    let inode: UInt64

    init(_ st: stat) {
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
    }
}
