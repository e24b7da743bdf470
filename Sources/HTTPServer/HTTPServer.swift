import CLinuxShim
import Glibc
import Logging
import Synchronization
import SystemIO

/// What every loop of one server shares.
final class ServerContext: Sendable {
    let configuration: ServerConfiguration
    let responder: any HTTPResponder
    let logger: Logger
    private let openConnections = Atomic<Int>(0)

    /// The TLS context new connections start with; nil for plain HTTP. Replaced by `HTTPServer.reloadTLS()`.
    private let tls: Mutex<TLSContext?>

    init(configuration: ServerConfiguration, responder: any HTTPResponder, logger: Logger) throws(TLSError) {
        self.configuration = configuration
        self.responder = responder
        self.logger = logger
        tls = Mutex(try configuration.tls.map { settings throws(TLSError) in try TLSContext(settings: settings) })
    }

    var currentTLS: TLSContext? { tls.withLock { $0 } }

    func replaceTLS(_ context: TLSContext) {
        tls.withLock { $0 = context }
    }

    func reserveConnection() -> Bool {
        let (previous, _) = openConnections.add(1, ordering: .relaxed)
        if previous >= configuration.maxConnections {
            openConnections.subtract(1, ordering: .relaxed)
            return false
        }
        return true
    }

    func releaseConnection() {
        openConnections.subtract(1, ordering: .relaxed)
    }

    var connectionCount: Int { openConnections.load(ordering: .relaxed) }

    /// The loops, in turn, for new connections (see `EventLoop.acceptConnections`).
    private let loops = Mutex<[EventLoop]>([])
    private let nextLoop = Atomic<Int>(0)

    func install(_ loops: [EventLoop]) {
        self.loops.withLock { $0 = loops }
    }

    /// The loop that gets the next connection: each in turn, so that connections spread evenly whichever loop
    /// accepted them.
    func loopForNewConnection() -> EventLoop? {
        let turn = nextLoop.add(1, ordering: .relaxed).oldValue
        return loops.withLock { $0.isEmpty ? nil : $0[turn % $0.count] }
    }
}

/// An HTTP/1.1 server: one event loop per thread, all accepting from one listening socket (the kernel wakes one
/// idle loop per new connection), which deals the connections it accepts to the loops in turn.
public final class HTTPServer: Sendable {
    let context: ServerContext
    private let loops: [EventLoop]
    private let threads: Mutex<[pthread_t]>
    /// The address actually bound (with the real port when 0 was asked).
    public let localAddress: SocketAddress

    /// Binds and starts serving at once.
    /// - Throws: `SystemError` when the address cannot be bound.
    public init(configuration: ServerConfiguration, responder: any HTTPResponder, logger: Logger) throws {
        // A write to a socket the peer reset must fail with EPIPE, not kill the process (sendfile has no
        // MSG_NOSIGNAL).
        signal(SIGPIPE, SIG_IGN)
        // Body chunks are allocated and freed at a high rate; keep freed memory in the heap instead of returning
        // it to the kernel, which would make every new chunk page-fault again.
        swshim_keep_freed_memory(64 << 20, 4 << 20)
        Self.raiseDescriptorLimit()
        context = try ServerContext(configuration: configuration, responder: responder, logger: logger)
        // One listening socket, shared by every loop through a descriptor of its own, each registered with
        // EPOLLEXCLUSIVE so that a new connection wakes one loop, not all of them. A second server on the same
        // address fails here with EADDRINUSE (see `Socket.listen`). The kernel wakes the first idle loop, so
        // under a burst one loop accepts nearly everything (measured: 50 connections opened at once all went to
        // loop 0): the accepting loop hands each connection to the next loop in turn.
        let listener = try Socket.listen(on: configuration.address)
        localAddress = try Socket.localAddress(of: listener.rawValue)
        var loops: [EventLoop] = []
        for index in 0..<configuration.eventLoopCount {
            loops.append(try EventLoop(index: index, server: context, listener: try listener.duplicate()))
        }
        self.loops = loops
        context.install(loops)
        var threads: [pthread_t] = []
        for loop in loops {
            threads.append(Thread.start(name: "swr-loop-\(loop.index)") { loop.run() })
        }
        self.threads = Mutex(threads)
        logger.info("listening on \(localAddress.description) with \(loops.count) event loops\(configuration.tls == nil ? "" : " (TLS)")")
        if configuration.tls != nil {
            // Which way file bodies go out over TLS; said once, so that a slow blob GET can be explained.
            if TLSContext.kernelTLSAvailable {
                logger.info("TLS file bodies: kernel TLS (SSL_sendfile, zero-copy) where the negotiated cipher allows it, else read into a buffer per connection and SSL_write")
            } else {
                logger.info("TLS file bodies: no kernel TLS (/proc/net/tls_stat absent: `modprobe tls`), read into a \(Connection.fileBufferSize / 1024) KiB buffer per connection and SSL_write")
            }
        }
    }

    /// Re-reads the certificate, key and client CA files in force (those of `ServerConfiguration.tls`, or of the
    /// last `reloadTLS(_:)`): connections accepted from now on use them, connections already open keep the context
    /// they started with. Nothing to do without TLS.
    /// - Throws: `TLSError` naming the file and OpenSSL's reason; the server then keeps its current context.
    public func reloadTLS() throws {
        try reloadTLS(context.currentTLS?.settings)
    }

    /// Puts new TLS settings (other files, another minimum version, other client CAs) in force for new
    /// connections. TLS cannot be turned on or off on a listening server: that needs a restart.
    /// - Throws: `TLSError`; the server then keeps its current context.
    public func reloadTLS(_ settings: TLSSettings?) throws {
        let running = context.currentTLS
        guard let settings else {
            if running != nil { throw TLSError("turning TLS off needs a restart (the server keeps serving TLS)") }
            return
        }
        guard running != nil else { throw TLSError("turning TLS on needs a restart (the server keeps serving plain HTTP)") }
        let fresh = try TLSContext(settings: settings)
        context.replaceTLS(fresh)
        context.logger.info("TLS certificate reloaded from \(settings.certificatePath)")
    }

    /// Open connections right now.
    public var connectionCount: Int { context.connectionCount }

    /// Stops accepting and closes idle connections; in-flight requests finish within the grace period, then
    /// the remaining connections are closed. Returns at once; `wait()` returns when all loops have stopped.
    public func shutdown(grace: Double? = nil) {
        let nanos = UInt64((grace ?? context.configuration.shutdownGrace) * 1e9)
        for loop in loops {
            loop.execute { loop.beginShutdown(graceNanos: nanos) }
        }
    }

    /// Blocks until every loop has stopped.
    public func wait() {
        let threads = self.threads.withLock { t -> [pthread_t] in
            let all = t
            t = []
            return all
        }
        for thread in threads { pthread_join(thread, nil) }
    }

    /// Lifts the soft descriptor limit to the hard one: each connection needs a descriptor.
    private static func raiseDescriptorLimit() {
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
    }
}
