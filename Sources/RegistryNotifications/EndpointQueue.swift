import Glibc
import Logging
import Metrics
import SystemIO

/// One endpoint's queue and its delivery thread.
///
/// The notifier's writer thread appends events (after they are durable in `journal`) and makes delivered ones
/// durable; the delivery thread POSTs batches from the head, in order, one at a time, retrying the head batch
/// until the endpoint takes it. So events reach each endpoint in the order they were recorded (per repository
/// too), at least once.
final class EndpointQueue: @unchecked Sendable {
    let configuration: EndpointConfiguration
    /// The disk side; touched by the notifier's writer thread only.
    let journal: EventJournal
    private let maxEvents: Int
    private let logger: Logger
    /// Called after a delivery, so that the writer thread makes it durable.
    private let delivered: @Sendable () -> Void

    private let condition = Condition()
    // Guarded by `condition`:
    /// Events not yet delivered, oldest first, from `pending[start]`.
    private var pending: [QueuedEvent] = []
    private var start = 0
    /// Every event before this one is delivered or dropped.
    private var head: UInt64
    private var stopping = false
    /// When the last line about dropped events was logged, and how many were dropped since.
    private var lastDropLog: UInt64 = 0
    private var droppedSinceLog = 0

    private let sent: Counter
    private let failed: Counter
    private let dropped: Counter
    private let length: Gauge

    /// Events in one POST at most.
    static let maxBatch = 100

    init(configuration: EndpointConfiguration, journal: EventJournal, maxEvents: Int, logger: Logger,
         delivered: @escaping @Sendable () -> Void) {
        self.configuration = configuration
        self.journal = journal
        self.maxEvents = maxEvents
        self.logger = logger
        self.delivered = delivered
        let dimensions = [("endpoint", configuration.name)]
        sent = Counter(label: "swregistry_events_sent_total", dimensions: dimensions)
        failed = Counter(label: "swregistry_events_failed_total", dimensions: dimensions)
        dropped = Counter(label: "swregistry_events_dropped_total", dimensions: dimensions)
        length = Gauge(label: "swregistry_events_queue_length", dimensions: dimensions)
        head = journal.head
        if journal.unreadableAtStart > 0 {
            dropped.increment(by: journal.unreadableAtStart)
            logger.warning("events to \(configuration.name): dropped \(journal.unreadableAtStart) unreadable events found in the queue on disk")
        }
        enqueue(journal.takeRecovered())
    }

    /// Events waiting, for tests and logs.
    var count: Int { condition.withLock { pending.count - start } }

    /// The sequence number before which everything is delivered or dropped (what the writer makes durable).
    var deliveredHead: UInt64 { condition.withLock { head } }

    /// Queues events (already numbered by the journal); past `maxEvents` the oldest are dropped.
    func enqueue(_ events: [QueuedEvent]) {
        guard !events.isEmpty else { return }
        let (drops, waiting) = condition.withLock { () -> (Int, Int) in
            pending += events
            var drops = 0
            let excess = pending.count - start - maxEvents
            if excess > 0 {
                start += excess
                drops = excess
                head = max(head, pending[start - 1].sequence + 1)
            }
            compact()
            condition.broadcast()
            return (drops, pending.count - start)
        }
        length.record(waiting)
        if drops > 0 { countDropped(drops) }
    }

    /// Counts events dropped before they reached this queue (or from it); logs at most once a minute, with the
    /// number dropped since the last line.
    func countDropped(_ drops: Int) {
        dropped.increment(by: drops)
        let now = Condition.nowNanos()
        let report = condition.withLock { () -> Int? in
            droppedSinceLog += drops
            guard now >= lastDropLog + 60_000_000_000 || lastDropLog == 0 else { return nil }
            lastDropLog = now
            defer { droppedSinceLog = 0 }
            return droppedSinceLog
        }
        if let report {
            logger.warning("events to \(configuration.name): queue full (\(maxEvents) events), dropped the oldest \(report)")
        }
    }

    /// Starts the delivery thread.
    func start(poster: EventPoster) -> pthread_t {
        Thread.start(name: "swr-events") { [self] in deliver(with: poster) }
    }

    /// Ends the delivery thread after its current attempt (which takes at most the endpoint's timeout).
    func stop() {
        condition.withLock {
            stopping = true
            condition.broadcast()
        }
    }

    private func deliver(with poster: EventPoster) {
        var failures = 0
        while true {
            let batch = condition.withLock { () -> [QueuedEvent]? in
                while pending.count == start && !stopping { condition.wait() }
                if stopping { return nil }
                return Array(pending[start..<min(pending.count, start + Self.maxBatch)])
            }
            guard let batch, let last = batch.last else { return }
            switch poster.post(EventEnvelope.envelope(batch.map(\.json))) {
            case .delivered:
                if failures > 0 { logger.notice("events to \(configuration.name): delivering again after \(failures) failed attempts") }
                failures = 0
                let waiting = condition.withLock { () -> Int in
                    // Events the bound dropped meanwhile are past already.
                    head = max(head, last.sequence + 1)
                    while start < pending.count && pending[start].sequence < head { start += 1 }
                    compact()
                    return pending.count - start
                }
                sent.increment(by: batch.count)
                length.record(waiting)
                delivered()
            case .refused(let status):
                failures += 1
                failed.increment()
                report(failures, "\(poster.url) answered \(status)")
            case .failed(let reason):
                failures += 1
                failed.increment()
                report(failures, "POST \(poster.url): \(reason)")
            }
            let delay = configuration.delay(afterFailures: failures)
            if delay > 0 {
                // New events wake this thread too: the wait goes on until its deadline, so a down endpoint is not
                // hammered at the rate events come in.
                let deadline = Condition.nowNanos() + UInt64(delay * 1e9)
                condition.withLock {
                    while !stopping && Condition.nowNanos() < deadline { condition.wait(untilNanos: deadline) }
                }
            }
        }
    }

    /// Logs a failed attempt: the first of a run and then each time the wait doubles, not every retry.
    private func report(_ failures: Int, _ what: String) {
        let delay = configuration.delay(afterFailures: failures)
        guard failures == 1 || (failures >= configuration.threshold && delay < configuration.maxBackoff)
                || failures % 60 == 0 else { return }
        logger.warning("events to \(configuration.name): \(what) (attempt \(failures); \(count) events waiting, next try in \(delay)s)")
    }

    /// Drops the delivered prefix of `pending` once it is the larger part (amortised O(1) per event).
    private func compact() {
        if start > 256 && start * 2 > pending.count {
            pending.removeFirst(start)
            start = 0
        }
    }
}
