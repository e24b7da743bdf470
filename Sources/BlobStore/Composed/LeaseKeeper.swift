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
///
/// It also removes, again every second until it succeeds, the sessions whose removal failed when their commit or
/// cancel ended (`removeLater`): a metadata store that was unreachable at that moment would otherwise keep a
/// session whose data is gone, leased to a request that has ended — a client retrying after the store's return
/// got "another request is writing" (416) for the rest of the lease instead of 404 BLOB_UPLOAD_UNKNOWN, which tells
/// it to start again (found by Tests/e2e/faults_e2e.sh, PostgreSQL cut between S3's commit and the link).
final class LeaseKeeper: Sendable {
    private struct State {
        /// Held sessions → when their lease was last renewed (monotonic nanoseconds).
        var held: [UploadID: UInt64] = [:]
        /// Sessions to remove (see `removeLater`).
        var removals: Set<UploadID> = []
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
        startIfNeeded { $0.held[id] = now }
    }

    /// Removes the session from the metadata store within about a second, retrying until the store answers: for a
    /// session whose removal failed at the end of its commit (the data is gone) or cancel. No longer held.
    func removeLater(_ id: UploadID) {
        startIfNeeded { s in
            s.held.removeValue(forKey: id)
            s.removals.insert(id)
        }
    }

    /// Applies `change` to the state, then starts the thread if it is not running.
    private func startIfNeeded(_ change: (inout State) -> Void) {
        let start = state.withLock { s -> Bool in
            change(&s)
            guard !s.running, !s.stopped else { return false }
            s.running = true
            return true
        }
        if start {
            let thread = Thread.start(name: "swr-leases") { [self] in run() }
            pthread_detach(thread)
        }
    }

    /// The sessions still to remove (tests).
    var pendingRemovals: Set<UploadID> { state.withLock { $0.removals } }

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
            guard let work = state.withLock({ s -> (due: [UploadID], removals: Set<UploadID>)? in
                if s.stopped { return nil }
                return (s.held.filter { $0.value + interval <= now }.map(\.key), s.removals)
            }) else { return }
            let due = work.due, removals = work.removals
            for id in removals {
                do throws(StoreError) {
                    try metadata.removeUpload(id)
                    state.withLock { _ = $0.removals.remove(id) }
                    logger.info("upload \(id): session removed after its commit or cancel")
                } catch {
                    // Retried a second later: the store is still away.
                }
            }
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
