import Glibc
import SystemIO

/// A directory only its owner can enter: mode 0700, owned by the user running swcopy.
///
/// The cache and every bundle hold unpacked image trees with the modes the container needs, setuid binaries and
/// device nodes included. Were any of them reachable by another local user, running `rootfs/usr/bin/su` (or
/// opening a `0666` block device) would make that user root. So the cache root and a bundle directory are made
/// private before anything is written into them, as containerd keeps its snapshot roots 0700 and umoci its
/// bundles: the trees below keep their modes, but no path leads to them for anyone else. The path itself must be
/// one no other user can redirect (see ``TrustedPath``), or the directory checked here need not be the one filled.
enum PrivateDirectory {
    /// The mode of a private directory.
    static let mode: mode_t = 0o700

    /// A directory made private by ``ensure(_:checkExisting:)``.
    struct Made: Sendable {
        /// Whether ``ensure(_:checkExisting:)`` created it.
        var created: Bool
        /// Its identity, to tell later that the path still names it.
        var device: UInt64
        var inode: UInt64
    }

    /// Makes `path` a private directory: created with mode 0700 when missing, tightened to 0700 when it exists
    /// with any group or other bit, once it has passed every check.
    ///
    /// `mkdir(2)` gets 0700 itself, so there is no moment at which the new directory is looser (a umask can only
    /// remove bits; one that removes the owner's is undone by the `fchmod`). A final symlink is not followed: the
    /// directory must be named as itself, or the mode change would land wherever the link points.
    /// - Parameters:
    ///   - path: The directory, whose ancestors are trusted (see ``TrustedPath/resolve(_:createParents:followFinalSymlink:)``);
    ///     its parent must exist.
    ///   - checkExisting: Called with `path` when the directory already existed and is ours, before its mode is
    ///     touched; throws to refuse it (a directory holding something else must not be taken over).
    /// - Returns: Whether it was created, and its identity.
    /// - Throws: ``PrivateDirectoryError/ownedByAnotherUser(path:owner:user:)`` when it exists and belongs to
    ///   someone else (who could loosen it again, or swap what is inside); ``TrustedPathError/finalSymlink(_:)``;
    ///   what `checkExisting` throws; `SystemError` otherwise.
    @discardableResult
    static func ensure(_ path: String, checkExisting: (String) throws -> Void = { _ in }) throws -> Made {
        var created = false
        if mkdir(path, mode) == 0 {
            created = true
            try FileSystem.syncDirectory(FileSystem.parent(of: path))
        } else if errno != EEXIST {
            throw SystemError("mkdir \(path)", errno: errno)
        }
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            // ELOOP: O_NOFOLLOW met a symlink.
            if errno == ELOOP { throw TrustedPathError.finalSymlink(path) }
            throw SystemError("open \(path)", errno: errno)
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw SystemError("fstat \(path)", errno: errno) }
        let user = geteuid()
        guard st.st_uid == user else {
            throw PrivateDirectoryError.ownedByAnotherUser(path: path, owner: st.st_uid, user: user)
        }
        if !created { try checkExisting(path) }
        // Also clears setgid and sticky bits: nothing below should inherit a group.
        if st.st_mode & 0o7777 != mode && fchmod(fd, mode) != 0 {
            throw SystemError("fchmod \(path)", errno: errno)
        }
        return Made(created: created, device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
    }

    /// Whether `path` (not followed) still names the directory `made` describes.
    static func isSame(_ path: String, as made: Made) -> Bool {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var st = stat()
        return fstat(fd, &st) == 0 && UInt64(st.st_dev) == made.device && UInt64(st.st_ino) == made.inode
    }
}

/// Why a directory cannot be made private to the user running swcopy.
public enum PrivateDirectoryError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The directory exists and belongs to another user.
    case ownedByAnotherUser(path: String, owner: UInt32, user: UInt32)
    /// The directory exists and holds something swcopy did not make there.
    case holdsOtherFiles(path: String, entry: String)

    public var description: String {
        switch self {
        case let .ownedByAnotherUser(path, owner, user):
            "\(path) belongs to uid \(owner), not to uid \(user) running swcopy: its owner could open it to others "
                + "or change what is unpacked there; use a directory of your own"
        case let .holdsOtherFiles(path, entry):
            "\(path) already holds \(entry): swcopy makes the directory it fills private (0700), so it takes only a "
                + "new or empty one, never a directory in use; name a new directory"
        }
    }
}
