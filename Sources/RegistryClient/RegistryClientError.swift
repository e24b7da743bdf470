import OCIModel

/// A registry operation that failed, described in one line: the operation, registry, repository, object (blob
/// digest or manifest reference), HTTP status, and the registry's own error codes and messages.
///
/// ```
/// pull blob sha256:3f…: 127.0.0.1:5000/library/app: HTTP 404: BLOB_UNKNOWN: blob unknown to registry
/// push manifest v1: 127.0.0.1:5000/library/app: HTTP 400: MANIFEST_BLOB_UNKNOWN: …
/// ```
public struct RegistryClientError: Error, CustomStringConvertible, Sendable {
    /// The broad class of failure, for callers that react differently (retry later, ask for credentials…).
    public enum Kind: Sendable, Hashable {
        /// The registry answered with an error status.
        case http
        /// No usable answer: connection refused, reset, timed out, TLS failure.
        case transport
        /// Content did not match its digest or size, or exceeded a limit.
        case integrity
        /// The registry's answer broke the protocol (missing `Location`, undecodable JSON…).
        case invalidResponse
        /// Credentials were refused or missing (401/403, token endpoint failures).
        case authentication
        /// Bad local input: unreadable file, cert directory, auth file.
        case local
        /// The task was cancelled or the engine shut down.
        case cancelled
    }

    public var kind: Kind
    /// What was being done: `pull`, `push`, `check`, `mount`, `delete`, `list tags`, `ping`…
    public var operation: String
    /// `host[:port]`.
    public var registry: String
    public var repository: String?
    /// `blob sha256:…`, `manifest latest`…
    public var object: String?
    /// The HTTP status of the failing answer, if there was one.
    public var status: Int?
    /// The registry's OCI errors from the JSON body, if any.
    public var errors: [OCIError]
    /// Further explanation (transport error text, the mismatch found…).
    public var message: String

    public init(kind: Kind, operation: String, registry: String, repository: String? = nil, object: String? = nil,
                status: Int? = nil, errors: [OCIError] = [], message: String = "") {
        self.kind = kind
        self.operation = operation
        self.registry = registry
        self.repository = repository
        self.object = object
        self.status = status
        self.errors = errors
        self.message = message
    }

    /// The OCI error codes of the registry's answer.
    public var codes: [OCIErrorCode] { errors.map(\.code) }

    /// Whether trying again later may succeed.
    public var isRetryable: Bool {
        switch kind {
        case .transport: return true
        case .http:
            if let status, RetryPolicy.isRetryable(status: status) { return true }
            return !errors.isEmpty && errors.allSatisfy(\.isRetryable)
        default: return false
        }
    }

    public var description: String {
        var text = operation
        if let object { text += " " + object }
        text += ": " + registry
        if let repository { text += "/" + repository }
        var details: [String] = []
        if let status { details.append("HTTP \(status)") }
        if !errors.isEmpty { details.append(errors.map(\.description).joined(separator: "; ")) }
        if !message.isEmpty { details.append(message) }
        if !details.isEmpty { text += ": " + details.joined(separator: ": ") }
        return text
    }
}

/// Names what a request is about, so that every error it produces says so.
struct OperationContext: Sendable {
    var operation: String
    var repository: String?
    var object: String?

    init(_ operation: String, repository: String? = nil, object: String? = nil) {
        self.operation = operation
        self.repository = repository
        self.object = object
    }
}
