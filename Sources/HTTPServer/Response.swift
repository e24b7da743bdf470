import SystemIO

/// A response a handler returns; the engine frames it (Content-Length, Date, Connection) and writes it.
public struct Response: Sendable {
    public enum Body: Sendable {
        case empty
        case bytes([UInt8])
        /// `length` bytes of an open file from `offset`, sent with `sendfile`.
        case file(SharedFileDescriptor, offset: Int64, length: Int64)
        /// Bytes `range` of a body produced while it is sent (see `ResponseStream`); `.stream(s)` for all of it.
        case stream(any ResponseStream, range: Range<Int64>)

        /// All of `stream`.
        public static func stream(_ stream: any ResponseStream) -> Body {
            .stream(stream, range: 0..<stream.length)
        }

        public var count: Int64 {
            switch self {
            case .empty: 0
            case .bytes(let b): Int64(b.count)
            case .file(_, _, let length): length
            case .stream(_, let range): Int64(range.count)
            }
        }
    }

    public var status: HTTPStatus
    public var headers: HTTPHeaders
    public var body: Body
    /// What the responder tells the engine for logs and metrics (see `ExchangeRecord`); never sent.
    public var context = ResponseContext()
    /// Who the responder authenticated, for the access log (a user name, never a credential); nil: anonymous.
    public var authenticatedUser: String? {
        get { context.user }
        set { context.user = newValue }
    }

    public init(status: HTTPStatus, headers: HTTPHeaders = HTTPHeaders(), body: Body = .empty) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public init(status: HTTPStatus, headers: HTTPHeaders = HTTPHeaders(), bytes: some Sequence<UInt8>) {
        self.init(status: status, headers: headers, body: .bytes(Array(bytes)))
    }

    /// A plain-text response, for errors outside any API.
    public static func text(_ status: HTTPStatus, _ text: String) -> Response {
        Response(status: status, headers: ["Content-Type": "text/plain; charset=utf-8"], bytes: Array((text + "\n").utf8))
    }
}

/// An error that says how to answer it: thrown by a handler, or by `ResponseStream.open(range:)` (which the engine
/// calls before it writes anything), it is answered with `response` rather than a plain 500.
public protocol ResponseConvertibleError: Error {
    var response: Response { get }
}
