import CLinuxShim
import Glibc
import SystemIO

/// The users and groups of an image, read from its rootfs's `/etc/passwd` and `/etc/group`.
///
/// The files are opened with `openat2(RESOLVE_IN_ROOT)`: the path and every symlink on the way resolve as if the
/// rootfs were `/`, so a hostile image whose `/etc/passwd` is a symlink to `/../../etc/shadow` reads its own
/// (missing) file, never the host's.
public struct UserDatabase: Sendable, Equatable {
    /// One `/etc/passwd` line.
    public struct User: Sendable, Equatable {
        public var name: String
        public var uid: UInt32
        public var gid: UInt32
        public var home: String
    }

    /// One `/etc/group` line.
    public struct Group: Sendable, Equatable {
        public var name: String
        public var gid: UInt32
        public var members: [String]
    }

    /// Entries of `/etc/passwd`; nil when the image has no such file.
    public var users: [User]?
    /// Entries of `/etc/group`; nil when the image has no such file.
    public var groups: [Group]?

    public init(users: [User]?, groups: [Group]?) {
        self.users = users
        self.groups = groups
    }

    /// The largest `/etc/passwd` or `/etc/group` read (real ones are kilobytes).
    public static let maxFileSize = 8 << 20

    /// Reads `/etc/passwd` and `/etc/group` of the root filesystem at `rootfs`.
    /// - Throws: ``UserDatabaseError/unreadable(path:reason:)`` when a file exists but cannot be read (not a regular
    ///   file, too large, I/O error); a missing file is not an error.
    public static func load(rootfs: String) throws -> UserDatabase {
        let rootFD = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard rootFD >= 0 else { throw SystemError("open \(rootfs)", errno: errno) }
        defer { close(rootFD) }
        let passwd = try readInRoot(rootFD, "etc/passwd", rootfs: rootfs)
        let group = try readInRoot(rootFD, "etc/group", rootfs: rootfs)
        return UserDatabase(users: passwd.map(parsePasswd), groups: group.map(parseGroup))
    }

    /// Reads a file inside the root; nil when it (or a directory on its way) does not exist.
    static func readInRoot(_ rootFD: Int32, _ path: String, rootfs: String) throws -> String? {
        // O_NONBLOCK: a FIFO planted at /etc/passwd must not hang the open; it is then refused as not regular.
        let fd = swshim_open_in_root(rootFD, path, O_RDONLY | O_NONBLOCK)
        if fd < 0 {
            let e = errno
            if e == ENOENT || e == ENOTDIR || e == ELOOP { return nil }
            if e == ENOSYS {
                throw UserDatabaseError.unreadable(path: "/\(path)", reason: "this kernel lacks openat2(2) (Linux 5.6+), which reading it safely needs")
            }
            throw UserDatabaseError.unreadable(path: "/\(path)", reason: String(cString: strerror(e)))
        }
        defer { close(fd) }
        do {
            let bytes = try CacheFiles.readSmall(fd: fd, path: "\(rootfs)/\(path)", maxBytes: maxFileSize)
            return String(decoding: bytes, as: UTF8.self)
        } catch {
            throw UserDatabaseError.unreadable(path: "/\(path)", reason: "\(error)")
        }
    }
}
