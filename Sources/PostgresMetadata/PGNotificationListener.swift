import CLinuxShim
import Glibc
import Logging
import Synchronization
import SystemIO

/// One dedicated connection `LISTEN`ing on a channel, on its own thread, handing each notification's payload to a
/// callback.
///
/// No notification may be missed silently: while the connection is down, notifications sent by others are lost,
/// so the listener calls `onLost` as soon as it notices a loss (the user drops what it cached on the strength of
/// notifications), reconnects with exponential backoff (`minimumBackoff` doubling up to `maximumBackoff`), and
/// calls `onListening` once `LISTEN` is in force again (the user drops what it cached while the listener was down:
/// those entries may have missed a notification too). A connection that dies without a FIN is noticed by TCP
/// keepalives and `tcp_user_timeout`, and by a `SELECT 1` after `heartbeat` without traffic.
///
/// Callbacks run on the listener's thread, one at a time; they should be quick (bump a counter, drop a cache).
public final class PGNotificationListener: Sendable {
    public struct Callbacks: Sendable {
        public var onNotification: @Sendable (String) -> Void
        public var onLost: @Sendable (PGError) -> Void
        public var onListening: @Sendable () -> Void

        public init(onNotification: @escaping @Sendable (String) -> Void,
                    onLost: @escaping @Sendable (PGError) -> Void = { _ in },
                    onListening: @escaping @Sendable () -> Void = {}) {
            self.onNotification = onNotification
            self.onLost = onLost
            self.onListening = onListening
        }
    }

    public let channel: String
    private let settings: PGConnectionSettings
    private let callbacks: Callbacks
    private let logger: Logger
    private let minimumBackoff: Duration
    private let maximumBackoff: Duration
    private let heartbeat: Duration
    private let wakeup: Int32
    private let state = Mutex(State())

    private struct State {
        var stopping = false
        var listening = false
        var thread: pthread_t?
        var backendPID: Int32 = 0
    }

    /// Starts the listener thread. It connects in the background: `isListening` turns true (and `onListening` is
    /// called) once `LISTEN` is in force.
    public init(settings: PGConnectionSettings, channel: String, callbacks: Callbacks,
                minimumBackoff: Duration = .milliseconds(100), maximumBackoff: Duration = .seconds(5),
                heartbeat: Duration = .seconds(10), logger: Logger = Logger(label: "swregistry.postgres.listen")) {
        self.settings = settings
        self.channel = channel
        self.callbacks = callbacks
        self.minimumBackoff = minimumBackoff
        self.maximumBackoff = maximumBackoff
        self.heartbeat = heartbeat
        self.logger = logger
        // An eventfd wakes the poll when `stop` is called.
        wakeup = swshim_eventfd()
        precondition(wakeup >= 0, "eventfd: errno \(errno)")
        let thread = Thread.start(name: "swr-pg-listen") { [self] in run() }
        state.withLock { $0.thread = thread }
    }

    deinit {
        close(wakeup)
    }

    /// True while `LISTEN` is in force on a live connection.
    public var isListening: Bool { state.withLock { $0.listening } }

    /// The listening session's server process id, 0 when not connected (tests terminate it to simulate a loss).
    public var backendPID: Int32 { state.withLock { $0.listening ? $0.backendPID : 0 } }

    /// Stops the thread and closes the connection; no callback runs after this returns.
    public func stop() {
        let thread: pthread_t? = state.withLock { state in
            state.stopping = true
            defer { state.thread = nil }
            return state.thread
        }
        var one: UInt64 = 1
        _ = write(wakeup, &one, 8)
        if let thread { pthread_join(thread, nil) }
    }

    private var stopping: Bool { state.withLock { $0.stopping } }

    private func run() {
        var backoff = minimumBackoff
        var everListened = false
        while !stopping {
            do throws(PGError) {
                let connection = try PGConnection(settings: settings)
                try connection.query("LISTEN \(try connection.quotedIdentifier(channel))")
                state.withLock {
                    $0.listening = true
                    $0.backendPID = connection.backendPID
                }
                if everListened { logger.info("listening again", metadata: ["postgres.channel": "\(channel)"]) }
                everListened = true
                backoff = minimumBackoff
                callbacks.onListening()
                try receive(on: connection)
                return  // stopped
            } catch {
                let wasListening = state.withLock { state in
                    defer { state.listening = false }
                    return state.listening
                }
                if stopping { return }
                if wasListening {
                    logger.warning("notification connection lost: \(error)", metadata: ["postgres.channel": "\(channel)"])
                }
                // Also when the first connection never came up: until it does, nothing is being listened to.
                callbacks.onLost(error)
                sleepOrStop(backoff)
                backoff = min(backoff * 2, maximumBackoff)
            }
        }
    }

    /// Waits on the socket and the wakeup; hands out notifications; heartbeats when idle.
    private func receive(on connection: PGConnection) throws(PGError) {
        var lastTraffic = ContinuousClock.now
        while true {
            var descriptors = [
                pollfd(fd: connection.socket, events: Int16(POLLIN), revents: 0),
                pollfd(fd: wakeup, events: Int16(POLLIN), revents: 0),
            ]
            let timeout = Int32(PGConnectionSettings.milliseconds(heartbeat))
            let ready = poll(&descriptors, 2, timeout)
            if stopping { return }
            if ready < 0 && errno != EINTR {
                throw PGError(.connection, message: "poll: errno \(errno)")
            }
            if descriptors[0].revents != 0 {
                try connection.consumeInput()
                lastTraffic = .now
            } else if ContinuousClock.now - lastTraffic >= heartbeat {
                // A round trip proves the session alive; notifications that arrive meanwhile wait in libpq's queue.
                // Answered within one more heartbeat, else the session is given up (and the generation moved): a
                // server that stopped answering behind a path that still acknowledges (no TCP timeout fires) is
                // noticed within two heartbeats, not a statement timeout (bench/staleness.py measured 45 s).
                try connection.query("SELECT 1", answerWithin: heartbeat)
                lastTraffic = .now
            }
            while let notification = connection.nextNotification() {
                callbacks.onNotification(notification.payload)
            }
        }
    }

    private func sleepOrStop(_ duration: Duration) {
        var descriptor = pollfd(fd: wakeup, events: Int16(POLLIN), revents: 0)
        _ = poll(&descriptor, 1, Int32(PGConnectionSettings.milliseconds(duration)))
    }
}
