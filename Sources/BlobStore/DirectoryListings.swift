import Glibc
import Synchronization
import SystemIO

/// Sorted listings of large directories (the repositories' folders, a repository's tags), kept in memory while the
/// directory is unchanged, so that a catalog or tag-list page costs a `stat` and a binary search rather than reading
/// and sorting 100,000 names (≈ 50 ms of `getdents` alone on this machine's disk).
///
/// A listing is current while the directory's inode, size and modification and change times are those seen before it
/// was read. A directory's times come from the kernel's coarse clock, so a change made in the same tick as an earlier
/// one can leave them unchanged: a listing is kept only when the directory was last changed more than
/// `settledSeconds` before it was read (git's "racily clean" rule): any change after the read then moves the times.
/// Small directories are not kept (reading them costs less than the memory).
final class DirectoryListings: Sendable {
    /// What a listing holds.
    enum Kind: Hashable, Sendable {
        /// Every name but `.` and `..`.
        case all
        /// Real directories (not symlinks) whose names do not start with `_` (the store's internal folders).
        case subdirectories
    }

    private struct Key: Hashable {
        let path: String
        let kind: Kind
    }

    private struct Stamp: Equatable {
        let device: UInt64, inode: UInt64, size: Int64
        let modified: Int64, changed: Int64
    }

    private struct Entry {
        let stamp: Stamp
        let names: [String]
        var used: UInt64
    }

    private struct State {
        var entries: [Key: Entry] = [:]
        var names = 0
        var tick: UInt64 = 0
    }

    static let settledSeconds: Int64 = 1
    private let minimumNames: Int
    private let maximumNames: Int
    private let state = Mutex(State())

    /// - Parameters:
    ///   - minimumNames: directories with fewer names are read every time.
    ///   - maximumNames: the names kept in all, beyond which the least recently used listings are dropped.
    init(minimumNames: Int = 512, maximumNames: Int = 1_000_000) {
        self.minimumNames = minimumNames
        self.maximumNames = maximumNames
    }

    /// How many listings are kept (for tests).
    var keptListings: Int { state.withLock { $0.entries.count } }

    /// The names in `path`, sorted in byte order; empty when it does not exist or is not a directory.
    func sortedNames(_ path: String, _ kind: Kind) throws(SystemError) -> [String] {
        let key = Key(path: path, kind: kind)
        var before = timespec()
        clock_gettime(CLOCK_REALTIME_COARSE, &before)
        guard let stamp = Self.stamp(path) else { return [] }
        let cached = state.withLock { state -> [String]? in
            guard let entry = state.entries[key], entry.stamp == stamp else { return nil }
            state.tick += 1
            state.entries[key]!.used = state.tick
            return entry.names
        }
        if let cached { return cached }
        let names = try Self.read(path, kind).sorted(by: precedesInBytes)
        let settled = stamp.modified / 1_000_000_000 + Self.settledSeconds < Int64(before.tv_sec)
            && stamp.changed / 1_000_000_000 + Self.settledSeconds < Int64(before.tv_sec)
        if settled && names.count >= minimumNames && names.count <= maximumNames {
            state.withLock { state in
                state.tick += 1
                if let old = state.entries.updateValue(Entry(stamp: stamp, names: names, used: state.tick), forKey: key) {
                    state.names -= old.names.count
                }
                state.names += names.count
                while state.names > maximumNames, let oldest = state.entries.min(by: { $0.value.used < $1.value.used }) {
                    state.names -= oldest.value.names.count
                    state.entries[oldest.key] = nil
                }
            }
        }
        return names
    }

    private static func stamp(_ path: String) -> Stamp? {
        var st = stat()
        guard stat(path, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else { return nil }
        return Stamp(device: UInt64(st.st_dev), inode: UInt64(st.st_ino), size: Int64(st.st_size),
                     modified: Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec),
                     changed: Int64(st.st_ctim.tv_sec) * 1_000_000_000 + Int64(st.st_ctim.tv_nsec))
    }

    /// Reads a directory, keeping the names `kind` wants. The entry type comes from `readdir` (no `lstat` per
    /// entry) except on filesystems that do not report it (`DT_UNKNOWN`).
    private static func read(_ path: String, _ kind: Kind) throws(SystemError) -> [String] {
        guard let dir = opendir(path) else {
            if errno == ENOENT || errno == ENOTDIR { return [] }
            throw SystemError("opendir \(path)", errno: errno)
        }
        defer { closedir(dir) }
        let dirFD = dirfd(dir)
        var names: [String] = []
        while true {
            errno = 0
            guard let entry = readdir(dir) else {
                if errno != 0 { throw SystemError("readdir \(path)", errno: errno) }
                break
            }
            let keep = withUnsafePointer(to: &entry.pointee.d_name) { tuple -> String? in
                tuple.withMemoryRebound(to: CChar.self, capacity: 256) { name -> String? in
                    let first = UInt8(bitPattern: name[0])
                    if first == UInt8(ascii: "."), name[1] == 0 || (UInt8(bitPattern: name[1]) == UInt8(ascii: ".") && name[2] == 0) {
                        return nil
                    }
                    if kind == .subdirectories {
                        if first == UInt8(ascii: "_") { return nil }
                        switch Int32(entry.pointee.d_type) {
                        case Int32(DT_DIR): break
                        case Int32(DT_UNKNOWN):
                            var st = stat()
                            guard fstatat(dirFD, name, &st, AT_SYMLINK_NOFOLLOW) == 0, st.st_mode & S_IFMT == S_IFDIR else { return nil }
                        default: return nil
                        }
                    }
                    return String(cString: name)
                }
            }
            if let keep { names.append(keep) }
        }
        return names
    }
}

/// Whether `a` sorts before `b` in byte (UTF-8) order: the registry API's order for names and tags.
func precedesInBytes(_ a: String, _ b: String) -> Bool {
    compareBytes(a.utf8, b.utf8) < 0
}

/// Compares two byte sequences: negative, zero or positive as `a` sorts before, with or after `b`.
func compareBytes(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Int {
    let fast = a.withContiguousStorageIfAvailable { pa in
        b.withContiguousStorageIfAvailable { pb -> Int in
            let common = min(pa.count, pb.count)
            let order = common == 0 ? 0 : Int(memcmp(pa.baseAddress!, pb.baseAddress!, common))
            return order != 0 ? order : pa.count - pb.count
        }
    }
    if let fast, let order = fast { return order }
    var ia = a.makeIterator(), ib = b.makeIterator()
    while true {
        switch (ia.next(), ib.next()) {
        case (nil, nil): return 0
        case (nil, _): return -1
        case (_, nil): return 1
        case let (x?, y?): if x != y { return Int(x) - Int(y) }
        }
    }
}
