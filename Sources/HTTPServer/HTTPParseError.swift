/// Why a request could not be parsed. Every case closes the connection after the error response, because the
/// framing of what follows can no longer be trusted.
public enum HTTPParseError: Error, Equatable, Sendable, CustomStringConvertible {
    case badRequest(String)
    case uriTooLong
    case headersTooLarge(String)
    case contentTooLarge
    case notImplemented(String)
    case versionNotSupported
    case expectationFailed

    /// The status to answer with.
    public var status: HTTPStatus {
        switch self {
        case .badRequest: .badRequest
        case .uriTooLong: .uriTooLong
        case .headersTooLarge: .requestHeaderFieldsTooLarge
        case .contentTooLarge: .contentTooLarge
        case .notImplemented: .notImplemented
        case .versionNotSupported: .httpVersionNotSupported
        case .expectationFailed: .expectationFailed
        }
    }

    public var description: String {
        switch self {
        case .badRequest(let why): "bad request: \(why)"
        case .uriTooLong: "request line too long"
        case .headersTooLarge(let why): "header section too large: \(why)"
        case .contentTooLarge: "request body too large"
        case .notImplemented(let why): "not implemented: \(why)"
        case .versionNotSupported: "HTTP version not supported"
        case .expectationFailed: "unsupported expectation"
        }
    }
}
