import SystemIO

/// Where a connection is in its life cycle; each state carries the data only it has.
///
/// ```
///   accept ─(TLS)─► handshaking ─────────► awaitingHead ◄──► exchanging ──► lingering ──► closed
///     └─(plain)──────────│─────────────────────►│                               ▲
///                        └───► rejecting ◄──────┘ ──────────────────────────────┘
///   any state ──► closed
/// ```
/// `Connection.transition(to:)` checks each move against this diagram and traps in debug builds on any other.
enum ConnectionState {
    /// TLS handshake in progress (or its first bytes not yet seen), started at `since` (the header timeout bounds
    /// it); OpenSSL waits for `wants`.
    case handshaking(since: UInt64, wants: EpollEvents)
    /// Between requests or reading a header section. `headerStart`: when the header timeout of the request being
    /// read started, nil while none runs — from the accept for a connection's first request (a connection that
    /// never sends a byte must not hold on for the idle timeout), from its first byte for a later one (between
    /// requests, the idle timeout applies).
    case awaitingHead(headerStart: UInt64?)
    /// A handler task owns the current request.
    case exchanging(Exchange)
    /// Answering a request that could not be parsed; no more input is read.
    case rejecting
    /// Response sent, write side shut: reading and dropping input until the peer closes (lingering close), so that
    /// unread input does not turn the close into a reset that destroys the response in flight.
    case lingering(deadline: UInt64, budget: Int)
    case closed

    /// The state's name, for the trap message of an illegal transition.
    var name: String {
        switch self {
        case .handshaking: "handshaking"
        case .awaitingHead: "awaitingHead"
        case .exchanging: "exchanging"
        case .rejecting: "rejecting"
        case .lingering: "lingering"
        case .closed: "closed"
        }
    }

    /// True when the diagram above has an arrow from `self` to `next`.
    func allows(_ next: ConnectionState) -> Bool {
        switch (self, next) {
        case (.closed, _): false
        case (_, .closed): true
        case (.handshaking, .handshaking), (.handshaking, .awaitingHead), (.handshaking, .rejecting): true
        case (.awaitingHead, .exchanging), (.awaitingHead, .rejecting), (.awaitingHead, .awaitingHead): true
        case (.exchanging, .awaitingHead), (.exchanging, .lingering): true
        case (.rejecting, .lingering): true
        case (.lingering, .lingering): true
        default: false
        }
    }
}

/// One request from its head to the end of its response (and of its body, which may outlast the response).
final class Exchange {
    /// What happens to request input while the exchange lasts.
    enum Input {
        /// Body bytes go to the handler.
        case streaming
        /// The handler answered without reading all of the body: bytes are read and dropped, `budget` more at most.
        case draining(budget: Int64)
        /// The body ended: bytes that follow belong to pipelined requests, kept until the response is out.
        case complete
        /// Nothing more is read (framing broke, the body failed or timed out, or the peer closed its side) and the
        /// connection closes after the response.
        case ended(byPeer: Bool)

        /// True while body bytes are still expected from the socket.
        var bodyOpen: Bool {
            switch self {
            case .streaming, .draining: true
            case .complete, .ended: false
            }
        }
    }

    let body: RequestBody
    var input: Input
    /// The request asked for keep-alive (HTTP/1.1 without `Connection: close`, or 1.0 with keep-alive).
    let keepAlive: Bool
    /// The connection closes once the response is written.
    var closeAfterResponse = false
    /// The client waits for `100 Continue` before sending its body; none is read until the handler asks.
    var expectContinuePending: Bool
    /// The response is written; the exchange lasts only while the rest of the body is drained.
    var responded = false
    var lastBodyProgress: UInt64
    var bodyRate = BodyRateMeter()

    init(body: RequestBody, keepAlive: Bool, expectContinue: Bool, now: UInt64) {
        self.body = body
        self.keepAlive = keepAlive
        expectContinuePending = expectContinue
        lastBodyProgress = now
        input = .streaming  // until the parser reports the end, even of an empty body
    }
}
