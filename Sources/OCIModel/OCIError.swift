/// One entry of a registry error response: `{"code":…,"message":…,"detail":…}`.
public struct OCIError: Error, Hashable, Sendable, Codable {
    /// What went wrong, as a machine-readable code.
    public var code: OCIErrorCode
    /// A human-readable explanation; OPTIONAL on the wire, so it decodes as `""` when absent.
    public var message: String
    /// Free-form JSON that helps the client resolve the error, e.g. `{"digest": "sha256:…"}`.
    public var detail: JSONValue?

    /// Makes an error entry.
    ///
    /// - Parameters:
    ///   - code: The error code.
    ///   - message: The explanation; the code's ``OCIErrorCode/defaultMessage`` by default.
    ///   - detail: Optional structured detail.
    public init(_ code: OCIErrorCode, message: String? = nil, detail: JSONValue? = nil) {
        self.code = code
        self.message = message ?? code.defaultMessage
        self.detail = detail
    }

    enum CodingKeys: String, CodingKey {
        case code, message, detail
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        code = try container.decode(OCIErrorCode.self, forKey: .code)
        message = try container.decodeIfPresent(String.self, forKey: .message) ?? ""
        detail = try container.decodeIfPresent(JSONValue.self, forKey: .detail)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(code, forKey: .code)
        try container.encode(message, forKey: .message)
        try container.encodeIfPresent(detail, forKey: .detail)
    }

    /// Whether the request may succeed if retried later; see ``OCIErrorCode/isRetryable``.
    public var isRetryable: Bool { code.isRetryable }
}

extension OCIError: CustomStringConvertible {
    /// `CODE: message`, for logs and CLI output.
    public var description: String {
        message.isEmpty ? code.rawValue : "\(code.rawValue): \(message)"
    }
}
