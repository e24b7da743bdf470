import Glibc
import SystemIO

/// A file-system path as raw bytes, NUL-terminated: names in image layers need not be UTF-8, and a `String` would
/// replace invalid bytes, naming a different file. Tree walks (clone, measure, remove) use these throughout.
struct RawPath: CustomStringConvertible {
    /// The path bytes followed by one NUL; pass it directly where C expects `const char *`.
    private(set) var bytes: [CChar]

    init(_ string: String) {
        bytes = Array(string.utf8CString)
    }

    /// `self/name`, where `name` holds no NUL.
    func appending(_ name: [CChar]) -> RawPath {
        var result = self
        result.bytes.removeLast()
        result.bytes.append(CChar(bitPattern: UInt8(ascii: "/")))
        result.bytes.append(contentsOf: name)
        result.bytes.append(0)
        return result
    }

    /// The path for messages (invalid UTF-8 shown as U+FFFD).
    var description: String {
        String(decoding: bytes.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// `lstat`, or nil when the path does not exist.
    func lstatOrNil() -> stat? {
        var st = stat()
        return lstat(bytes, &st) == 0 ? st : nil
    }

    /// The names in this directory (raw, without NUL), without `.` and `..`.
    /// - Returns: empty when it does not exist.
    func list() throws -> [[CChar]] {
        try entries().map(\.name)
    }

    /// An entry of a directory as `readdir` gives it.
    struct Entry {
        var name: [CChar]
        /// `DT_DIR`, `DT_REG`, …; `DT_UNKNOWN` when the filesystem does not say (then `lstat` it).
        var type: Int32
        var inode: UInt64
    }

    /// The entries of this directory, without `.` and `..`.
    /// - Returns: empty when it does not exist.
    func entries() throws -> [Entry] {
        guard let dir = opendir(bytes) else {
            if errno == ENOENT || errno == ENOTDIR { return [] }
            throw SystemError("opendir \(self)", errno: errno)
        }
        defer { closedir(dir) }
        var entries: [Entry] = []
        while true {
            errno = 0
            guard let entry = readdir(dir) else {
                if errno != 0 { throw SystemError("readdir \(self)", errno: errno) }
                break
            }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                raw.prefix { $0 != 0 }.map { CChar(bitPattern: $0) }
            }
            if name == [46] || name == [46, 46] { continue }  // "." and ".."
            entries.append(Entry(name: name, type: Int32(entry.pointee.d_type), inode: UInt64(entry.pointee.d_ino)))
        }
        return entries
    }

    /// Calls `visit` for this path and everything below it (symlinks are not followed), parents first.
    func walk(_ visit: (RawPath, stat) throws -> Void) throws {
        guard let st = lstatOrNil() else { return }
        try visit(self, st)
        guard (st.st_mode & S_IFMT) == S_IFDIR else { return }
        for name in try list() { try appending(name).walk(visit) }
    }

    /// Removes this tree without following symlinks; directories lacking owner rwx get it first, so a non-root
    /// user can remove a tree holding `0555` directories.
    /// - Throws: the first failure (the rest is still attempted).
    func removeTree() throws(SystemError) {
        guard let st = lstatOrNil() else { return }
        guard (st.st_mode & S_IFMT) == S_IFDIR else {
            if unlink(bytes) != 0 && errno != ENOENT { throw SystemError("unlink \(self)", errno: errno) }
            return
        }
        if (st.st_mode & 0o700) != 0o700 { chmod(bytes, 0o700) }
        var firstError: SystemError?
        for name in (try? list()) ?? [] {
            do throws(SystemError) { try appending(name).removeTree() } catch {
                if firstError == nil { firstError = error }
            }
        }
        if rmdir(bytes) != 0 && errno != ENOENT && firstError == nil { firstError = SystemError("rmdir \(self)", errno: errno) }
        if let firstError { throw firstError }
    }
}
