import BlobStore
import HTTPServer
import OCIModel

/// An error as the registry answers it: an OCI error code, rendered once as the distribution-spec JSON body
/// with the code's HTTP status (or an explicit one, such as 416 for an out-of-order chunk).
public struct RegistryError: Error, Sendable {
    public var response: OCIErrorResponse
    public var status: Int
    /// Extra headers, such as `Allow` for 405 or `Range` for 416.
    public var headers: HTTPHeaders

    public init(_ code: OCIErrorCode, _ message: String? = nil, detail: JSONValue? = nil, status: Int? = nil,
                headers: HTTPHeaders = [:]) {
        response = OCIErrorResponse(code, message: message, detail: detail)
        self.status = status ?? code.status
        self.headers = headers
    }

    /// The HTTP response carrying this error.
    public var httpResponse: Response {
        var all = RegistryResponder.apiHeaders
        for (name, value) in headers { all.set(name, value) }
        return Response(status: HTTPStatus(status), headers: all, bytes: response.encoded())
    }

    /// The one translation from store errors to OCI errors.
    init(_ error: StoreError) {
        switch error {
        case .blobUnknown(let d):
            self.init(.blobUnknown, "blob unknown to registry", detail: .object(["digest": .string(d.description)]))
        case .manifestUnknown(let r):
            self.init(.manifestUnknown, "manifest unknown to registry", detail: .object(["reference": .string(r)]))
        case .nameUnknown(let n):
            self.init(.nameUnknown, "repository name not known to registry", detail: .object(["name": .string(n)]))
        case .uploadUnknown(let id):
            self.init(.blobUploadUnknown, "blob upload unknown to registry", detail: .object(["id": .string(id)]))
        case .digestMismatch(let expected, let actual):
            self.init(.digestInvalid, "provided digest did not match uploaded content",
                      detail: .object(["expected": .string(expected.description), "actual": .string(actual.description)]))
        case .sizeInvalid(let why):
            self.init(.sizeInvalid, why)
        case .rangeInvalid(let size):
            self.init(.blobUploadInvalid, "chunk does not start at the end of the upload (\(size) bytes)", status: 416,
                      headers: ["Range": "0-\(max(size - 1, 0))"])
        case .manifestInvalid(let why):
            self.init(.manifestInvalid, why)
        case .manifestBlobUnknown(let d):
            self.init(.manifestBlobUnknown, "manifest references a manifest or blob unknown to registry",
                      detail: .object(["digest": .string(d.description)]))
        case .tooManyUploads(let limit):
            self.init(.tooManyRequests, "too many upload sessions open (limit \(limit))")
        case .tooManyUploadsForOwner(let limit):
            self.init(.tooManyRequests, "too many upload sessions open for this client (limit \(limit))")
        case .uploadBusy(let id):
            self.init(.blobUploadInvalid, "another request is writing to upload \(id)", status: 416)
        case .io(let e) where e.isNoSpace:
            // 507 Insufficient Storage (RFC 4918): the request was fine, the disk is full; nothing was stored.
            self.init(.unknown, "storage full: the registry has no space left to store this", status: 507)
        case .io(let e):
            // Without the paths: the server's log has the whole error.
            self.init(.unknown, "storage error: \(e.summary)", status: 500)
        case .unavailable(let why):
            // Retry-After: the backend is usually back within seconds (a database fail-over, an object store restart).
            self.init(.unavailable, "storage unavailable: \(why)", headers: ["Retry-After": "1"])
        }
    }
}
