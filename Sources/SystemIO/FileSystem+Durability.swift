import CLinuxShim
import Glibc

/// What makes written data and new directory entries durable. A writer stages its work (writes a temporary file,
/// renames it into place) and then asks for a flush, which returns once what it names is on stable storage. The
/// writer makes nothing reachable from it before that (write → flush → rename → flush the directory → next step).
public protocol Durability: Sendable {
    /// Returns once the data of `files` (open descriptors) and the entries of `directories` are durable.
    func flush(files: [Int32], directories: [String]) throws(SystemError)
}

/// One `fsync` per file and directory, in the caller's thread.
public struct ImmediateDurability: Durability {
    public init() {}

    public func flush(files: [Int32], directories: [String]) throws(SystemError) {
        for fd in files where fsync(fd) != 0 { throw SystemError("fsync", errno: errno) }
        for directory in directories { try FileSystem.syncDirectory(directory) }
    }
}

extension FileSystem {
    /// `fsync` per file and directory, at once: for writers outside a store's group commit.
    public static let immediate: any Durability = ImmediateDurability()

    /// Creates `path` and any missing parents (0755) without syncing anything.
    /// - Returns: the directories that gained an entry (each new directory's parent), for the caller's flush.
    public static func createDirectories(_ path: String) throws(SystemError) -> [String] {
        try createDirectories(path, mode: 0o755)
    }

    /// Creates `path` and any missing parents with `mode` without syncing anything.
    /// - Returns: the directories that gained an entry (each new directory's parent), for the caller's flush.
    public static func createDirectories(_ path: String, mode: mode_t) throws(SystemError) -> [String] {
        if isDirectory(path) { return [] }
        var missing: [String] = []
        var current = path
        while !current.isEmpty && current != "/" && !isDirectory(current) {
            missing.append(current)
            guard let slash = current.lastIndex(of: "/") else { break }
            current = String(current[..<slash])
        }
        var changed: [String] = []
        for dir in missing.reversed() {
            // EEXIST: made meanwhile by another writer, whose flush of its parent may not have happened yet.
            if mkdir(dir, mode) != 0 && errno != EEXIST { throw SystemError("mkdir \(dir)", errno: errno) }
            changed.append(parent(of: dir))
        }
        return changed
    }

    /// A file written under a temporary name, to be flushed and then renamed into place (`install`).
    public struct StagedFile: Sendable {
        /// Open for writing until `install` or `discard`.
        public let fd: Int32
        public let temporaryPath: String
        public let destination: String

        /// Renames the file into place, creating missing parent folders, and closes it. Flush its data first.
        /// - Returns: the directories whose entries changed (the destination's parent, and the parents of folders
        ///   created): flush them before making the file reachable.
        public func install() throws(SystemError) -> [String] {
            close(fd)
            var changed = try createDirectories(parent(of: destination))
            if rename(temporaryPath, destination) != 0 {
                let e = errno
                unlink(temporaryPath)
                throw SystemError("rename \(temporaryPath) → \(destination)", errno: e)
            }
            changed.append(parent(of: destination))
            return changed
        }

        /// Closes and removes the temporary file (after a failure).
        public func discard() {
            close(fd)
            unlink(temporaryPath)
        }
    }

    /// Writes `bytes` to a new temporary file in `tmpDirectory` (on the destination's filesystem), not yet synced.
    public static func stage(_ bytes: [UInt8], for destination: String, tmpDirectory: String) throws(SystemError) -> StagedFile {
        let (fd, tmp) = try makeTemporaryFile(in: tmpDirectory)
        do throws(SystemError) {
            try writeAll(fd, bytes)
        } catch {
            close(fd)
            unlink(tmp)
            throw error
        }
        return StagedFile(fd: fd, temporaryPath: tmp, destination: destination)
    }

    /// Replaces `path` with `bytes` atomically and durably: a reader sees the old content or the new, never a mix,
    /// and a crash leaves one of them. Two flushes: the data before the rename, the directory after it.
    public static func writeAtomically(_ bytes: [UInt8], to path: String, tmpDirectory: String,
                                       durability: any Durability) throws(SystemError) {
        let staged = try stage(bytes, for: path, tmpDirectory: tmpDirectory)
        do throws(SystemError) {
            try durability.flush(files: [staged.fd], directories: [])
        } catch {
            staged.discard()
            throw error
        }
        try durability.flush(files: [], directories: try staged.install())
    }

    /// Creates an empty marker file (a link) if missing, durably: one flush for it and any folder created for it.
    public static func touch(_ path: String, durability: any Durability) throws(SystemError) {
        if exists(path) { return }
        var changed = try createDirectories(parent(of: path))
        let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SystemError("open \(path)", errno: errno) }
        close(fd)
        changed.append(parent(of: path))
        try durability.flush(files: [], directories: changed)
    }
}
