import Glibc
import SystemIO

/// A directory only its owner can enter: mode 0700, owned by the user running swcopy.
///
/// The cache and every bundle hold unpacked image trees with the modes the container needs, setuid binaries and
/// device nodes included. Were any of them reachable by another local user, running `rootfs/usr/bin/su` (or
/// opening a `0666` block device) would make that user root. So the cache root and a bundle directory are made
/// private before anything is written into them, as containerd keeps its snapshot roots 0700 and umoci its
/// bundles: the trees below keep their modes, but no path leads to them for anyone else.
enum PrivateDirectory {
    /// The mode of a private directory.
    static let mode: mode_t = 0o700

    /// Makes `path` a private directory: created with mode 0700 when missing (its missing parents get ordinary
    /// modes: they hold nothing but the path), tightened to 0700 when it exists with any group or other bit.
    ///
    /// `mkdir(2)` gets 0700 itself, so there is no moment at which the new directory is looser (a umask can only
    /// remove bits; one that removes the owner's is undone by the `fchmod`). A final symlink is followed, as any
    /// directory a user names: the checks apply to the directory it leads to.
    /// - Parameter path: The directory.
    /// - Returns: Whether it was created by this call.
    /// - Throws: ``PrivateDirectoryError/ownedByAnotherUser(path:owner:user:)`` when it exists and belongs to
    ///   someone else (who could loosen it again, or swap what is inside); `SystemError` otherwise.
    @discardableResult
    static func ensure(_ path: String) throws -> Bool {
        var created = false
        if mkdir(path, mode) == 0 {
            created = true
        } else {
            var e = errno
            if e == ENOENT {
                try FileSystem.makeDirectories(FileSystem.parent(of: path))
                if mkdir(path, mode) == 0 { created = true } else { e = errno }
            }
            if !created && e != EEXIST { throw SystemError("mkdir \(path)", errno: e) }
        }
        if created { try FileSystem.syncDirectory(FileSystem.parent(of: path)) }
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("open \(path)", errno: errno) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw SystemError("fstat \(path)", errno: errno) }
        let user = geteuid()
        guard st.st_uid == user else {
            throw PrivateDirectoryError.ownedByAnotherUser(path: path, owner: st.st_uid, user: user)
        }
        // Also clears setgid and sticky bits: nothing below should inherit a group.
        if st.st_mode & 0o7777 != mode && fchmod(fd, mode) != 0 {
            throw SystemError("fchmod \(path)", errno: errno)
        }
        return created
    }
}

/// Why a directory cannot be made private to the user running swcopy.
public enum PrivateDirectoryError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The directory exists and belongs to another user.
    case ownedByAnotherUser(path: String, owner: UInt32, user: UInt32)

    public var description: String {
        switch self {
        case let .ownedByAnotherUser(path, owner, user):
            "\(path) belongs to uid \(owner), not to uid \(user) running swcopy: its owner could open it to others "
                + "or change what is unpacked there; use a directory of your own"
        }
    }
}
