import Glibc
import SystemIO

/// Where a `LogWriter` puts its batches: called on the writer thread only, one call per batch.
public protocol LogSink: Sendable {
    func write(_ bytes: UnsafeRawBufferPointer)
}

/// Writes each batch to a descriptor (standard error for the server) with as few `write(2)` calls as the kernel
/// allows: one, unless it takes a batch in parts.
public struct FileDescriptorLogSink: LogSink {
    public let descriptor: Int32

    public init(descriptor: Int32) { self.descriptor = descriptor }

    public func write(_ bytes: UnsafeRawBufferPointer) {
        var offset = 0
        while offset < bytes.count {
            let written = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if written >= 0 {
                offset += written
            } else if errno == EINTR {
                continue
            } else if errno == EAGAIN {
                // A descriptor someone made non-blocking (a shared terminal or pipe): wait until it drains.
                var ready = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
                _ = poll(&ready, 1, 1000)
            } else {
                // EPIPE (nobody reads the log), EBADF, ENOSPC: there is nowhere to say so; the batch is lost.
                return
            }
        }
    }
}

/// The process's log output: lines are handed over from any thread (an event loop for the access log, any caller
/// of swift-log for the rest) by appending a small record to an in-memory queue under a lock, and one writer
/// thread formats them in batches and writes each batch with one `write(2)`. Both kinds of line go through this one
/// queue, so they keep the order they were logged in and never interleave mid-line.
///
/// Nothing on the logging side blocks on the destination: the writer wakes on the first line after an idle period
/// and then waits `batchDelay` for more to gather, so a busy server pays one wake-up and one write per batch, not
/// per line. The queue is bounded (`capacity` lines and `byteLimit` bytes of field text): when the destination
/// blocks (a stalled pipe, a full disk, a terminal scrolled back) and the queue is full, new lines are dropped and
/// counted — the server never waits for its log and its memory stays bounded. The writer reports each run of drops
/// with a warning line once it catches up, and through `onDrop` (the server counts them as
/// `swregistry_access_log_dropped_total`).
public final class LogWriter: @unchecked Sendable {
    public let format: LogFormat
    private let sink: any LogSink
    private let capacity: Int
    private let byteLimit: Int
    private let batchDelayNanos: Int
    private let onDrop: @Sendable (Int) -> Void

    // Guarded by `mutex`.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let work = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let done = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var queue: [LogEntry] = []
    private var spare: [LogEntry] = []
    private var queuedBytes = 0
    private var writerIdle = false
    private var flushRequested = false
    private var stopping = false
    /// Lines accepted so far, and lines written (or given up on) so far: a flush waits for the second to reach the
    /// first as it was when the flush began.
    private var accepted: UInt64 = 0
    private var finished: UInt64 = 0
    private var droppedSinceReport = 0
    private var droppedTotal = 0
    private var thread: pthread_t?

    /// Starts the writer thread.
    /// - Parameters:
    ///   - capacity: lines queued at most; beyond, new lines are dropped.
    ///   - byteLimit: bytes of variable field text (targets, user names, messages) queued at most.
    ///   - batchDelay: seconds the writer lets lines gather after it wakes.
    ///   - onDrop: told, on the writer thread, how many lines were dropped since it was last told.
    public init(sink: any LogSink, format: LogFormat = .text, capacity: Int = 65_536, byteLimit: Int = 16 << 20,
                batchDelay: Double = 0.01, onDrop: @escaping @Sendable (Int) -> Void = { _ in }) {
        self.sink = sink
        self.format = format
        self.capacity = max(1, capacity)
        self.byteLimit = max(1, byteLimit)
        self.batchDelayNanos = Int(batchDelay * 1e9)
        self.onDrop = onDrop
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(work, &attributes)
        pthread_cond_init(done, nil)
        pthread_condattr_destroy(&attributes)
        queue.reserveCapacity(1024)
        spare.reserveCapacity(1024)
        thread = Thread.start(name: "swr-log") { [self] in run() }
    }

    deinit {
        pthread_cond_destroy(work)
        pthread_cond_destroy(done)
        pthread_mutex_destroy(mutex)
        work.deallocate()
        done.deallocate()
        mutex.deallocate()
    }

    /// Lines dropped since the start because the queue was full.
    public var droppedCount: Int { locked { droppedTotal } }

    // MARK: - Logging side (any thread; never blocks on the destination)

    /// Queues a record of a finished exchange; it is formatted on the writer thread.
    func append(_ record: ExchangeRecord) {
        let size = record.target.utf8.count + record.peer.utf8.count + (record.context.user?.utf8.count ?? 0)
            + (record.context.repository?.utf8.count ?? 0) + (record.context.reference?.utf8.count ?? 0)
            + (record.note?.utf8.count ?? 0)
        enqueue(LogEntry(wallNanos: Self.wallNanos(), content: .exchange(record)), size: size)
    }

    /// Queues a log line (the swift-log handler's entry point).
    /// - Parameters:
    ///   - level: the level's name (`info`, `warning`, …).
    ///   - metadata: more fields, in this order, after the message; they are escaped like every value.
    public func log(level: String, message: String, metadata: [(String, String)] = []) {
        let size = message.utf8.count + metadata.reduce(0) { $0 + $1.0.utf8.count + $1.1.utf8.count }
        enqueue(LogEntry(wallNanos: Self.wallNanos(), content: .message(level: level, text: message,
                                                                        metadata: metadata)), size: size)
    }

    private func enqueue(_ entry: LogEntry, size: Int) {
        pthread_mutex_lock(mutex)
        guard !stopping, queue.count < capacity, queuedBytes + size <= byteLimit || queue.isEmpty else {
            droppedSinceReport += 1
            droppedTotal += 1
            pthread_mutex_unlock(mutex)
            return
        }
        queue.append(entry)
        queuedBytes += size
        accepted += 1
        // Wake the writer for the first line after it went idle, and early when the queue is half full; any other
        // line waits for the batch the writer is gathering (no wake-up per line).
        let wake = (writerIdle && queue.count == 1) || queue.count == capacity / 2
        pthread_mutex_unlock(mutex)
        if wake { pthread_cond_signal(work) }
    }

    // MARK: - Control

    /// Returns once every line queued before the call is written.
    public func flush() {
        pthread_mutex_lock(mutex)
        let target = accepted
        flushRequested = true
        pthread_cond_signal(work)
        while finished < target && thread != nil { pthread_cond_wait(done, mutex) }
        pthread_mutex_unlock(mutex)
    }

    /// Writes what is queued, stops the writer thread and drops any later line.
    public func stop() {
        pthread_mutex_lock(mutex)
        stopping = true
        let running = thread
        thread = nil
        pthread_cond_signal(work)
        pthread_mutex_unlock(mutex)
        if let running { pthread_join(running, nil) }
    }

    // MARK: - Writer thread

    private func run() {
        var builder = LogLineBuilder(format: format)
        pthread_mutex_lock(mutex)
        while true {
            while queue.isEmpty && !stopping && !flushRequested {
                writerIdle = true
                pthread_cond_wait(work, mutex)
                writerIdle = false
            }
            if queue.isEmpty && droppedSinceReport == 0 {
                flushRequested = false
                pthread_cond_broadcast(done)
                if stopping { break }
                continue
            }
            if !stopping && !flushRequested && queue.count < capacity / 2 && batchDelayNanos > 0 {
                // Let the batch grow; a flush, a stop or a half-full queue cuts the wait short.
                var deadline = timespec()
                clock_gettime(CLOCK_MONOTONIC, &deadline)
                let nanos = deadline.tv_nsec + batchDelayNanos
                deadline.tv_sec += nanos / 1_000_000_000
                deadline.tv_nsec = nanos % 1_000_000_000
                _ = pthread_cond_timedwait(work, mutex, &deadline)
            }
            var batch = spare
            swap(&batch, &queue)
            queuedBytes = 0
            let dropped = droppedSinceReport
            droppedSinceReport = 0
            pthread_mutex_unlock(mutex)

            if dropped > 0 {
                onDrop(dropped)
                builder.begin(wallNanos: Self.wallNanos(), level: "warning",
                              message: "log output too slow: \(dropped) lines dropped")
                builder.field("dropped", .int(Int64(dropped)))
                builder.end()
            }
            for entry in batch {
                entry.format(into: &builder)
                if builder.bytes.count >= 1 << 20 { emit(&builder) }
            }
            emit(&builder)

            let count = UInt64(batch.count)
            batch.removeAll(keepingCapacity: true)
            pthread_mutex_lock(mutex)
            spare = batch
            finished += count
            pthread_cond_broadcast(done)
        }
        pthread_mutex_unlock(mutex)
    }

    private func emit(_ builder: inout LogLineBuilder) {
        guard !builder.bytes.isEmpty else { return }
        builder.bytes.withUnsafeBytes { sink.write($0) }
        builder.bytes.removeAll(keepingCapacity: true)
    }

    private func locked<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body()
    }

    static func wallNanos() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }
}

/// One queued line: what it says, and when it was logged.
struct LogEntry {
    enum Content {
        case exchange(ExchangeRecord)
        case message(level: String, text: String, metadata: [(String, String)])
    }

    var wallNanos: Int64
    var content: Content

    func format(into builder: inout LogLineBuilder) {
        switch content {
        case .exchange(let record):
            AccessLog.format(record, wallNanos: wallNanos, into: &builder)
        case .message(let level, let text, let metadata):
            builder.begin(wallNanos: wallNanos, level: level, message: text)
            for (key, value) in metadata {
                // Our own three names stay ours (logrus prefixes a clashing field the same way).
                let name = key == "time" || key == "level" || key == "msg" ? "fields." + key : key
                builder.field(named: name, .string(value))
            }
            builder.end()
        }
    }
}
