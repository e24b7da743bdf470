/// Why reading a request body failed.
public enum BodyError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The body is larger than the limit the handler set.
    case tooLarge(limit: Int64)
    /// The body's framing was invalid (for example a bad chunk size).
    case malformed(HTTPParseError)
    /// The client stopped sending for longer than the body timeout.
    case timedOut
    /// The client sent the body slower on average than `ServerConfiguration.minBodyRate` bytes per second.
    case tooSlow(minRate: Double)
    /// The connection closed before the body ended.
    case connectionClosed

    public var status: HTTPStatus {
        switch self {
        case .tooLarge: .contentTooLarge
        case .malformed(let e): e.status
        case .timedOut, .tooSlow: .requestTimeout
        case .connectionClosed: .badRequest
        }
    }

    public var description: String {
        switch self {
        case .tooLarge(let limit): "request body larger than \(limit) bytes"
        case .malformed(let e): e.description
        case .timedOut: "request body timed out"
        case .tooSlow(let rate): "request body slower than \(Int(rate)) bytes/s"
        case .connectionClosed: "connection closed before the request body ended"
        }
    }
}
