import CLinuxShim
import Glibc
import SystemIO
import TarArchive

/// The state of applying one layer: which paths this layer wrote (whiteouts and opaque directories only remove
/// lower-layer content), and the directory modes and mtimes to set once their content is complete.
final class LayerApplication {
    let root: UnpackRoot
    let options: UnpackOptions
    /// Paths of this layer's entries, as normalized keys (`a/b/c`).
    var layerPaths: Set<String> = []
    /// Directories this layer's entries live in (every ancestor of a key in ``layerPaths``).
    var layerDirectories: Set<String> = []
    /// Directory entries: mode and mtime, applied last (children would change the mtime; a read-only mode could
    /// block their creation).
    var directoryMetadata: [String: (components: [String], mode: UInt32, mtime: TarTimestamp)] = [:]
    var entryCount = 0
    let isRoot = geteuid() == 0
    /// Keeps the free-space reserve on the root's filesystem.
    let space: FreeSpaceGuard

    init(root: UnpackRoot, options: UnpackOptions, space: FreeSpaceGuard) {
        self.root = root
        self.options = options
        self.space = space
    }

    func warn(_ message: String) {
        options.warningHandler?(message)
    }

    /// Applies one entry; regular file content is read from `reader`.
    func apply(_ entry: TarEntry, from reader: TarReader) throws {
        entryCount += 1
        guard entryCount <= options.limits.maxEntries else {
            throw UnpackError.limitExceeded("more than \(options.limits.maxEntries) entries")
        }
        try space.charge(FreeSpaceGuard.entryCost)
        let components = try UnpackPath.components(entry.path, limit: options.limits.maxPathLength)
        guard entry.linkTarget.utf8.count <= options.limits.maxPathLength else {
            throw UnpackError.limitExceeded("link target of \(entry.path) is longer than \(options.limits.maxPathLength)")
        }
        guard let name = components.last else {
            // The root itself ("./"): only a directory can describe it.
            guard entry.kind == .directory else {
                throw UnpackError.invalidEntry(path: entry.path, reason: "a \(entry.kind) cannot replace the root")
            }
            guard let fd = try root.openDirectory([], create: false, for: entry.path) else { return }
            try setOwnerAndXattrs(fd: fd.rawValue, entry: entry, replacing: true)
            directoryMetadata[""] = ([], entry.mode, entry.modificationTime)
            return
        }
        if name.hasPrefix(Whiteout.prefix) {
            try applyWhiteout(components, entry: entry)
            return
        }
        let parent = try root.openParent(components, for: entry.path)
        try ensureWritable(parent.rawValue, components.dropLast())
        let key = UnpackPath.key(components)
        switch entry.kind {
        case .directory:
            try makeDirectory(parent.rawValue, name, entry: entry, components: components)
        case .regular:
            try makeRegularFile(parent.rawValue, name, entry: entry, reader: reader)
        case .symbolicLink:
            try UnpackFS.remove(parent.rawValue, name)
            guard symlinkat(entry.linkTarget, parent.rawValue, name) == 0 else {
                throw UnpackError.filesystem(SystemError("symlinkat \(entry.path)", errno: errno))
            }
            try setMetadata(at: parent.rawValue, name, entry: entry, chmod: false)
        case .hardLink:
            try makeHardLink(parent.rawValue, name, entry: entry, components: components)
        case .fifo, .characterDevice, .blockDevice:
            guard try makeNode(parent.rawValue, name, entry: entry) else { return }
        }
        layerPaths.insert(key)
        var ancestor = components.dropLast()
        while !ancestor.isEmpty {
            if !layerDirectories.insert(UnpackPath.key(ancestor)).inserted { break }
            ancestor = ancestor.dropLast()
        }
    }

    /// Sets directory modes and mtimes, deepest first, on directories that are still directories.
    func finish() throws {
        let ordered = directoryMetadata.values.sorted { $0.components.count > $1.components.count }
        for (components, mode, mtime) in ordered {
            let fd: FileDescriptor
            if let name = components.last {
                guard let parent = try? root.openDirectory(components.dropLast(), create: false, for: name) else {
                    continue
                }
                let opened = openat(parent.rawValue, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                // Removed or replaced by a non-directory later in the layer: nothing to finish.
                guard opened >= 0 else { continue }
                fd = FileDescriptor(opened)
            } else {
                guard let opened = try root.openDirectory([], create: false, for: "/") else { continue }
                fd = opened
            }
            let path = UnpackPath.key(components)
            guard fchmod(fd.rawValue, mode_t(mode)) == 0 else {
                throw UnpackError.filesystem(SystemError("fchmod \(path)", errno: errno))
            }
            var times = LayerApplication.timespecs(mtime)
            guard futimens(fd.rawValue, &times) == 0 else {
                throw UnpackError.filesystem(SystemError("futimens \(path)", errno: errno))
            }
        }
    }

    /// Without root, a lower layer's read-only directory (0555) would block creating or removing entries in it:
    /// give the owner write access, and restore the original mode (and mtime) when the layer is done. Directories
    /// are never shared between cached trees, so changing one in place is safe.
    func ensureWritable(_ fd: Int32, _ components: ArraySlice<String>) throws {
        guard !isRoot else { return }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw UnpackError.filesystem(SystemError("fstat", errno: errno)) }
        let mode = UInt32(st.st_mode) & 0o7777
        guard mode & 0o700 != 0o700 else { return }
        let key = UnpackPath.key(components)
        if directoryMetadata[key] == nil {
            let mtime = TarTimestamp(seconds: Int64(st.st_mtim.tv_sec), nanoseconds: UInt32(st.st_mtim.tv_nsec))
            directoryMetadata[key] = (Array(components), mode, mtime)
        }
        guard fchmod(fd, mode_t(mode | 0o700)) == 0 else {
            throw UnpackError.filesystem(SystemError("fchmod \(key.isEmpty ? "/" : key)", errno: errno))
        }
    }

    // MARK: - Entry kinds

    private func makeDirectory(_ parent: Int32, _ name: String, entry: TarEntry, components: [String]) throws {
        // Both directories: the existing one stays (with its content) and takes the entry's attributes.
        let existing = try UnpackFS.status(parent, name)
        let replacing = existing.map(UnpackFS.isDirectory) ?? false
        if !replacing {
            if existing != nil { try UnpackFS.remove(parent, name) }
            guard mkdirat(parent, name, 0o700) == 0 else {
                throw UnpackError.filesystem(SystemError("mkdirat \(entry.path)", errno: errno))
            }
        }
        let fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw UnpackError.filesystem(SystemError("open \(entry.path)", errno: errno)) }
        defer { close(fd) }
        try setOwnerAndXattrs(fd: fd, entry: entry, replacing: replacing)
        directoryMetadata[UnpackPath.key(components)] = (components, entry.mode, entry.modificationTime)
    }

    private func makeRegularFile(_ parent: Int32, _ name: String, entry: TarEntry, reader: TarReader) throws {
        // Unlink, never truncate: the old inode may be shared with another cached tree.
        try UnpackFS.remove(parent, name)
        let fd = openat(parent, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw UnpackError.filesystem(SystemError("create \(entry.path)", errno: errno)) }
        defer { close(fd) }
        // Sparse: runs of zeros become holes (a layer of zeros costs no disk); only what is written is charged. A
        // sparse tar entry's holes are never written, whatever its declared size: only its stored data is charged.
        _ = try reader.copyContent(to: fd, sparse: true) { written in try self.space.charge(written) }
        try setOwnerAndXattrs(fd: fd, entry: entry, replacing: false)
        // After chown, which clears setuid/setgid.
        guard fchmod(fd, mode_t(entry.mode)) == 0 else {
            throw UnpackError.filesystem(SystemError("fchmod \(entry.path)", errno: errno))
        }
        var times = LayerApplication.timespecs(entry.modificationTime)
        guard futimens(fd, &times) == 0 else {
            throw UnpackError.filesystem(SystemError("futimens \(entry.path)", errno: errno))
        }
    }

    private func makeHardLink(_ parent: Int32, _ name: String, entry: TarEntry, components: [String]) throws {
        let target: [String]
        do {
            target = try UnpackPath.components(entry.linkTarget, limit: options.limits.maxPathLength)
        } catch let error as UnpackError {
            if case .unsafePath = error { throw UnpackError.unsafePath(path: entry.linkTarget, reason: "hard link target with '..' (from \(entry.path))") }
            throw error
        }
        guard let targetName = target.last else {
            throw UnpackError.hardLinkTarget(path: entry.path, target: entry.linkTarget, reason: "links to the root")
        }
        if target == components { return }
        guard let targetParent = try root.openDirectory(target.dropLast(), create: false, for: entry.linkTarget),
              let targetStatus = try UnpackFS.status(targetParent.rawValue, targetName) else {
            throw UnpackError.hardLinkTarget(path: entry.path, target: entry.linkTarget, reason: "target does not exist")
        }
        if UnpackFS.isDirectory(targetStatus) {
            throw UnpackError.hardLinkTarget(path: entry.path, target: entry.linkTarget, reason: "target is a directory")
        }
        if let existing = try UnpackFS.status(parent, name) {
            // Already the same inode (the same file reached through a symlinked parent): nothing to do.
            if existing.st_dev == targetStatus.st_dev && existing.st_ino == targetStatus.st_ino { return }
            try UnpackFS.remove(parent, name)
        }
        guard linkat(targetParent.rawValue, targetName, parent, name, 0) == 0 else {
            throw UnpackError.hardLinkTarget(path: entry.path, target: entry.linkTarget,
                                             reason: SystemError("linkat", errno: errno).description)
        }
    }

    /// - Returns: false when the node was skipped (devices without privilege).
    private func makeNode(_ parent: Int32, _ name: String, entry: TarEntry) throws -> Bool {
        let type: mode_t
        switch entry.kind {
        case .characterDevice: type = S_IFCHR
        case .blockDevice: type = S_IFBLK
        default: type = S_IFIFO
        }
        if entry.kind != .fifo && !options.createDevices {
            warn("skipped \(entry.kind) \(entry.path) (\(entry.deviceMajor):\(entry.deviceMinor)): creating devices needs root")
            return false
        }
        try UnpackFS.remove(parent, name)
        if swshim_mknodat(parent, name, UInt32(type | 0o600), entry.deviceMajor, entry.deviceMinor) != 0 {
            if entry.kind != .fifo && (errno == EPERM || errno == EACCES) {
                warn("skipped \(entry.kind) \(entry.path): mknod not permitted here")
                return false
            }
            throw UnpackError.filesystem(SystemError("mknodat \(entry.path)", errno: errno))
        }
        try setMetadata(at: parent, name, entry: entry, chmod: true)
        return true
    }

    // MARK: - Metadata

    /// Owner, mode, xattrs and mtime of a node just created at `name` (a symlink, FIFO or device), by name with
    /// `AT_SYMLINK_NOFOLLOW`.
    private func setMetadata(at parent: Int32, _ name: String, entry: TarEntry, chmod: Bool) throws {
        if options.preserveOwnership {
            let (uid, gid) = try ids(entry)
            if fchownat(parent, name, uid, gid, AT_SYMLINK_NOFOLLOW) != 0 { try chownFailed(entry, errno) }
        }
        if chmod {
            // The node was just created by us and is not a symlink, so following is not a concern here.
            guard fchmodat(parent, name, mode_t(entry.mode), 0) == 0 else {
                throw UnpackError.filesystem(SystemError("fchmodat \(entry.path)", errno: errno))
            }
        }
        for (key, value) in entry.xattrs.sorted(by: { $0.key < $1.key }) where allowsXattr(key, entry) {
            let rc = value.withUnsafeBytes { swshim_lsetxattr_at(parent, name, key, $0.baseAddress, $0.count) }
            if rc != 0 { try xattrFailed(key, entry, errno) }
        }
        var times = LayerApplication.timespecs(entry.modificationTime)
        guard utimensat(parent, name, &times, AT_SYMLINK_NOFOLLOW) == 0 else {
            throw UnpackError.filesystem(SystemError("utimensat \(entry.path)", errno: errno))
        }
    }

    /// Owner and xattrs through a descriptor (regular files and directories). For an existing directory, xattrs
    /// the entry does not list are removed first: its attributes are replaced, as layer.md says.
    private func setOwnerAndXattrs(fd: Int32, entry: TarEntry, replacing: Bool) throws {
        if options.preserveOwnership {
            let (uid, gid) = try ids(entry)
            if fchown(fd, uid, gid) != 0 { try chownFailed(entry, errno) }
        }
        if replacing {
            for key in LayerApplication.xattrNames(fd) where entry.xattrs[key] == nil && allowsXattr(key, nil) {
                _ = swshim_fremovexattr(fd, key)
            }
        }
        for (key, value) in entry.xattrs.sorted(by: { $0.key < $1.key }) where allowsXattr(key, entry) {
            let rc = value.withUnsafeBytes { swshim_fsetxattr(fd, key, $0.baseAddress, $0.count) }
            if rc != 0 { try xattrFailed(key, entry, errno) }
        }
    }

    /// Attributes that would change how overlayfs reads the tree (`trusted.overlay.*`, `user.overlay.*`) are
    /// never restored; neither are SELinux labels, which belong to the host's policy.
    private func allowsXattr(_ key: String, _ entry: TarEntry?) -> Bool {
        if key.hasPrefix("trusted.overlay.") || key.hasPrefix("user.overlay.") || key == "security.selinux" {
            if let entry { warn("ignored xattr \(key) on \(entry.path)") }
            return false
        }
        return true
    }

    private func xattrFailed(_ key: String, _ entry: TarEntry, _ error: Int32) throws {
        switch error {
        case EPERM, EACCES, ENOTSUP, EINVAL, ERANGE, ENOSPC, E2BIG:
            warn("xattr \(key) not set on \(entry.path): \(String(cString: strerror(error)))")
        default:
            throw UnpackError.filesystem(SystemError("setxattr \(key) \(entry.path)", errno: error))
        }
    }

    /// In a user namespace "root" may lack the ids an image uses (EINVAL: unmapped; EPERM): the file keeps the
    /// caller's ids and a warning says so, as devices are skipped there.
    private func chownFailed(_ entry: TarEntry, _ error: Int32) throws {
        guard error == EINVAL || error == EPERM else {
            throw UnpackError.filesystem(SystemError("chown \(entry.path)", errno: error))
        }
        warn("owner \(entry.uid):\(entry.gid) not set on \(entry.path): \(String(cString: strerror(error)))")
    }

    private func ids(_ entry: TarEntry) throws -> (uid_t, gid_t) {
        guard let uid = uid_t(exactly: entry.uid), uid != uid_t.max,
              let gid = gid_t(exactly: entry.gid), gid != gid_t.max else {
            throw UnpackError.invalidEntry(path: entry.path, reason: "uid \(entry.uid) or gid \(entry.gid) out of range")
        }
        return (uid, gid)
    }

    static func xattrNames(_ fd: Int32) -> [String] {
        let size = swshim_flistxattr(fd, nil, 0)
        guard size > 0 else { return [] }
        var list = [CChar](repeating: 0, count: size)
        let n = swshim_flistxattr(fd, &list, size)
        guard n > 0 else { return [] }
        return list[..<n].split(separator: 0).map { String(decoding: $0.map { UInt8(bitPattern: $0) }, as: UTF8.self) }
    }

    /// atime and mtime both set to the entry's mtime.
    static func timespecs(_ time: TarTimestamp) -> [timespec] {
        let spec = timespec(tv_sec: Int(time.seconds), tv_nsec: Int(time.nanoseconds))
        return [spec, spec]
    }
}
