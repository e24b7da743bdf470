/// How the length of a request body is known (RFC 9112 §6.3).
public enum BodyFraming: Sendable, Equatable {
    case none
    case length(Int64)
    case chunked
}

/// The request line and header section of one request, as parsed and validated.
public struct RequestHead: Sendable {
    public var method: String
    /// The request-target in origin form (path and query) as received; an absolute-form target is reduced to
    /// its path and query, its authority becoming the `Host` field.
    public var target: String
    public var versionMinor: Int
    public var headers: HTTPHeaders
    public var framing: BodyFraming
    /// False when the client asked to close (`Connection: close`, or HTTP/1.0 without `keep-alive`).
    public var keepAlive: Bool
    /// The client sent `Expect: 100-continue` and waits for an interim response before sending the body.
    public var expectContinue: Bool

    public init(method: String, target: String, versionMinor: Int = 1, headers: HTTPHeaders = HTTPHeaders(),
                framing: BodyFraming = .none, keepAlive: Bool = true, expectContinue: Bool = false) {
        self.method = method
        self.target = target
        self.versionMinor = versionMinor
        self.headers = headers
        self.framing = framing
        self.keepAlive = keepAlive
        self.expectContinue = expectContinue
    }

    /// The target's path, before any `?`.
    public var path: Substring {
        // Searched as UTF-8: a Character search would run grapheme breaking over the whole target.
        if let q = target.utf8.firstIndex(of: UInt8(ascii: "?")) { return target[..<q] }
        return target[...]
    }

    /// The raw query after `?`, or nil.
    public var query: Substring? {
        guard let q = target.utf8.firstIndex(of: UInt8(ascii: "?")) else { return nil }
        return target[target.index(after: q)...]
    }
}
