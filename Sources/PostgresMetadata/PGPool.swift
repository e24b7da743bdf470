import Glibc

/// A bounded pool of connections shared by the threads of the registry's blocking pool.
///
/// Sizes follow GitLab container registry's `database.pool.*`: at most `maxOpen` connections exist at once (busy
/// and idle); at most `maxIdle` wait idle for the next caller for long, the rest are closed once idle longer than
/// `surplusIdleTime` (closing them when given back, as Go's `database/sql` does, made a load of a few more
/// concurrent callers than `maxIdle` open and close a connection — a backend fork and a SCRAM exchange, milliseconds
/// of CPU on both sides — for nearly every statement: 23 connections in 3 s at 8 clients with `maxIdle` 4); a connection
/// older than `maxLifetime`, or idle longer than `maxIdleTime`, is closed instead of reused (so a pool follows a
/// failover or a PgBouncer restart). A caller waits at most `acquireTimeout` for a connection: when the database is
/// down, every caller gets an error within `acquireTimeout` + the connect timeout, never a hang.
///
/// A connection is checked before it is handed out (`PGConnection.checkIdle`: the server may have closed it while
/// idle) and a connection that broke during use, or that is still inside a transaction, is closed when given back.
public final class PGPool: @unchecked Sendable {
    public struct Limits: Sendable, Equatable {
        public var maxOpen: Int
        public var maxIdle: Int
        public var maxLifetime: Duration?
        public var maxIdleTime: Duration?
        public var acquireTimeout: Duration
        /// How long a connection beyond `maxIdle` may stay idle before it is closed.
        public var surplusIdleTime: Duration

        public init(maxOpen: Int = 16, maxIdle: Int = 8, maxLifetime: Duration? = .seconds(3600),
                    maxIdleTime: Duration? = .seconds(300), acquireTimeout: Duration = .seconds(10),
                    surplusIdleTime: Duration = .seconds(10)) {
            self.maxOpen = max(1, maxOpen)
            self.maxIdle = max(0, min(maxIdle, self.maxOpen))
            self.maxLifetime = maxLifetime
            self.maxIdleTime = maxIdleTime
            self.acquireTimeout = acquireTimeout
            self.surplusIdleTime = surplusIdleTime
        }
    }

    /// What the pool holds now (for metrics and tests).
    public struct Statistics: Sendable, Equatable {
        public var open: Int
        public var idle: Int
        public var waiting: Int

        public init(open: Int, idle: Int, waiting: Int) {
            self.open = open
            self.idle = idle
            self.waiting = waiting
        }
    }

    public let settings: PGConnectionSettings
    public let limits: Limits
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    private var idle: [PGConnection] = []
    private var open = 0
    private var waiting = 0
    private var closed = false

    public init(settings: PGConnectionSettings, limits: Limits = Limits()) {
        self.settings = settings
        self.limits = limits
        pthread_mutex_init(&mutex, nil)
        // Timed waits measure on the monotonic clock: a wall-clock step must not shorten or stretch them.
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(&condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(&condition)
        pthread_mutex_destroy(&mutex)
    }

    public var statistics: Statistics {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return Statistics(open: open, idle: idle.count, waiting: waiting)
    }

    /// Runs `body` with a connection of the pool, giving it back afterwards (or closing it if it broke).
    /// - Throws: `PGError` (`.poolTimeout`, `.connection`) when no connection could be had, or what `body` threw.
    public func withConnection<T>(_ body: (PGConnection) throws -> T) throws -> T {
        let connection = try acquire()
        defer { release(connection) }
        return try body(connection)
    }

    /// Runs `body` in a transaction on a pooled connection (see `PGConnection.transaction`), retried on 40001/40P01.
    @discardableResult
    public func transaction<T>(_ isolation: PGConnection.Isolation = .readCommitted,
                               _ body: (PGConnection) throws -> T) throws -> T {
        try withConnection { connection in try connection.transaction(isolation, body) }
    }

    /// Runs one statement on a pooled connection.
    @discardableResult
    public func query(_ sql: String, _ parameters: [PGValue] = []) throws -> PGResult {
        try withConnection { connection in try connection.query(sql, parameters) }
    }

    /// Reaches the database (`SELECT 1`): for readiness probes. - Throws: `PGError` when it cannot.
    public func check() throws {
        try withConnection { connection in _ = try connection.query("SELECT 1") }
    }

    /// Takes an idle connection, opens a new one while fewer than `maxOpen` exist, or waits for one to be released.
    /// - Parameter timeout: how long to wait for a busy pool; `limits.acquireTimeout` when nil.
    /// - Throws: `PGError(.poolTimeout)` after the timeout; `.connection` when opening failed.
    public func acquire(timeout: Duration? = nil) throws(PGError) -> PGConnection {
        let timeout = timeout ?? limits.acquireTimeout
        let deadline = Self.monotonicDeadline(after: timeout)
        pthread_mutex_lock(&mutex)
        while true {
            if closed {
                pthread_mutex_unlock(&mutex)
                throw PGError(.connection, message: "connection pool is closed")
            }
            if let connection = idle.popLast() {
                // Checked outside the lock: checkIdle reads the socket.
                pthread_mutex_unlock(&mutex)
                if isReusable(connection) { return connection }
                pthread_mutex_lock(&mutex)
                open -= 1
                continue
            }
            if open < limits.maxOpen {
                open += 1
                pthread_mutex_unlock(&mutex)
                do throws(PGError) {
                    return try PGConnection(settings: settings)
                } catch {
                    pthread_mutex_lock(&mutex)
                    open -= 1
                    pthread_cond_signal(&condition)
                    pthread_mutex_unlock(&mutex)
                    throw error
                }
            }
            waiting += 1
            var until = deadline
            let rc = pthread_cond_timedwait(&condition, &mutex, &until)
            waiting -= 1
            if rc == ETIMEDOUT && idle.isEmpty && (open >= limits.maxOpen || closed) {
                pthread_mutex_unlock(&mutex)
                throw PGError(.poolTimeout, message:
                    "no database connection free within \(timeout) (\(limits.maxOpen) open)")
            }
        }
    }

    /// Gives a connection back: kept idle when it is healthy, closed otherwise. Idle connections beyond `maxIdle`
    /// that have waited longer than `surplusIdleTime` are closed now: the bottom of the idle stack (callers take
    /// from its top), so a steady load keeps reusing the same connections and the surplus of a past burst goes.
    public func release(_ connection: PGConnection) {
        let now = ContinuousClock.now
        let keep = connection.isOK && connection.checkIdle() && !isExpired(connection, now: now)
        pthread_mutex_lock(&mutex)
        var toClose: [PGConnection] = []
        if keep && !closed && (limits.maxIdle > 0 || limits.surplusIdleTime > .zero) {
            connection.idleSince = now
            idle.append(connection)
        } else {
            open -= 1
            toClose.append(connection)
        }
        while idle.count > limits.maxIdle, let oldest = idle.first,
              limits.surplusIdleTime == .zero || now - oldest.idleSince > limits.surplusIdleTime {
            idle.removeFirst()
            open -= 1
            toClose.append(oldest)
        }
        pthread_cond_signal(&condition)
        pthread_mutex_unlock(&mutex)
        _ = toClose  // closed (PQfinish) here, outside the lock, when the last reference goes
    }

    /// Closes the idle connections and refuses new acquisitions; busy ones close when given back.
    public func close() {
        pthread_mutex_lock(&mutex)
        closed = true
        let dropped = idle
        open -= idle.count
        idle = []
        pthread_cond_broadcast(&condition)
        pthread_mutex_unlock(&mutex)
        _ = dropped
    }

    private func isReusable(_ connection: PGConnection) -> Bool {
        let now = ContinuousClock.now
        if isExpired(connection, now: now) { return false }
        if let maxIdleTime = limits.maxIdleTime, now - connection.idleSince > maxIdleTime { return false }
        return connection.checkIdle()
    }

    private func isExpired(_ connection: PGConnection, now: ContinuousClock.Instant) -> Bool {
        guard let maxLifetime = limits.maxLifetime else { return false }
        return now - connection.openedAt > maxLifetime
    }

    private static func monotonicDeadline(after duration: Duration) -> timespec {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let (seconds, attoseconds) = duration.components
        var nanoseconds = Int(now.tv_nsec) + Int(attoseconds / 1_000_000_000)
        var total = Int(now.tv_sec) + Int(seconds)
        total += nanoseconds / 1_000_000_000
        nanoseconds %= 1_000_000_000
        return timespec(tv_sec: total, tv_nsec: nanoseconds)
    }
}
