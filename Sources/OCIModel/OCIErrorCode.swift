/// An error code of the registry API, the `code` in `{"errors":[{"code":…}]}`.
///
/// A struct over the string rather than an enum, because clients decode codes from registries that
/// invent their own (distribution's `UNKNOWN`, `UNAVAILABLE`, vendor codes); an unrecognised code
/// round-trips intact and simply has no special status or message.
///
/// ``status`` gives the HTTP status each code is normally sent with, as in the Docker registry API
/// spec and distribution's `errcode` package. A handler may still choose another status where the
/// API spec says so (it lists `BLOB_UNKNOWN` under 400 for a manifest push with missing layers).
public struct OCIErrorCode: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    /// The code as sent on the wire, uppercase letters and underscores.
    public let rawValue: String

    public init(rawValue: String) { self.rawValue = rawValue }

    public var description: String { rawValue }
}

// MARK: - distribution-spec codes (code-1 … code-14)

extension OCIErrorCode {
    /// code-1: blob unknown to registry.
    public static let blobUnknown = OCIErrorCode(rawValue: "BLOB_UNKNOWN")
    /// code-2: blob upload invalid.
    public static let blobUploadInvalid = OCIErrorCode(rawValue: "BLOB_UPLOAD_INVALID")
    /// code-3: blob upload unknown to registry.
    public static let blobUploadUnknown = OCIErrorCode(rawValue: "BLOB_UPLOAD_UNKNOWN")
    /// code-4: provided digest did not match uploaded content.
    public static let digestInvalid = OCIErrorCode(rawValue: "DIGEST_INVALID")
    /// code-5: manifest references a manifest or blob unknown to registry.
    public static let manifestBlobUnknown = OCIErrorCode(rawValue: "MANIFEST_BLOB_UNKNOWN")
    /// code-6: manifest invalid.
    public static let manifestInvalid = OCIErrorCode(rawValue: "MANIFEST_INVALID")
    /// code-7: manifest unknown to registry.
    public static let manifestUnknown = OCIErrorCode(rawValue: "MANIFEST_UNKNOWN")
    /// code-8: invalid repository name.
    public static let nameInvalid = OCIErrorCode(rawValue: "NAME_INVALID")
    /// code-9: repository name not known to registry.
    public static let nameUnknown = OCIErrorCode(rawValue: "NAME_UNKNOWN")
    /// code-10: provided length did not match content length.
    public static let sizeInvalid = OCIErrorCode(rawValue: "SIZE_INVALID")
    /// code-11: authentication required.
    public static let unauthorized = OCIErrorCode(rawValue: "UNAUTHORIZED")
    /// code-12: requested access to the resource is denied.
    public static let denied = OCIErrorCode(rawValue: "DENIED")
    /// code-13: the operation is unsupported.
    public static let unsupported = OCIErrorCode(rawValue: "UNSUPPORTED")
    /// code-14: too many requests.
    public static let tooManyRequests = OCIErrorCode(rawValue: "TOOMANYREQUESTS")

    /// The fourteen codes distribution-spec says the `code` field MUST be one of.
    public static let specified: [OCIErrorCode] = [
        .blobUnknown, .blobUploadInvalid, .blobUploadUnknown, .digestInvalid, .manifestBlobUnknown,
        .manifestInvalid, .manifestUnknown, .nameInvalid, .nameUnknown, .sizeInvalid, .unauthorized,
        .denied, .unsupported, .tooManyRequests,
    ]
}

// MARK: - Docker registry / distribution extras that clients meet

extension OCIErrorCode {
    /// An upload chunk's `Content-Range` does not continue the upload (416).
    public static let rangeInvalid = OCIErrorCode(rawValue: "RANGE_INVALID")
    /// The `n` of a tag listing is not a usable number.
    public static let paginationNumberInvalid = OCIErrorCode(rawValue: "PAGINATION_NUMBER_INVALID")
    /// Schema 1 legacy: the tag in the manifest did not match the URL.
    public static let tagInvalid = OCIErrorCode(rawValue: "TAG_INVALID")
    /// Schema 1 legacy: signature verification failed.
    public static let manifestUnverified = OCIErrorCode(rawValue: "MANIFEST_UNVERIFIED")
    /// distribution's catch-all for unclassified errors (500).
    public static let unknown = OCIErrorCode(rawValue: "UNKNOWN")
    /// distribution's "service unavailable" (503).
    public static let unavailable = OCIErrorCode(rawValue: "UNAVAILABLE")

    /// Every code this type knows a status and message for.
    public static let known: [OCIErrorCode] = specified + [
        .rangeInvalid, .paginationNumberInvalid, .tagInvalid, .manifestUnverified, .unknown, .unavailable,
    ]
}

// MARK: - Status, message, retry

extension OCIErrorCode {
    /// The HTTP status this code is sent with; 500 for codes this type does not know.
    ///
    /// `*_UNKNOWN` codes are 404, except `MANIFEST_BLOB_UNKNOWN`: it rejects the manifest being
    /// pushed, not a missing resource, so it is 400 as in distribution and as the API spec's
    /// "Missing Layer(s)" response. `BLOB_UPLOAD_INVALID` is 400 as in the API spec (distribution's
    /// code table says 404, contradicting its own spec).
    public var status: Int {
        switch self {
        case .blobUnknown, .blobUploadUnknown, .manifestUnknown, .nameUnknown: 404
        case .blobUploadInvalid, .digestInvalid, .manifestBlobUnknown, .manifestInvalid, .nameInvalid,
             .sizeInvalid, .paginationNumberInvalid, .tagInvalid, .manifestUnverified:
            400
        case .unauthorized: 401
        case .denied: 403
        case .unsupported: 405
        case .rangeInvalid: 416
        case .tooManyRequests: 429
        case .unavailable: 503
        default: 500
        }
    }

    /// The spec's message for this code; for unknown codes, the code in words.
    public var defaultMessage: String {
        switch self {
        case .blobUnknown: "blob unknown to registry"
        case .blobUploadInvalid: "blob upload invalid"
        case .blobUploadUnknown: "blob upload unknown to registry"
        case .digestInvalid: "provided digest did not match uploaded content"
        case .manifestBlobUnknown: "manifest references a manifest or blob unknown to registry"
        case .manifestInvalid: "manifest invalid"
        case .manifestUnknown: "manifest unknown to registry"
        case .nameInvalid: "invalid repository name"
        case .nameUnknown: "repository name not known to registry"
        case .sizeInvalid: "provided length did not match content length"
        case .unauthorized: "authentication required"
        case .denied: "requested access to the resource is denied"
        case .unsupported: "the operation is unsupported"
        case .tooManyRequests: "too many requests"
        case .rangeInvalid: "invalid content range"
        case .paginationNumberInvalid: "invalid number of results requested"
        case .tagInvalid: "manifest tag did not match URI"
        case .manifestUnverified: "manifest failed signature verification"
        case .unknown: "unknown error"
        case .unavailable: "service unavailable"
        default: rawValue.lowercased().split(separator: "_").joined(separator: " ")
        }
    }

    /// Whether a client should retry the same request later (with backoff): the registry is
    /// throttling (`TOOMANYREQUESTS`) or temporarily down (`UNAVAILABLE`). Other codes describe
    /// the request itself, and repeating it would fail the same way.
    public var isRetryable: Bool {
        self == .tooManyRequests || self == .unavailable
    }
}
