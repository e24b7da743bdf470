import Foundation

/// The body of a registry error response (distribution-spec, "Error Codes"):
///
/// ```json
/// {"errors": [{"code": "BLOB_UNKNOWN", "message": "blob unknown to registry", "detail": {…}}]}
/// ```
///
/// The server renders it; the client decodes it from any 4xx/5xx response whose body is JSON.
public struct OCIErrorResponse: Error, Hashable, Sendable, Codable {
    /// The errors, most relevant first.
    public var errors: [OCIError]

    public init(_ errors: [OCIError]) {
        self.errors = errors
    }

    /// A response with a single error.
    public init(_ code: OCIErrorCode, message: String? = nil, detail: JSONValue? = nil) {
        self.errors = [OCIError(code, message: message, detail: detail)]
    }

    /// The HTTP status to send: that of the first error, or 500 if there is none.
    public var status: Int { errors.first?.code.status ?? 500 }

    /// Whether retrying later may help: true only if every error is retryable, since one
    /// permanent error (say `DENIED` next to `TOOMANYREQUESTS`) makes the retry pointless.
    public var isRetryable: Bool {
        !errors.isEmpty && errors.allSatisfy(\.isRetryable)
    }

    /// The body as compact JSON. Cannot fail: every field is a string or a ``JSONValue``.
    public func encoded() -> [UInt8] {
        JSONCoding.encodeInfallibly(self)
    }

    /// The body as `Data`.
    public func encodedData() -> Data {
        Data(encoded())
    }

    /// Decodes a response body.
    ///
    /// - Parameter data: The body bytes.
    /// - Throws: `DecodingError` if the body is not in the error format (some proxies send HTML);
    ///   the caller then falls back to the HTTP status alone.
    public init(decoding data: Data) throws {
        self = try JSONCoding.decode(OCIErrorResponse.self, from: data)
    }

    /// Decodes a response body.
    public init(decoding bytes: [UInt8]) throws {
        try self.init(decoding: Data(bytes))
    }
}

extension OCIErrorResponse: CustomStringConvertible {
    /// The errors joined with `; `, for logs and CLI output.
    public var description: String {
        errors.isEmpty ? "empty error response" : errors.map(\.description).joined(separator: "; ")
    }
}
