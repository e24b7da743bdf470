import CLinuxShim
import Glibc
import SystemIO

/// A root directory opened once, below which every path is resolved by the kernel with `openat2` (never by
/// joining strings): `RESOLVE_IN_ROOT` (or `RESOLVE_BENEATH`) plus `RESOLVE_NO_MAGICLINKS`, so no entry, parent
/// or link target can reach outside it, whatever symbolic links the tree holds. Final components are then handled
/// with `*at` calls on the parent's descriptor and `AT_SYMLINK_NOFOLLOW` / `O_NOFOLLOW`.
final class UnpackRoot {
    let fd: Int32
    private let resolve: UInt64

    init(path: String, resolution: SymlinkResolution) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw UnpackError.filesystem(SystemError("open \(path)", errno: errno)) }
        self.fd = fd
        resolve = swshim_RESOLVE_NO_MAGICLINKS
            | (resolution == .inRoot ? swshim_RESOLVE_IN_ROOT : swshim_RESOLVE_BENEATH)
    }

    deinit { close(fd) }

    /// Opens the directory at `components` below the root (the root itself when empty), following symbolic links
    /// within the root.
    /// - Parameter create: Create missing directories (mode 0755, as tar and umoci do for implied parents).
    /// - Returns: A descriptor the caller owns, or nil when the directory does not exist and `create` is false.
    func openDirectory(_ components: ArraySlice<String>, create: Bool, for entryPath: String,
                       depth: Int = 0) throws -> FileDescriptor? {
        if let existing = try resolve(components, for: entryPath) { return existing }
        guard create else { return nil }
        // The longest existing prefix, by bisection: if a prefix resolves, every shorter one does.
        var low = 0
        var high = components.count
        var current = try duplicateRoot()
        while high - low > 1 {
            let middle = (low + high) / 2
            if let opened = try resolve(components.prefix(middle), for: entryPath) {
                low = middle
                current = opened
            } else {
                high = middle
            }
        }
        // Create the rest one by one below it; each name is new, so nothing is followed.
        for index in (components.startIndex + low)..<components.endIndex {
            let name = components[index]
            if mkdirat(current.rawValue, name, 0o755) != 0 {
                guard errno == EEXIST else {
                    throw UnpackError.filesystem(SystemError("mkdirat \(UnpackPath.key(components[...index]))",
                                                             errno: errno))
                }
                // It exists but did not resolve: a dangling symbolic link. Create its target, as a chroot'ed
                // `mkdir -p` would (umoci does the same through securejoin).
                let target = try danglingTarget(current.rawValue, name, components[...index], entryPath: entryPath,
                                                depth: depth)
                return try openDirectory(target + components[(index + 1)...], create: true, for: entryPath,
                                         depth: depth + 1)
            }
            let next = openat(current.rawValue, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard next >= 0 else {
                throw UnpackError.filesystem(SystemError("open \(UnpackPath.key(components[...index]))", errno: errno))
            }
            current = FileDescriptor(next)
        }
        return current
    }

    private func duplicateRoot() throws -> FileDescriptor {
        let copy = fcntl(fd, F_DUPFD_CLOEXEC, 0)
        guard copy >= 0 else { throw UnpackError.filesystem(SystemError("dup", errno: errno)) }
        return FileDescriptor(copy)
    }

    /// Resolves an existing directory with `openat2`. - Returns: nil when a component does not exist.
    private func resolve(_ components: ArraySlice<String>, for entryPath: String) throws -> FileDescriptor? {
        if components.isEmpty { return try duplicateRoot() }
        let path = UnpackPath.key(components)
        var attempts = 0
        while true {
            let opened = swshim_openat2(fd, path, UInt64(O_RDONLY | O_DIRECTORY | O_CLOEXEC), 0, resolve)
            if opened >= 0 { return FileDescriptor(opened) }
            let error = errno
            switch error {
            case EAGAIN, EINTR:
                // openat2 asks for a retry when a concurrent rename may have raced the resolution.
                attempts += 1
                if attempts < 16 { continue }
            case ENOENT:
                return nil
            case ENOTDIR:
                throw UnpackError.invalidEntry(path: entryPath, reason: "parent \(path) is not a directory")
            case EXDEV:
                throw UnpackError.escapesRoot(path: entryPath)
            case ELOOP:
                throw UnpackError.invalidEntry(path: entryPath, reason: "too many symbolic links resolving \(path)")
            default:
                break
            }
            throw UnpackError.filesystem(SystemError("openat2 \(path)", errno: error))
        }
    }

    /// Where the dangling symbolic link `components` (whose parent is `parentFD`) points, as components below the
    /// root: absolute targets start at the root, `..` stops at it.
    private func danglingTarget(_ parentFD: Int32, _ name: String, _ components: ArraySlice<String>, entryPath: String,
                                depth: Int) throws -> ArraySlice<String> {
        guard depth < 40 else {
            throw UnpackError.invalidEntry(path: entryPath, reason: "too many symbolic links resolving parents")
        }
        let path = UnpackPath.key(components)
        var buffer = [UInt8](repeating: 0, count: 4097)
        let n = buffer.withUnsafeMutableBytes { readlinkat(parentFD, name, $0.baseAddress!, $0.count) }
        guard n > 0, n < buffer.count, let target = String(validating: buffer[..<n], as: UTF8.self) else {
            throw UnpackError.invalidEntry(path: entryPath, reason: "parent \(path) exists but is not a directory")
        }
        let beneath = resolve & swshim_RESOLVE_BENEATH != 0
        if beneath && target.hasPrefix("/") { throw UnpackError.escapesRoot(path: entryPath) }
        var resolved = target.hasPrefix("/") ? [] : Array(components.dropLast())
        for component in target.split(separator: "/") where component != "." {
            if component == ".." {
                if resolved.isEmpty {
                    if beneath { throw UnpackError.escapesRoot(path: entryPath) }
                    continue
                }
                resolved.removeLast()
            } else {
                resolved.append(String(component))
            }
        }
        return resolved[...]
    }

    /// Opens the parent directory of an entry, creating missing parents.
    func openParent(_ components: [String], for entryPath: String) throws -> FileDescriptor {
        guard let parent = try openDirectory(components.dropLast(), create: true, for: entryPath) else {
            throw UnpackError.invalidEntry(path: entryPath, reason: "parent directory cannot be created")
        }
        return parent
    }
}

/// Filesystem helpers on (directory descriptor, name) pairs; none follows a symbolic link in the final component.
enum UnpackFS {
    /// `lstat` of `name` in `dirFD`. - Returns: nil when it does not exist.
    static func status(_ dirFD: Int32, _ name: String) throws -> stat? {
        var st = stat()
        if fstatat(dirFD, name, &st, AT_SYMLINK_NOFOLLOW) == 0 { return st }
        if errno == ENOENT { return nil }
        throw UnpackError.filesystem(SystemError("fstatat \(name)", errno: errno))
    }

    static func isDirectory(_ st: stat) -> Bool { (st.st_mode & S_IFMT) == S_IFDIR }

    /// Removes whatever is at `name` (a directory recursively); nothing when it does not exist.
    static func remove(_ dirFD: Int32, _ name: String) throws {
        guard let st = try status(dirFD, name) else { return }
        if isDirectory(st) {
            try removeTree(dirFD, name)
        } else if unlinkat(dirFD, name, 0) != 0 && errno != ENOENT {
            throw UnpackError.filesystem(SystemError("unlinkat \(name)", errno: errno))
        }
    }

    /// Removes the directory `name` in `dirFD` and everything below it, descending with `O_NOFOLLOW`.
    static func removeTree(_ dirFD: Int32, _ name: String) throws {
        let child = openat(dirFD, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        if child < 0 {
            if errno == ENOTDIR || errno == ELOOP {
                if unlinkat(dirFD, name, 0) != 0 && errno != ENOENT {
                    throw UnpackError.filesystem(SystemError("unlinkat \(name)", errno: errno))
                }
                return
            }
            if errno == ENOENT { return }
            throw UnpackError.filesystem(SystemError("open \(name)", errno: errno))
        }
        defer { close(child) }
        // A read-only directory (0555) blocks unlinking for a non-root owner; it is going away anyway.
        var st = stat()
        if fstat(child, &st) == 0 && st.st_mode & 0o700 != 0o700 { fchmod(child, 0o700) }
        var madeWritable = false
        for entry in try listDirectory(child, name) {
            let isDir = entry.type == DT_DIR
                || (entry.type == DT_UNKNOWN && (try? status(child, entry.name))?.map(isDirectory) == true)
            if isDir {
                try removeTree(child, entry.name)
                continue
            }
            if unlinkat(child, entry.name, 0) != 0 {
                // A read-only directory (0555) blocks unlinking for a non-root caller; it is going away anyway.
                if errno == EACCES && !madeWritable {
                    madeWritable = true
                    fchmod(child, 0o700)
                    if unlinkat(child, entry.name, 0) == 0 { continue }
                }
                if errno != ENOENT { throw UnpackError.filesystem(SystemError("unlinkat \(entry.name)", errno: errno)) }
            }
        }
        if unlinkat(dirFD, name, AT_REMOVEDIR) != 0 && errno != ENOENT {
            throw UnpackError.filesystem(SystemError("rmdir \(name)", errno: errno))
        }
    }

    struct DirectoryEntry {
        let name: String
        let type: UInt8
    }

    /// The entries of an open directory, without `.` and `..`.
    /// - Throws: for a name that is not UTF-8 (layers this unpacker applies never create one).
    static func listDirectory(_ dirFD: Int32, _ path: String) throws -> [DirectoryEntry] {
        let copy = openat(dirFD, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard copy >= 0 else { throw UnpackError.filesystem(SystemError("open \(path)", errno: errno)) }
        guard let dir = fdopendir(copy) else {
            close(copy)
            throw UnpackError.filesystem(SystemError("fdopendir \(path)", errno: errno))
        }
        defer { closedir(dir) }
        var entries: [DirectoryEntry] = []
        while let entry = readdir(dir) {
            let bytes = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
            if bytes == [0x2e] || bytes == [0x2e, 0x2e] { continue }
            if let name = String(validating: bytes, as: UTF8.self) {
                entries.append(DirectoryEntry(name: name, type: entry.pointee.d_type))
            } else {
                throw UnpackError.invalidEntry(path: path, reason: "holds a name that is not valid UTF-8")
            }
        }
        return entries
    }
}
