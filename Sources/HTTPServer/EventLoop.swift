import Glibc
import Logging
import Synchronization
import SystemIO

/// One thread with one epoll instance, owning a listener and the connections it accepted.
///
/// The loop is also the task executor of the handlers it starts: a handler task prefers this loop, so its code
/// and every resumption after an `await` run here, between I/O events, with no thread hop. State of a connection
/// is touched only on its loop, which is what makes the `@unchecked Sendable` of `Connection` sound.
public final class EventLoop: TaskExecutor, @unchecked Sendable {
    private enum Work {
        case job(UnownedJob)
        case closure(@Sendable () -> Void)
    }

    let index: Int
    let server: ServerContext
    let epoll: Epoll
    private var listener: FileDescriptor?
    private let pending = Mutex<[Work]>([])
    private var threadID: pthread_t?
    private let readBuffer: UnsafeMutableRawBufferPointer
    private var connections: [Connection?] = []
    private var generation: UInt32 = 0
    private(set) var connectionCount = 0
    private var stopping = false
    /// The loop has left `run()`: connections handed to it now are closed.
    private var finished = false
    private var shutdownDeadline: UInt64 = 0
    private var interestDirty: [Connection] = []
    /// Connections over the limit, answered 503 and closing.
    private lazy var overload = OverloadRejecter(configuration: server.configuration, logger: server.logger)
    private var nextSweep: UInt64 = 0
    /// The time of the current iteration, monotonic nanoseconds.
    private(set) var now: UInt64 = Clock.monotonicNanos()
    private var dateSecond = 0
    private(set) var dateHeader: [UInt8] = []

    private static let listenerToken: UInt64 = 1 << 63
    static let readBufferSize = 256 * 1024

    init(index: Int, server: ServerContext, listener: consuming FileDescriptor) throws(SystemError) {
        self.index = index
        self.server = server
        epoll = try Epoll()
        readBuffer = .allocate(byteCount: Self.readBufferSize, alignment: 16)
        try epoll.add(listener.rawValue, events: [.readable, .exclusive], token: Self.listenerToken)
        self.listener = .some(listener)
        refreshDate()
    }

    deinit {
        readBuffer.deallocate()
    }

    // MARK: - Executor

    public func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        pending.withLock { $0.append(.job(unowned)) }
        if !inLoop { epoll.wake() }
    }

    /// Runs `body` on this loop's thread, soon.
    public func execute(_ body: @escaping @Sendable () -> Void) {
        pending.withLock { $0.append(.closure(body)) }
        if !inLoop { epoll.wake() }
    }

    /// True on this loop's thread.
    public var inLoop: Bool {
        guard let threadID else { return false }
        return pthread_equal(threadID, pthread_self()) != 0
    }

    /// Stops a debug build when called off this loop's thread (swift-nio's `assertInEventLoop`): state documented
    /// as touched only on its loop — a connection's, the loop's own — is checked so where it changes. Nothing in a
    /// release build.
    @inline(__always)
    func assertInLoop(file: StaticString = #fileID, line: UInt = #line) {
        assert(inLoop, "touched off its event loop", file: file, line: line)
    }

    private func runPending() -> Bool {
        // A bounded number of rounds, so that tasks resuming each other cannot starve I/O.
        for _ in 0..<16 {
            let batch = pending.withLock { work -> [Work] in
                let taken = work
                work.removeAll(keepingCapacity: true)
                return taken
            }
            if batch.isEmpty { return false }
            for item in batch {
                switch item {
                case .job(let job): job.runSynchronously(on: asUnownedTaskExecutor())
                case .closure(let body): body()
                }
            }
        }
        return pending.withLock { !$0.isEmpty }
    }

    // MARK: - Loop

    func run() {
        threadID = pthread_self()
        var morePending = false
        while true {
            flushInterest()
            if stopping && connectionCount == 0 { break }
            let timeout: Int32 = morePending ? 0 : (stopping ? 100 : 500)
            do {
                try epoll.wait(timeout: timeout) { token, events in
                    handle(token: token, events: events)
                }
            } catch {
                server.logger.critical("epoll_wait failed: \(error)")
                break
            }
            now = Clock.monotonicNanos()
            morePending = runPending()
            if now >= nextSweep {
                sweep()
                nextSweep = now + 250_000_000
            }
        }
        listener = nil
        overload.closeAll()
        finished = true
        _ = runPending()
    }

    private func handle(token: UInt64, events: EpollEvents) {
        if token == Self.listenerToken {
            acceptConnections()
            return
        }
        if token & OverloadRejecter.tokenTag != 0 {
            overload.handle(token: token, scratch: readBuffer)
            return
        }
        let fd = Int(token & 0xFFFF_FFFF)
        guard fd < connections.count, let connection = connections[fd], connection.token == token else {
            return  // stale: the descriptor was closed (and maybe reused) earlier in this batch
        }
        connection.handle(events: events)
    }

    private func acceptConnections() {
        guard let fd = listener?.rawValue else { return }
        // The header timeout of a new connection counts from here: take the time now, not that of the loop's
        // last wake-up, which may be half a second old.
        now = Clock.monotonicNanos()
        // Accept a bounded batch per wake-up, so one busy listener cannot starve this loop's connections.
        for _ in 0..<64 {
            let result: IOResult<(Int32, SocketAddress)>
            do {
                result = try Socket.accept(fd)
            } catch {
                // EMFILE/ENFILE/ENOBUFS: keep serving what we have; the listener stays readable, so back off.
                if error.errno == EMFILE || error.errno == ENFILE {
                    server.logger.error("accept: \(error); at the descriptor limit")
                } else if error.errno != ECONNABORTED {
                    server.logger.warning("accept: \(error)")
                }
                return
            }
            guard case .processed(let (clientFD, peer)) = result else { return }
            guard server.reserveConnection() else {
                // A 503 the client can read, rather than a bare close it would see as a network failure.
                overload.reject(clientFD, peer: peer, epoll: epoll, scratch: readBuffer, now: now)
                continue
            }
            let target = server.loopForNewConnection() ?? self
            if target === self {
                register(clientFD, peer: peer)
            } else {
                // On its own thread, where the target's `now` is read after the wake-up this causes: the header
                // timeout starts no earlier than here.
                target.execute { target.register(clientFD, peer: peer) }
            }
        }
    }

    private func register(_ fd: Int32, peer: SocketAddress) {
        guard !finished else {
            // Handed over as this loop stopped for good: nobody would serve it.
            Glibc.close(fd)
            server.releaseConnection()
            return
        }
        Socket.setNoDelay(fd)
        // 30 bits, so that no token has bit 62 (`OverloadRejecter.tokenTag`) or 63 (the listener's).
        generation = (generation &+ 1) & 0x3FFF_FFFF
        let token = UInt64(generation) << 32 | UInt64(UInt32(fd))
        let connection = Connection(fd: fd, token: token, peer: peer, loop: self)
        if Int(fd) >= connections.count {
            connections.append(contentsOf: repeatElement(nil, count: Int(fd) + 1 - connections.count + 64))
        }
        do {
            try epoll.add(fd, events: .readable, token: token)
        } catch {
            server.logger.warning("epoll add: \(error)")
            Glibc.close(fd)
            server.releaseConnection()
            return
        }
        connections[Int(fd)] = connection
        connectionCount += 1
        connection.registeredInterest = .readable
        if stopping { connection.beginShutdown() }
    }

    /// Called by a connection as it closes its descriptor.
    func unregister(_ connection: Connection) {
        let fd = Int(connection.fd)
        if fd < connections.count, connections[fd] === connection {
            connections[fd] = nil
            connectionCount -= 1
            server.releaseConnection()
        }
    }

    /// The loop's scratch buffer for `read`; only valid until the next read.
    var scratch: UnsafeMutableRawBufferPointer {
        assertInLoop()
        return readBuffer
    }

    /// Notes that a connection's wanted epoll interest may have changed; applied once before the next wait.
    func interestChanged(_ connection: Connection) {
        assertInLoop()
        if !connection.interestQueued {
            connection.interestQueued = true
            interestDirty.append(connection)
        }
    }

    private func flushInterest() {
        guard !interestDirty.isEmpty else { return }
        let dirty = interestDirty
        interestDirty.removeAll(keepingCapacity: true)
        for connection in dirty {
            connection.interestQueued = false
            guard !connection.isClosed else { continue }
            let wanted = connection.wantedInterest
            if wanted != connection.registeredInterest {
                do {
                    try epoll.modify(connection.fd, events: wanted, token: connection.token)
                    connection.registeredInterest = wanted
                } catch {
                    connection.close(reason: "epoll_ctl: \(error)")
                }
            }
        }
    }

    private func sweep() {
        refreshDate()
        overload.expire(now: now, scratch: readBuffer)
        let force = stopping && now >= shutdownDeadline
        for case let connection? in connections {
            if force {
                connection.close(reason: "shutdown grace period over")
            } else {
                connection.checkTimeouts(now: now)
            }
        }
    }

    private func refreshDate() {
        var t = time(nil)
        guard Int(t) != dateSecond else { return }
        dateSecond = Int(t)
        var tm = tm()
        gmtime_r(&t, &tm)
        var buffer = [CChar](repeating: 0, count: 64)
        let n = strftime(&buffer, buffer.count, "%a, %d %b %Y %H:%M:%S GMT", &tm)
        dateHeader = Array("Date: ".utf8) + buffer[0..<n].map { UInt8(bitPattern: $0) } + [0x0D, 0x0A]
    }

    // MARK: - Shutdown

    /// Stops accepting, closes idle connections, and lets in-flight requests finish until the grace period ends.
    func beginShutdown(graceNanos: UInt64) {
        guard !stopping else { return }
        stopping = true
        shutdownDeadline = Clock.monotonicNanos() + graceNanos
        nextSweep = min(nextSweep, shutdownDeadline)
        if let fd = listener?.rawValue {
            epoll.remove(fd)
        }
        listener = nil
        for case let connection? in connections {
            connection.beginShutdown()
        }
    }

    var isStopping: Bool { stopping }
}
