import Glibc

/// The store-wide reader-writer lock of garbage collection (see `GarbageCollector` in StoreMaintenance for the
/// protocol it serves): every mutation that makes something reachable holds it shared while it checks that the
/// things it refers to are present and touches them; the collector holds it exclusively while it deletes, in
/// short batches, and while it reads its clock.
///
/// Writer-preferring (`PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP`): glibc's default lets a steady stream of
/// pushes starve the collector forever. In exchange a holder must never take it shared twice on one thread (a
/// waiting writer would deadlock both): no method of the store that takes it calls another that does.
///
/// A class with a heap-allocated `pthread_rwlock_t`: the lock must not move once initialised, which a stored
/// property of a Swift value or class does not promise.
public final class ReferenceLock: @unchecked Sendable {
    private let lock: UnsafeMutablePointer<pthread_rwlock_t>

    public init() {
        lock = .allocate(capacity: 1)
        var attributes = pthread_rwlockattr_t()
        pthread_rwlockattr_init(&attributes)
        pthread_rwlockattr_setkind_np(&attributes, Int32(PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP))
        let status = pthread_rwlock_init(lock, &attributes)
        precondition(status == 0, "pthread_rwlock_init: \(status)")
        pthread_rwlockattr_destroy(&attributes)
    }

    deinit {
        pthread_rwlock_destroy(lock)
        lock.deallocate()
    }

    /// Runs `body` holding the lock shared (with other mutations).
    public func withShared<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        let status = pthread_rwlock_rdlock(lock)
        precondition(status == 0, "pthread_rwlock_rdlock: \(status)")
        defer { pthread_rwlock_unlock(lock) }
        return try body()
    }

    /// Runs `body` holding the lock exclusively (no mutation in progress).
    public func withExclusive<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        let status = pthread_rwlock_wrlock(lock)
        precondition(status == 0, "pthread_rwlock_wrlock: \(status)")
        defer { pthread_rwlock_unlock(lock) }
        return try body()
    }
}
