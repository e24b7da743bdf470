import CLinuxShim
import Glibc
import SystemIO

extension TreeClone {
    /// Gives `destination` the owner, mode, xattrs and timestamps of `source` (whose `lstat` is `st`).
    ///
    /// Order matters: `lchown` clears set-uid/set-gid bits, so the mode comes after it; xattrs before times; times
    /// last because setting anything else would not move the mtime but creating children of a directory does.
    static func copyMetadata(from source: RawPath, to destination: RawPath, _ st: stat, isRoot: Bool) throws {
        let isSymlink = (st.st_mode & S_IFMT) == S_IFLNK
        if lchown(destination.bytes, st.st_uid, st.st_gid) != 0 {
            // Without CAP_CHOWN the copy keeps the caller's ids, which is all a non-root user can have.
            if errno != EPERM || isRoot { throw SystemError("lchown \(destination)", errno: errno) }
        }
        // Symlinks have no mode of their own on Linux, and chmod would follow them.
        if !isSymlink && chmod(destination.bytes, st.st_mode & 0o7777) != 0 {
            throw SystemError("chmod \(destination)", errno: errno)
        }
        try copyExtendedAttributes(from: source, to: destination, isRoot: isRoot)
        if swshim_set_times_nofollow(destination.bytes, Int64(st.st_atim.tv_sec), Int64(st.st_atim.tv_nsec),
                                     Int64(st.st_mtim.tv_sec), Int64(st.st_mtim.tv_nsec)) != 0
        {
            throw SystemError("utimensat \(destination)", errno: errno)
        }
    }

    /// The names of the extended attributes of `path` (not following a final symlink).
    static func extendedAttributeNames(_ path: RawPath) throws -> [[CChar]] {
        while true {
            let size = swshim_llistxattr(path.bytes, nil, 0)
            if size < 0 {
                if errno == ENOTSUP || errno == EOPNOTSUPP { return [] }
                throw SystemError("llistxattr \(path)", errno: errno)
            }
            if size == 0 { return [] }
            var buffer = [CChar](repeating: 0, count: size)
            let n = swshim_llistxattr(path.bytes, &buffer, size)
            if n < 0 {
                if errno == ERANGE { continue }  // an attribute was added in between; ask again
                throw SystemError("llistxattr \(path)", errno: errno)
            }
            return buffer[0..<n].split(separator: 0).map { Array($0) + [0] }  // each NUL-terminated
        }
    }

    /// The value of one extended attribute, or nil when it vanished.
    static func extendedAttribute(_ path: RawPath, _ name: [CChar]) throws -> [UInt8]? {
        while true {
            let size = swshim_lgetxattr(path.bytes, name, nil, 0)
            if size < 0 {
                if errno == ENODATA { return nil }
                throw SystemError("lgetxattr \(path) \(display(name))", errno: errno)
            }
            var value = [UInt8](repeating: 0, count: size)
            let n = value.withUnsafeMutableBytes { swshim_lgetxattr(path.bytes, name, $0.baseAddress, size) }
            if n < 0 {
                if errno == ERANGE { continue }
                if errno == ENODATA { return nil }
                throw SystemError("lgetxattr \(path) \(display(name))", errno: errno)
            }
            return Array(value[0..<n])
        }
    }

    /// Copies every extended attribute of `source` to `destination`.
    static func copyExtendedAttributes(from source: RawPath, to destination: RawPath, isRoot: Bool) throws {
        for name in try extendedAttributeNames(source) {
            guard let value = try extendedAttribute(source, name) else { continue }
            let rc = value.withUnsafeBytes { swshim_lsetxattr(destination.bytes, name, $0.baseAddress, $0.count) }
            if rc != 0 {
                let e = errno
                // ENOTSUP: the target filesystem has no such namespace; EPERM: `trusted.*`/`security.*` need
                // CAP_SYS_ADMIN, and user xattrs cannot be set on symlinks. Neither is ours to fix.
                if e == ENOTSUP || e == EOPNOTSUPP || (e == EPERM && (!isRoot || display(name).hasPrefix("user."))) { continue }
                throw SystemError("lsetxattr \(destination) \(display(name))", errno: e)
            }
        }
    }

    /// A NUL-terminated attribute name for messages.
    static func display(_ name: [CChar]) -> String {
        String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Attribute names of a path given as text (tests, display).
    static func extendedAttributeNames(_ path: String) throws -> [String] {
        try extendedAttributeNames(RawPath(path)).map(display)
    }

    /// One attribute of a path given as text (tests, display).
    static func extendedAttribute(_ path: String, _ name: String) throws -> [UInt8]? {
        try extendedAttribute(RawPath(path), Array(name.utf8CString))
    }
}
