/// What one request/response exchange was, handed to every `ExchangeObserver` once the response is written (or
/// could not be): the access log and the request metrics are both built from it.
public struct ExchangeRecord: Sendable {
    public var method: String
    /// The request target as received (path and query).
    public var target: String
    public var status: Int
    /// Request-body bytes read from the client.
    public var bytesReceived: Int64
    /// Response-body bytes written (not the head).
    public var bytesSent: Int64
    /// From the request's arrival to the end of the response, monotonic nanoseconds.
    public var durationNanos: UInt64
    /// The client's address, `host:port`.
    public var peer: String
    /// The request came over TLS.
    public var isSecure: Bool
    /// What the responder said about the exchange (user, route, repository, reference).
    public var context: ResponseContext
    /// Why the exchange ended abnormally ("write failed: …", "connection closed"); nil when it did not.
    public var note: String?

    public init(method: String, target: String, status: Int, bytesReceived: Int64, bytesSent: Int64,
                durationNanos: UInt64, peer: String, isSecure: Bool, context: ResponseContext, note: String?) {
        self.method = method
        self.target = target
        self.status = status
        self.bytesReceived = bytesReceived
        self.bytesSent = bytesSent
        self.durationNanos = durationNanos
        self.peer = peer
        self.isSecure = isSecure
        self.context = context
        self.note = note
    }
}

/// What a responder tells the engine about a response for logs and metrics; none of it is sent to the client.
public struct ResponseContext: Sendable {
    /// Who the responder authenticated (a user name, never a credential); nil: anonymous.
    public var user: String?
    /// A low-cardinality name of what was asked (`manifest`, `blob`, `upload`, `tags`, …): the metrics' label.
    public var route: String?
    /// The repository the request named, when it named a valid one.
    public var repository: String?
    /// The tag or digest the request named.
    public var reference: String?

    public init(user: String? = nil, route: String? = nil, repository: String? = nil, reference: String? = nil) {
        self.user = user
        self.route = route
        self.repository = repository
        self.reference = reference
    }
}

/// Receives every finished exchange (see `ServerConfiguration.observers`).
public protocol ExchangeObserver: Sendable {
    /// Called on the connection's event-loop thread: must not block or do I/O (hand the record to a queue).
    func exchangeCompleted(_ record: ExchangeRecord)
}
