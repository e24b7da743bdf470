import Glibc
import SystemIO

/// A work directory `tmp/<random>/` owned by this process while `tmp/<random>.lock` is locked.
///
/// The lock file is created and locked *before* the directory and removed *after* it, so a directory without a
/// lock file, or whose lock file nobody holds, belongs to a dead process and can be swept.
final class WorkDirectory {
    let path: String
    private let lockPath: String
    private let lock: FileLock

    init(in tmpDirectory: String) throws {
        while true {
            let name = FileSystem.randomName()
            let lockPath = "\(tmpDirectory)/\(name).lock"
            let fd = open(lockPath, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            if fd < 0 {
                if errno == EEXIST { continue }
                throw SystemError("open \(lockPath)", errno: errno)
            }
            close(fd)
            guard let lock = try FileLock.acquire(lockPath, exclusive: true, wait: false),
                  Self.stillLinked(lockPath)
            else {
                // A sweeper took the fresh lock file for a leftover in the instant before we locked it.
                continue
            }
            let path = "\(tmpDirectory)/\(name)"
            if mkdir(path, 0o700) != 0 { throw SystemError("mkdir \(path)", errno: errno) }
            self.path = path
            self.lockPath = lockPath
            self.lock = lock
            return
        }
    }

    /// Whether the lock file we hold still has its name (a sweeper unlinks the names of the locks it wins).
    private static func stillLinked(_ path: String) -> Bool { CacheFiles.exists(path) }

    /// Removes the directory, then its lock file, then releases the lock.
    func remove() {
        try? CacheFiles.removeTree(path)
        unlink(lockPath)
        lock.unlock()
    }
}

extension CacheStore {
    /// Removes work directories and lock files in `tmp/` whose owner is gone.
    /// - Returns: The paths removed (or that would be, for a dry run).
    func sweepWorkDirectories(dryRun: Bool) throws -> [String] {
        let tmp = layout.tmpDirectory
        var removed: [String] = []
        for name in try FileSystem.list(tmp) {
            let path = "\(tmp)/\(name)"
            if name.hasSuffix(".lock") {
                let directory = String(path.dropLast(5))
                guard let lock = try FileLock.acquire(path, exclusive: true, wait: false) else { continue }
                if CacheFiles.exists(directory) { removed.append(directory) }
                removed.append(path)
                if !dryRun {
                    try? CacheFiles.removeTree(directory)
                    unlink(path)
                }
                lock.unlock()
            } else if CacheFiles.exists(path) && !CacheFiles.exists("\(path).lock") {
                removed.append(path)
                if !dryRun { try? CacheFiles.removeTree(path) }
            }
        }
        return removed
    }
}
