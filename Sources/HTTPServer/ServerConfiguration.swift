import Glibc
import SystemIO

/// Limits and timeouts of the HTTP engine; every default is meant for a public-facing registry.
public struct ServerConfiguration: Sendable {
    public var address: SocketAddress
    /// Event-loop threads, each owning its connections; one per core by default.
    public var eventLoopCount: Int
    public var parser = ParserLimits()
    /// Open connections across all loops; more are accepted, answered `overloadResponse` and closed at once.
    public var maxConnections = 16_384
    /// What a connection over `maxConnections` gets, written once without reading the request; the engine adds
    /// `Connection: close` and `Content-Length`. Only a `.bytes` or `.empty` body is sent.
    public var overloadResponse: Response = {
        var response = Response.text(.serviceUnavailable, "too many connections")
        response.headers.set("Retry-After", "1")
        return response
    }()
    /// Refused connections each loop keeps at most while the client reads its 503 (see `OverloadRejecter`);
    /// past this many they are closed straight after the write. So refused sockets hold at most
    /// `eventLoopCount * maxLingeringRejects` descriptors beyond `maxConnections`, each for a second at most.
    public var maxLingeringRejects = 256
    /// The header section must arrive within this many seconds: counted from the accept for a connection's
    /// first request, from the first byte for a later one (slowloris).
    public var headerTimeout: Double = 10
    /// A keep-alive connection with no request in progress is closed after this many seconds.
    public var idleTimeout: Double = 75
    /// A body that makes no progress for this many seconds (while the handler waits for it) fails.
    public var bodyTimeout: Double = 60
    /// Least average request-body rate in bytes per second, 0 for none. As Apache's `RequestReadTimeout
    /// body=…,MinRate=…`: from the first body byte, a body may take `bodyTimeout` seconds plus one second per
    /// `minBodyRate` bytes received, so after a grace of `bodyTimeout` it must average this rate. Time in which the
    /// engine itself stops reading (the handler is behind, back-pressure) does not count.
    public var minBodyRate: Double = 500
    /// A response that cannot be written for this many seconds is abandoned and the connection closed.
    public var writeTimeout: Double = 60
    /// On shutdown, in-flight requests get this many seconds to finish.
    public var shutdownGrace: Double = 10
    /// Request-body bytes buffered per connection before reading from the socket stops (back-pressure).
    public var bodyHighWater = 2 * 1024 * 1024
    /// Unread request-body bytes the server reads and drops to keep a connection alive; more and it closes.
    public var drainLimit: Int64 = 1024 * 1024
    /// TLS on the listening port; nil: plain HTTP.
    public var tls: TLSSettings?
    /// Told of every finished exchange, on the event loop (the access log, `AccessLog`, and the request metrics build on this).
    public var observers: [any ExchangeObserver] = []

    public init(address: SocketAddress, eventLoopCount: Int = ServerConfiguration.coreCount) {
        self.address = address
        self.eventLoopCount = max(1, eventLoopCount)
    }

    /// The number of cores this process may run on.
    public static var coreCount: Int {
        Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
    }
}
