/// One HTTP request as the engine performs it: method, absolute URL, header fields, body and transfer settings.
///
/// A value, so that a retry or an authenticated resend is the same request made again (file bodies are re-read
/// from their offset each time).
struct ClientRequest: Sendable {
    /// Where the bytes of a request body come from.
    enum Body: Sendable {
        case none
        /// Small bodies held in memory (manifests).
        case bytes([UInt8])
        /// `length` bytes of an open file from `offset`, read with `pread` as libcurl asks for them; the caller
        /// keeps `fd` open until the transfer completes.
        case file(fd: Int32, offset: Int64, length: Int64)

        var length: Int64 {
            switch self {
            case .none: 0
            case .bytes(let bytes): Int64(bytes.count)
            case .file(_, _, let length): length
            }
        }
    }

    var method: String
    var url: String
    var headers: [(name: String, value: String)] = []
    var body: Body = .none
    var settings: TransferSettings
    /// Largest response body kept in memory (for bodies no sink takes); more aborts the transfer.
    var memoryLimit: Int = 1 << 20
    /// Called with the bytes sent so far and the body length (uploads).
    var uploadProgress: TransferProgress? = nil

    init(method: String, url: String, settings: TransferSettings) {
        self.method = method
        self.url = url
        self.settings = settings
    }

    /// Replaces every field called `name` with one.
    mutating func setHeader(_ name: String, _ value: String) {
        headers.removeAll { $0.name.lowercased() == name.lowercased() }
        headers.append((name, value))
    }
}

/// Connection settings shared by every request of one client: TLS, timeouts, identification.
struct TransferSettings: Sendable {
    var userAgent: String
    var tlsVerify: Bool
    /// PEM bundle (system CAs plus the cert directory's `*.crt`), or nil for libcurl's default store.
    var caBundle: [UInt8]?
    var clientCertificate: String?
    var clientKey: String?
    var connectTimeoutMilliseconds: Int
    /// A transfer slower than 1 byte/s for this long is aborted (and retried).
    var stallSeconds: Int
}

/// A response as received: status, header fields of the final response, and the body when no sink took it.
struct ClientResponse: Sendable {
    var status: Int
    var headers: [(name: String, value: String)]
    /// The body, unless a sink consumed it.
    var body: [UInt8]
    /// The URL that answered (after redirects).
    var effectiveURL: String

    /// The first value of a header field, case-insensitively.
    func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first { $0.name.lowercased() == lower }?.value
    }

    /// Every value of a header field, in order.
    func headerValues(_ name: String) -> [String] {
        let lower = name.lowercased()
        return headers.filter { $0.name.lowercased() == lower }.map(\.value)
    }
}
