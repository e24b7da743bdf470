import CLinuxShim
import Glibc
import SystemIO

/// Makes (and takes apart) a bundle's `rootfs/` from a cached stack.
///
/// ```text
/// BUNDLE/
/// ├── config.json
/// ├── rootfs/        --flatten: an independent copy of the stack's rootfs
/// │                  --overlay: overlayfs mount point (lowerdir = cached rootfs, read-only)
/// ├── upper/         --overlay only: the container's writes
/// └── work/          --overlay only: overlayfs's work directory (same filesystem as upper/)
/// ```
public enum Rootfs {
    /// Copies a cached rootfs to `destination` (which must not exist, or be an empty directory), sharing no inode
    /// with the cache: a container writing into its rootfs can never change the cache. Sparse files stay sparse.
    /// - Parameter freeSpaceReserve: Bytes that must stay free on the destination's filesystem (0: unchecked).
    /// - Returns: Bytes of file data copied (reflinked bytes included).
    /// - Throws: ``RootfsError/rootfsNotEmpty(_:)`` (nothing touched), ``FreeSpaceError``, or what the copy met
    ///   (the partial copy is removed).
    @discardableResult
    public static func flatten(from cachedRootfs: String, to destination: String,
                               freeSpaceReserve: Int64 = FreeSpaceGuard.defaultReserve) throws -> Int64
    {
        try removeEmptyDirectory(destination)
        let space = FreeSpaceGuard(path: FileSystem.parent(of: destination), reserve: freeSpaceReserve)
        do {
            return try TreeClone.clone(from: cachedRootfs, to: destination, mode: .copy, space: space).bytesCopied
        } catch {
            try? removeCopy(destination)
            throw error
        }
    }

    /// Removes a rootfs made by ``flatten(from:to:)`` (names need not be UTF-8; read-only directories are made
    /// writable first).
    public static func removeCopy(_ path: String) throws {
        try CacheFiles.removeTree(path)
    }

    /// Mounts overlayfs on `BUNDLE/rootfs` with `lowerDirectories` read-only below a fresh `BUNDLE/upper`.
    ///
    /// The upper directory gets the owner and mode of the topmost lower root, since overlayfs shows the upper
    /// root's attributes as the container's `/`.
    /// - Parameters:
    ///   - lowerDirectories: Top first (overlayfs order); for a cached stack, just its rootfs.
    ///   - bundle: The bundle directory (must exist).
    /// - Throws: ``RootfsError/overlayNeedsRoot`` when not root; ``RootfsError/overlayMountFailed(target:errno:reason:)``
    ///   when the kernel refuses.
    public static func mountOverlay(lowerDirectories: [String], bundle: String) throws {
        guard geteuid() == 0 else { throw RootfsError.overlayNeedsRoot }
        guard let top = lowerDirectories.first, let topStat = CacheFiles.lstatOrNil(top) else {
            throw SystemError("overlay lower directory \(lowerDirectories.first ?? "(none)")", errno: ENOENT)
        }
        let target = "\(bundle)/rootfs", upper = "\(bundle)/upper", work = "\(bundle)/work"
        try removeEmptyDirectory(target)
        for directory in [target, upper, work] where mkdir(directory, 0o755) != 0 {
            throw SystemError("mkdir \(directory)", errno: errno)
        }
        if chown(upper, topStat.st_uid, topStat.st_gid) != 0 { throw SystemError("chown \(upper)", errno: errno) }
        if chmod(upper, topStat.st_mode & 0o7777) != 0 { throw SystemError("chmod \(upper)", errno: errno) }
        let lower = lowerDirectories.map(escapeOverlayPath).joined(separator: ":")
        let options = "lowerdir=\(lower),upperdir=\(escapeOverlayPath(upper)),workdir=\(escapeOverlayPath(work))"
        if swshim_mount("overlay", target, "overlay", 0, options) != 0 {
            let e = errno
            throw RootfsError.overlayMountFailed(target: target, errno: e, reason: String(cString: strerror(e)))
        }
    }

    /// Whether `path` is a mount point (its device differs from its parent's).
    public static func isMountPoint(_ path: String) -> Bool {
        guard let st = CacheFiles.lstatOrNil(path), let parent = CacheFiles.lstatOrNil(FileSystem.parent(of: path))
        else { return false }
        return st.st_dev != parent.st_dev
    }

    /// Unmounts `BUNDLE/rootfs` when it is a mount point (an overlay rootfs). A busy mount (a container still
    /// running in it) is detached lazily: it disappears from the tree now and is freed when unused.
    /// - Returns: Whether something was unmounted.
    @discardableResult
    public static func unmount(bundle: String) throws -> Bool {
        let target = "\(bundle)/rootfs"
        guard isMountPoint(target) else { return false }
        if swshim_umount2(target, 0) == 0 { return true }
        var e = errno
        if e == EBUSY {
            if swshim_umount2(target, swshim_MNT_DETACH) == 0 { return true }
            e = errno
        }
        throw RootfsError.unmountFailed(target: target, errno: e, reason: String(cString: strerror(e)))
    }

    /// overlayfs splits its options at `,` and lower directories at `:`; a backslash escapes either.
    static func escapeOverlayPath(_ path: String) -> String {
        var escaped = ""
        for character in path {
            if character == "\\" || character == "," || character == ":" { escaped.append("\\") }
            escaped.append(character)
        }
        return escaped
    }

    /// Lets a rootfs be created at `path`: fine when it does not exist; an empty directory is removed.
    /// Throws ``RootfsError/rootfsNotEmpty(_:)`` unless `path` is absent or an empty directory (not a mount point).
    static func checkEmptyOrAbsent(_ path: String) throws {
        guard CacheFiles.exists(path) else { return }
        guard FileSystem.isRealDirectory(path), try FileSystem.list(path).isEmpty, !isMountPoint(path) else {
            throw RootfsError.rootfsNotEmpty(path)
        }
    }

    static func removeEmptyDirectory(_ path: String) throws {
        guard CacheFiles.exists(path) else { return }
        try checkEmptyOrAbsent(path)
        if rmdir(path) != 0 { throw SystemError("rmdir \(path)", errno: errno) }
    }
}
