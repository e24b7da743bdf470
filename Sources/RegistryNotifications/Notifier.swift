import Glibc
import Logging
import Metrics
import Registry
import SystemIO

/// Delivers the registry's events to the configured endpoints, in distribution's envelope, through queues on
/// disk.
///
/// - `record` (on an event loop) only appends the event to an in-memory inbox and wakes the writer thread: it
///   never waits for a disk or a network.
/// - The writer thread takes the inbox in batches, gives each event its ids, encodes it once, filters it per
///   endpoint (`EndpointConfiguration.accepts`), appends it to each endpoint's journal (one `fdatasync` per batch
///   and endpoint), and only then hands it to that endpoint's delivery thread. It also makes deliveries durable
///   (the journal's head).
/// - Each endpoint's delivery thread POSTs batches in order and retries the head batch with backoff until it
///   gets a 2xx (see `EndpointQueue`).
///
/// Guarantees: within `NotificationQueueSettings.maxEvents` per endpoint nothing is lost while an endpoint is
/// down or across a restart (the queue resumes from disk); past it the oldest events are dropped and counted in
/// `swregistry_events_dropped_total`. Delivery is at least once: a crash after a POST succeeded and before its
/// dequeue is durable sends those events again, with the same ids, so a receiver can drop repeats. Events that
/// `record` accepted are lost only if the process dies before the writer's next `fdatasync` (its batch window);
/// a graceful stop (`stop`) writes them all first.
public final class Notifier: RegistryEventSink, @unchecked Sendable {
    public let settings: NotificationQueueSettings
    /// Set by `start`, before the writer thread (the only reader) exists.
    public private(set) var source = EventSource(addr: "")
    private let logger: Logger
    let queues: [EndpointQueue]
    private let state = WriterState()
    private var writer: pthread_t?
    private var senders: [pthread_t] = []
    private let queued = Counter(label: "swregistry_events_queued_total")
    /// The events' ids; used by the writer thread only.
    private var ids = IDGenerator()

    /// Events held in memory before the writer thread takes them; past this (a disk that hangs) the oldest are
    /// dropped, so that `record` never waits and memory stays bounded.
    var maxInbox: Int { max(settings.maxEvents, 1000) }

    /// Opens (creating, 0700) the queue of every enabled endpoint, with what a previous run left in it; nothing
    /// is sent before `start`.
    /// - Throws: `SystemError` when a queue folder cannot be made or read.
    public init(endpoints: [EndpointConfiguration], settings: NotificationQueueSettings,
                logger: Logger = Logger(label: "swregistry.events")) throws(SystemError) {
        self.settings = settings
        self.logger = logger
        try FileSystem.makePrivateDirectory(settings.directory)
        var queues: [EndpointQueue] = []
        let state = state
        for endpoint in endpoints where !endpoint.disabled {
            let journal = try EventJournal(directory: settings.directory + "/" + endpoint.name)
            queues.append(EndpointQueue(configuration: endpoint, journal: journal, maxEvents: settings.maxEvents,
                                        logger: logger, delivered: { state.wake { $0.deliveriesToPersist = true } }))
        }
        self.queues = queues
    }

    /// Starts the writer and one delivery thread per endpoint. Events recorded before wait in memory.
    /// - Parameter source: the node as events name it (known once the server listens).
    public func start(source: EventSource) {
        precondition(writer == nil, "started twice")
        self.source = source
        for queue in queues {
            logger.info("events: endpoint \(queue.configuration.name) (\(queue.configuration.redactedURL)), \(queue.count) events queued from before")
            senders.append(queue.start(poster: EventPoster(queue.configuration)))
        }
        writer = Thread.start(name: "swr-events-disk") { [self] in write() }
    }

    /// Stops delivering (an attempt in flight ends within its endpoint's timeout) and writes every event recorded
    /// so far to its queues, where the next start resumes.
    public func stop() {
        for queue in queues { queue.stop() }
        for sender in senders { pthread_join(sender, nil) }
        senders = []
        state.wake { $0.stopping = true }
        if let writer { pthread_join(writer, nil) }
        writer = nil
    }

    public func record(_ event: RegistryEvent) {
        var dropped = 0
        state.condition.withLock {
            guard !state.stopped else { return }
            state.inbox.append(event)
            if state.inbox.count > maxInbox {
                dropped = state.inbox.count - maxInbox
                state.inbox.removeFirst(dropped)
            }
            // Only a waiting writer needs the wake-up (a busy one takes the inbox when it is done): no system call
            // on the event loop while events come faster than the writer's fsyncs.
            if state.writerWaiting { state.condition.broadcast() }
        }
        if dropped > 0 { for queue in queues { queue.countDropped(dropped) } }
    }

    /// Deliveries are made durable at most this often (a `head` file is two fsyncs): more often would cost a disk
    /// flush per POST, less often more events sent again after a crash.
    static let persistInterval: UInt64 = 200_000_000

    /// The writer thread: inbox → ids and JSON → each endpoint's journal → its delivery thread; and deliveries
    /// → the journals' heads.
    private func write() {
        var nextPersist: UInt64 = 0
        while true {
            let (events, persist, stopping) = state.condition.withLock { () -> ([RegistryEvent], Bool, Bool) in
                while state.inbox.isEmpty && !state.stopping
                        && !(state.deliveriesToPersist && Condition.nowNanos() >= nextPersist) {
                    state.writerWaiting = true
                    if state.deliveriesToPersist {
                        state.condition.wait(untilNanos: nextPersist)
                    } else {
                        state.condition.wait()
                    }
                    state.writerWaiting = false
                }
                let persist = state.stopping || (state.deliveriesToPersist && Condition.nowNanos() >= nextPersist)
                if persist { state.deliveriesToPersist = false }
                let taken = (state.inbox, persist, state.stopping)
                state.inbox = []
                if state.stopping { state.stopped = true }
                return taken
            }
            if !events.isEmpty { append(events) }
            if persist {
                persistDeliveries()
                nextPersist = Condition.nowNanos() + Self.persistInterval
            }
            if stopping { return }
        }
    }

    private func append(_ events: [RegistryEvent]) {
        let encoded = events.map { event in
            (event, EventEnvelope.encode(event, id: EventEnvelope.makeUUID(using: &ids),
                                         requestID: EventEnvelope.makeUUID(using: &ids), source: source))
        }
        for queue in queues {
            let accepted = encoded.filter { queue.configuration.accepts($0.0) }.map(\.1)
            guard !accepted.isEmpty else { continue }
            let (numbered, error) = queue.journal.append(accepted)
            if let error {
                logger.error("events to \(queue.configuration.name): cannot write the queue under \(queue.journal.directory): \(error); \(accepted.count) events are kept in memory only")
            }
            queued.increment(by: numbered.count)
            queue.enqueue(numbered)
        }
    }

    private func persistDeliveries() {
        for queue in queues {
            do throws(SystemError) {
                try queue.journal.advanceHead(to: queue.deliveredHead)
            } catch {
                logger.error("events to \(queue.configuration.name): cannot record deliveries under \(queue.journal.directory): \(error) (they may be sent again after a restart)")
            }
        }
    }
}

/// What `record`, the delivery threads and the writer thread share.
final class WriterState: @unchecked Sendable {
    let condition = Condition()
    // Guarded by `condition`:
    var inbox: [RegistryEvent] = []
    var deliveriesToPersist = false
    var stopping = false
    /// The writer waits for the condition (and so needs a broadcast to wake).
    var writerWaiting = false
    /// The writer took its last batch: later events are refused (the process is exiting).
    var stopped = false

    /// Changes the state under the lock and wakes the writer.
    func wake(_ change: (WriterState) -> Void) {
        condition.withLock {
            change(self)
            condition.broadcast()
        }
    }
}
