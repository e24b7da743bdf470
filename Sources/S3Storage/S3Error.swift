/// What went wrong talking to S3.
public enum S3Error: Error, Equatable, Sendable, CustomStringConvertible {
    /// No HTTP answer: connection refused, timeout, reset, TLS failure (libcurl's code and message).
    case transport(code: Int, message: String)
    /// S3 answered with an error: the HTTP status and, when the body carried one, the `<Error>` document's `Code`
    /// and `Message` (`NoSuchKey`, `SignatureDoesNotMatch`, `SlowDown`…). A HEAD's error has no body: `code` is
    /// then derived from the status (`NotFound`, `Forbidden`…).
    case service(status: Int, code: String, message: String, requestID: String?)
    /// S3 answered 2xx with something this client cannot read (a listing that is not XML, a missing upload id).
    case invalidResponse(String)
    /// A body callback (the source of an upload, the sink of a download) threw: the transfer was stopped.
    case aborted(String)

    /// The object, upload or bucket does not exist.
    public var isNotFound: Bool {
        guard case .service(let status, let code, _, _) = self else { return false }
        return status == 404 || code == "NoSuchKey" || code == "NoSuchUpload" || code == "NoSuchBucket"
    }

    /// A later identical request may succeed: transport failures, throttling and server errors.
    public var isRetryable: Bool {
        switch self {
        case .transport: true
        case .service(let status, let code, _, _):
            status >= 500 || status == 429 || code == "SlowDown" || code == "RequestTimeout"
                || code == "InternalError"
        case .invalidResponse, .aborted: false
        }
    }

    public var description: String {
        switch self {
        case .transport(let code, let message): "S3 unreachable (curl \(code)): \(message)"
        case .service(let status, let code, let message, let requestID):
            "S3 answered \(status) \(code)" + (message.isEmpty ? "" : ": \(message)")
                + (requestID.map { " (request \($0))" } ?? "")
        case .invalidResponse(let detail): "S3 answer not understood: \(detail)"
        case .aborted(let detail): "S3 transfer stopped: \(detail)"
        }
    }

    /// Builds the error for a non-2xx answer from its status and body.
    ///
    /// - Parameters:
    ///   - status: The HTTP status.
    ///   - body: The answer's body (possibly empty, cut, or not XML at all: a proxy's HTML page).
    ///   - requestID: The `x-amz-request-id` header, if any.
    static func fromResponse(status: Int, body: [UInt8], requestID: String?) -> S3Error {
        if let root = XMLElement.parse(body), root.name == "Error" {
            return .service(status: status, code: root.text(of: "Code") ?? Self.code(for: status),
                            message: root.text(of: "Message") ?? "",
                            requestID: root.text(of: "RequestId") ?? requestID)
        }
        return .service(status: status, code: Self.code(for: status), message: "", requestID: requestID)
    }

    /// An `<Error>` document in a 200 answer: CopyObject, UploadPartCopy and CompleteMultipartUpload may fail after
    /// the status line went out (S3 keeps the connection alive with white space, then reports the failure).
    static func embedded(in body: [UInt8], requestID: String?) -> S3Error? {
        guard let root = XMLElement.parse(body), root.name == "Error" else { return nil }
        return .service(status: 200, code: root.text(of: "Code") ?? "InternalError",
                        message: root.text(of: "Message") ?? "", requestID: root.text(of: "RequestId") ?? requestID)
    }

    private static func code(for status: Int) -> String {
        switch status {
        case 301: "PermanentRedirect"
        case 304: "NotModified"
        case 400: "BadRequest"
        case 403: "Forbidden"
        case 404: "NotFound"
        case 409: "Conflict"
        case 412: "PreconditionFailed"
        case 416: "InvalidRange"
        case 500: "InternalError"
        case 503: "ServiceUnavailable"
        default: "HTTP\(status)"
        }
    }
}
