import Glibc
import Logging
import OCIModel
import Synchronization
import SystemIO

/// Renews the leases of the upload sessions this process's requests hold, every third of the lease, from a
/// thread of its own (a renewal is a blocking call to the metadata store: not for an event loop, and not worth
/// a pool thread's wait). A request holds its lease from `startUpload`/`acquireUpload` to its release, commit or
/// cancel — while it streams its body and while the commit runs, however long they take; a replica that dies
/// stops renewing, and the lease lapses.
final class LeaseKeeper: Sendable {
    private struct State {
        /// Held sessions → when their lease was last renewed (monotonic nanoseconds).
        var held: [UploadID: UInt64] = [:]
        var running = false
        var stopped = false
    }

    private let metadata: any MetadataStore
    private let leaseSeconds: Int
    private let logger: Logger
    private let state = Mutex(State())

    init(metadata: any MetadataStore, leaseSeconds: Int, logger: Logger) {
        self.metadata = metadata
        self.leaseSeconds = leaseSeconds
        self.logger = logger
    }

    /// Nanoseconds between renewals of one lease.
    private var interval: UInt64 { UInt64(max(leaseSeconds / 3, 1)) * 1_000_000_000 }

    /// Starts renewing the lease just taken; the thread starts with the first one.
    func hold(_ id: UploadID) {
        let now = Self.monotonicNow()
        let start = state.withLock { s -> Bool in
            s.held[id] = now
            guard !s.running, !s.stopped else { return false }
            s.running = true
            return true
        }
        if start {
            let thread = Thread.start(name: "swr-leases") { [self] in run() }
            pthread_detach(thread)
        }
    }

    func release(_ id: UploadID) {
        state.withLock { _ = $0.held.removeValue(forKey: id) }
    }

    /// Ends the thread (within a second); called when the storage goes.
    func stop() {
        state.withLock { $0.stopped = true }
    }

    private func run() {
        while true {
            var pause = timespec(tv_sec: 1, tv_nsec: 0)
            nanosleep(&pause, nil)
            let now = Self.monotonicNow()
            let interval = interval
            guard let due = state.withLock({ s -> [UploadID]? in
                if s.stopped { return nil }
                return s.held.filter { $0.value + interval <= now }.map(\.key)
            }) else { return }
            for id in due {
                do throws(StoreError) {
                    try metadata.renewUpload(id, leaseSeconds: leaseSeconds)
                    // Still held (not released while renewing): next renewal an interval from now.
                    state.withLock { s in if s.held[id] != nil { s.held[id] = now } }
                } catch {
                    logger.warning("upload \(id): lease not renewed: \(error)")
                    // A session that is gone has no lease to keep; other failures are retried a second later.
                    if case .uploadUnknown = error { release(id) }
                }
            }
        }
    }

    private static func monotonicNow() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }
}
