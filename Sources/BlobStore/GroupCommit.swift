import CLinuxShim
import Glibc
import Synchronization
import SystemIO

/// Durability shared by concurrent writers, as databases commit a group of transactions with one log flush: a
/// writer that needs its data or directory entries durable takes a ticket and waits; one of the waiting writers
/// (the leader) flushes the whole filesystem once with `syncfs`, which covers every ticket taken before it started,
/// and wakes them all. Writers arriving during a flush are covered by the next one, which one of them leads.
///
/// Why: each step of a push ends in a flush (a journal commit, ≈ 1–3 ms on this machine's disk), and an `fsync`
/// per file and directory serialises those commits; with a shared flush, eight concurrent manifest pushes cost
/// about one commit per step instead of eight. Each writer still waits for its own flush before it makes the
/// flushed data reachable, so every crash-safety guarantee is kept.
///
/// `syncfs` flushes everything dirty on the filesystem, not only the store's files: the upload writer starts the
/// write-back of large blobs as they arrive (`UploadWriter`), so little else is dirty. When the store's folders
/// are on several filesystems, `syncfs` on the root would not cover them all, and each flush is an `fsync` per
/// file and directory instead (`ImmediateDurability`). Since Linux 5.8, `syncfs` reports write-back errors
/// (`EIO`); each writer of the failed group gets the error.
public final class GroupCommit: Durability, @unchecked Sendable {
    /// Guards the fields below (a pthread mutex, for its condition variable).
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let changed = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    /// The last ticket taken: a writer takes one after its writes.
    private var issued: UInt64 = 0
    /// Every ticket up to this one is durable (or failed, see `failures`).
    private var completed: UInt64 = 0
    private var flushing = false
    /// Recent groups whose flush failed: tickets after `from` up to `through`, and the error.
    private var failures: [(from: UInt64, through: UInt64, error: SystemError)] = []
    /// The store's root, open for `syncfs` (or, with `syncingFile`, one file, for `fdatasync`); -1 when each flush
    /// is done file by file.
    private let rootFD: Int32
    /// Whether `rootFD` is a file whose data a flush covers (`init(syncing:)`), not a filesystem.
    private let syncingFile: Bool
    /// The folders writers flush in (see `syncEverything`).
    private let folders: [String]
    private var flushCount: UInt64 = 0

    /// - Parameters:
    ///   - root: the folder whose filesystem is flushed.
    ///   - folders: the folders that writers flush files and entries in; all must be on `root`'s filesystem for a
    ///     shared flush, else each flush is done file by file.
    public init(root: String, folders: [String]) throws(SystemError) {
        let fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("open \(root)", errno: errno) }
        var rootStat = stat()
        guard fstat(fd, &rootStat) == 0 else {
            let e = errno
            close(fd)
            throw SystemError("fstat \(root)", errno: e)
        }
        let shared = folders.allSatisfy { folder in
            var st = stat()
            return stat(folder, &st) == 0 && st.st_dev == rootStat.st_dev
        }
        if shared {
            rootFD = fd
        } else {
            close(fd)
            rootFD = -1
        }
        syncingFile = false
        self.folders = folders
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(changed, nil)
    }

    /// Flushes of one file's data (`fdatasync`), shared by the writers that appended to it (`MetadataJournal`):
    /// `flush(files:directories:)` then covers that file whatever it is given.
    /// - Parameter fd: the file, duplicated (the caller keeps its own descriptor).
    public init(syncing fd: Int32) throws(SystemError) {
        let copy = fcntl(fd, F_DUPFD_CLOEXEC, 0)
        guard copy >= 0 else { throw SystemError("dup", errno: errno) }
        rootFD = copy
        syncingFile = true
        folders = []
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(changed, nil)
    }

    /// Makes everything written on the folders' filesystems durable now, without a ticket (a checkpoint of
    /// `MetadataJournal`): one `syncfs` of the root, or one per folder when they are on several filesystems.
    public func syncEverything() throws(SystemError) {
        if syncingFile {
            guard fdatasync(rootFD) == 0 else { throw SystemError("fdatasync", errno: errno) }
            return
        }
        if rootFD >= 0 {
            guard swshim_syncfs(rootFD) == 0 else { throw SystemError("syncfs", errno: errno) }
            return
        }
        for folder in folders {
            let fd = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard fd >= 0 else { throw SystemError("open \(folder)", errno: errno) }
            defer { close(fd) }
            guard swshim_syncfs(fd) == 0 else { throw SystemError("syncfs \(folder)", errno: errno) }
        }
    }

    deinit {
        if rootFD >= 0 { close(rootFD) }
        pthread_cond_destroy(changed)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        changed.deallocate()
    }

    /// Shared flushes done (for tests).
    public var flushes: UInt64 {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return flushCount
    }

    /// Whether flushes are shared (`syncfs`), rather than an `fsync` per file and directory.
    public var isShared: Bool { rootFD >= 0 }

    /// Returns once the data of `files` and the entries of `directories`, written before the call, are durable.
    public func flush(files: [Int32], directories: [String]) throws(SystemError) {
        if files.isEmpty && directories.isEmpty { return }
        guard rootFD >= 0 else {
            try ImmediateDurability().flush(files: files, directories: directories)
            return
        }
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        issued += 1
        let ticket = issued
        while completed < ticket {
            if flushing {
                pthread_cond_wait(changed, mutex)
                continue
            }
            // Lead a group: every ticket taken so far had its writes done before this flush starts.
            flushing = true
            let from = completed, through = issued
            pthread_mutex_unlock(mutex)
            let result = syncingFile ? fdatasync(rootFD) : swshim_syncfs(rootFD)
            let failure = result == 0 ? nil : SystemError(syncingFile ? "fdatasync" : "syncfs", errno: errno)
            pthread_mutex_lock(mutex)
            flushing = false
            completed = through
            flushCount += 1
            if let failure {
                failures.append((from, through, failure))
                if failures.count > 64 { failures.removeFirst() }
            }
            pthread_cond_broadcast(changed)
        }
        if let failed = failures.last(where: { $0.from < ticket && ticket <= $0.through }) { throw failed.error }
    }
}

/// Paths renamed into place whose directory flush has not returned yet. A writer that finds such a path already
/// present (and so skips writing it) flushes its directory all the same before making it reachable: it may have
/// been renamed by a concurrent writer a moment before, and not be durable yet.
final class UnflushedPaths: Sendable {
    private let counts = Mutex<[String: Int]>([:])

    func insert(_ path: String) {
        counts.withLock { $0[path, default: 0] += 1 }
    }

    func remove(_ path: String) {
        counts.withLock { counts in
            if let n = counts[path] { counts[path] = n > 1 ? n - 1 : nil }
        }
    }

    func contains(_ path: String) -> Bool {
        counts.withLock { $0[path] != nil }
    }

    var isEmpty: Bool { counts.withLock { $0.isEmpty } }
}
