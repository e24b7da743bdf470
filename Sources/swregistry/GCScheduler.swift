import BlobStore
import Glibc
import Logging
import StoreMaintenance
import SystemIO

/// Runs garbage collection inside the server every `gc.interval`, on a thread of its own (a collection blocks
/// for as long as it walks the store; the event loops and the blocking pool are not held up, and pushes wait at
/// most one batch of deletions for the reference lock). The first run comes one interval after start.
enum GCScheduler {
    /// Starts the schedule; nothing when `intervalSeconds` is 0.
    /// - Parameter setLinkRefresh: takes the age (seconds) past which a client's HEAD of a blob refreshes its link.
    static func start(store: any CollectableStore, setLinkRefresh: (Int) -> Void, options: GCOptions,
                      intervalSeconds: Double, logger: Logger) {
        // A HEAD on a blob touches a link older than a quarter of the grace period (see `linkedBlobSize`).
        setLinkRefresh(Int(options.graceSeconds / 4))
        guard intervalSeconds > 0 else {
            logger.info("gc: no scheduled collection (gc.interval is 0)")
            return
        }
        let output = LoggerOutput(logger: logger)
        Thread.start(name: "swr-gc") {
            while true {
                sleep(seconds: intervalSeconds)
                logger.info("gc: scheduled collection starting (grace \(options.graceSeconds) s)")
                let collector = GarbageCollector(store: store, options: options, output: output, logger: logger)
                // Failures are logged by the collector (and counted); the next interval tries again.
                _ = try? collector.run()
            }
        }
    }

    private static func sleep(seconds: Double) {
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - seconds.rounded(.down)) * 1e9))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }
}
