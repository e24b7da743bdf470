import CLinuxShim
import Glibc
import SystemIO

/// Builds a layer tar (optionally gzip) from a directory tree, reproducibly.
///
/// Entries come in a fixed order (each directory's names sorted bytewise, parents before children), with a fixed
/// mtime and uid/gid 0 unless asked otherwise; modes (with setuid, setgid, sticky) are kept, symbolic links are
/// stored as links, files with several links inside the tree become tar hard links to the first path seen,
/// FIFOs and device nodes are kept, sockets are skipped. Archiving the same tree twice gives identical bytes, so
/// the same layer digest. The tree is walked with `openat` and `O_NOFOLLOW` below one directory descriptor.
public enum DirectoryArchiver {
    /// How the tree is mapped to tar entries.
    public struct Options: Sendable {
        /// Where the directory's content lands in the image (`usr/share/nginx/html`); empty for the image root.
        /// Directory entries are written for each parent, then for the destination itself.
        public var destinationPath: String
        /// The mtime of every entry; nil keeps each file's own mtime (with nanoseconds).
        public var modificationTime: TarTimestamp?
        /// Keep each file's uid and gid instead of 0:0.
        public var keepOwnership: Bool
        /// Archive extended attributes (off by default: build hosts add attributes such as `security.selinux`).
        public var includeXattrs: Bool
        /// `.gzip` (the usual layer media type) or `.none`.
        public var compression: TarCompression
        /// gzip level.
        public var compressionLevel: Int32

        public init(destinationPath: String = "", modificationTime: TarTimestamp? = .epoch, keepOwnership: Bool = false,
                    includeXattrs: Bool = false, compression: TarCompression = .gzip, compressionLevel: Int32 = 6) {
            self.destinationPath = destinationPath
            self.modificationTime = modificationTime
            self.keepOwnership = keepOwnership
            self.includeXattrs = includeXattrs
            self.compression = compression
            self.compressionLevel = compressionLevel
        }
    }

    /// Splits a `DIR[:DEST_PATH]` argument (the last `:` separates them).
    public static func parseLayerArgument(_ argument: String) -> (directory: String, destinationPath: String) {
        guard let colon = argument.lastIndex(of: ":") else { return (argument, "") }
        return (String(argument[..<colon]), String(argument[argument.index(after: colon)...]))
    }

    /// Archives `directory` into a new tar stream written to `fd`.
    /// - Returns: The diffID, the blob digest and the blob size (``TarWriter/Summary``).
    /// - Throws: ``TarError`` when the tree cannot be read or holds a name that would act as a whiteout.
    public static func archive(directory: String, to fd: Int32, options: Options = Options()) throws -> TarWriter.Summary {
        let writer = try TarWriter(fileDescriptor: fd, compression: options.compression, level: options.compressionLevel)
        try archive(directory: directory, into: writer, options: options)
        return try writer.finish()
    }

    /// Appends the entries for `directory` to an open writer (the caller finishes it).
    public static func archive(directory: String, into writer: TarWriter, options: Options = Options()) throws {
        let destination = try normalizedDestination(options.destinationPath)
        let rootFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard rootFD >= 0 else { throw TarError.io(SystemError("open \(directory)", errno: errno)) }
        defer { close(rootFD) }
        var walker = Walker(writer: writer, options: options)
        if !destination.isEmpty {
            var parent = ""
            for component in destination.split(separator: "/").dropLast() {
                parent += component + "/"
                try writer.append(TarEntry(kind: .directory, path: parent, mode: 0o755,
                                           modificationTime: options.modificationTime ?? .epoch))
            }
            var st = stat()
            guard fstat(rootFD, &st) == 0 else { throw TarError.io(SystemError("fstat \(directory)", errno: errno)) }
            try writer.append(walker.entry(for: st, kind: .directory, path: destination + "/", dirFD: rootFD, name: "."))
        }
        try walker.walk(dirFD: rootFD, prefix: destination.isEmpty ? "" : destination + "/")
    }

    static func normalizedDestination(_ path: String) throws -> String {
        let components = path.split(separator: "/").filter { $0 != "." }
        if components.contains("..") { throw TarError.usage("destination path \(path) contains '..'") }
        return components.joined(separator: "/")
    }

    private struct Walker {
        let writer: TarWriter
        let options: Options
        /// First archived path of each multiply-linked inode, by (device, inode).
        var firstPaths: [InodeKey: String] = [:]

        init(writer: TarWriter, options: Options) {
            self.writer = writer
            self.options = options
        }

        mutating func walk(dirFD: Int32, prefix: String) throws {
            for name in try DirectoryArchiver.names(in: dirFD, at: prefix) {
                if name.hasPrefix(".wh.") {
                    throw TarError.usage("\(prefix)\(name): names starting with .wh. are whiteouts in a layer")
                }
                let path = prefix + name
                var st = stat()
                guard fstatat(dirFD, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else {
                    throw TarError.io(SystemError("fstatat \(path)", errno: errno))
                }
                let format = st.st_mode & S_IFMT
                if format != S_IFDIR && st.st_nlink > 1 {
                    let key = InodeKey(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
                    if let first = firstPaths[key] {
                        var link = entry(for: st, kind: .hardLink, path: path, dirFD: dirFD, name: name)
                        link.linkTarget = first
                        link.xattrs = [:]
                        try writer.append(link)
                        continue
                    }
                    firstPaths[key] = path
                }
                switch format {
                case S_IFDIR:
                    try writer.append(entry(for: st, kind: .directory, path: path + "/", dirFD: dirFD, name: name))
                    let child = openat(dirFD, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                    guard child >= 0 else { throw TarError.io(SystemError("open \(path)", errno: errno)) }
                    defer { close(child) }
                    try walk(dirFD: child, prefix: path + "/")
                case S_IFREG:
                    let file = openat(dirFD, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
                    guard file >= 0 else { throw TarError.io(SystemError("open \(path)", errno: errno)) }
                    defer { close(file) }
                    var e = entry(for: st, kind: .regular, path: path, dirFD: dirFD, name: name)
                    e.size = Int64(st.st_size)
                    try writer.append(e)
                    try writer.writeContent(from: file)
                case S_IFLNK:
                    var e = entry(for: st, kind: .symbolicLink, path: path, dirFD: dirFD, name: name)
                    e.linkTarget = try DirectoryArchiver.readLink(dirFD: dirFD, name: name, path: path)
                    try writer.append(e)
                case S_IFCHR, S_IFBLK:
                    var e = entry(for: st, kind: format == S_IFCHR ? .characterDevice : .blockDevice, path: path,
                                  dirFD: dirFD, name: name)
                    e.deviceMajor = swshim_major(UInt64(st.st_rdev))
                    e.deviceMinor = swshim_minor(UInt64(st.st_rdev))
                    try writer.append(e)
                case S_IFIFO:
                    try writer.append(entry(for: st, kind: .fifo, path: path, dirFD: dirFD, name: name))
                default:
                    continue  // sockets have no tar representation
                }
            }
        }

        func entry(for st: stat, kind: TarEntry.Kind, path: String, dirFD: Int32, name: String) -> TarEntry {
            var e = TarEntry(kind: kind, path: path, mode: UInt32(st.st_mode) & 0o7777)
            if options.keepOwnership {
                e.uid = Int64(st.st_uid)
                e.gid = Int64(st.st_gid)
            }
            e.modificationTime = options.modificationTime
                ?? TarTimestamp(seconds: Int64(st.st_mtim.tv_sec), nanoseconds: UInt32(st.st_mtim.tv_nsec))
            if options.includeXattrs && kind != .hardLink {
                e.xattrs = DirectoryArchiver.xattrs(dirFD: dirFD, name: name)
            }
            return e
        }
    }

    struct InodeKey: Hashable {
        let device: UInt64
        let inode: UInt64
    }

    /// The names in a directory (without `.` and `..`), sorted bytewise.
    static func names(in dirFD: Int32, at path: String) throws -> [String] {
        let copy = dup(dirFD)
        guard copy >= 0 else { throw TarError.io(SystemError("dup", errno: errno)) }
        guard let dir = fdopendir(copy) else {
            close(copy)
            throw TarError.io(SystemError("fdopendir \(path)", errno: errno))
        }
        defer { closedir(dir) }
        rewinddir(dir)
        var names: [String] = []
        while let entry = readdir(dir) {
            let bytes = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
            if bytes == [0x2e] || bytes == [0x2e, 0x2e] { continue }
            guard let name = String(validating: bytes, as: UTF8.self) else {
                throw TarError.unsupported("file name in \(path.isEmpty ? "." : path) is not valid UTF-8")
            }
            names.append(name)
        }
        names.sort { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        return names
    }

    static func readLink(dirFD: Int32, name: String, path: String) throws -> String {
        var size = 256
        while true {
            var buffer = [UInt8](repeating: 0, count: size)
            let n = buffer.withUnsafeMutableBytes { readlinkat(dirFD, name, $0.baseAddress!, size) }
            guard n >= 0 else { throw TarError.io(SystemError("readlink \(path)", errno: errno)) }
            if n < size {
                guard let target = String(validating: buffer[..<n], as: UTF8.self) else {
                    throw TarError.unsupported("link target of \(path) is not valid UTF-8")
                }
                return target
            }
            size *= 4
        }
    }

    /// Extended attributes of `name` in `dirFD` (not following symlinks); unreadable ones are left out.
    static func xattrs(dirFD: Int32, name: String) -> [String: [UInt8]] {
        let listSize = swshim_llistxattr_at(dirFD, name, nil, 0)
        guard listSize > 0 else { return [:] }
        var list = [CChar](repeating: 0, count: listSize)
        let n = swshim_llistxattr_at(dirFD, name, &list, listSize)
        guard n > 0 else { return [:] }
        var result: [String: [UInt8]] = [:]
        for keyBytes in list[..<n].split(separator: 0) {
            let key = String(decoding: keyBytes.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let size = swshim_lgetxattr_at(dirFD, name, key, nil, 0)
            guard size >= 0 else { continue }
            var value = [UInt8](repeating: 0, count: size)
            let got = value.withUnsafeMutableBytes { swshim_lgetxattr_at(dirFD, name, key, $0.baseAddress, size) }
            guard got >= 0 else { continue }
            result[key] = Array(value[..<got])
        }
        return result
    }
}
