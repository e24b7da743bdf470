import HTTPServer
import OCIModel

/// An error as the registry answers it: an OCI error code, rendered once as the distribution-spec JSON body
/// with the code's HTTP status.
public struct RegistryError: Error, Sendable {
    public var response: OCIErrorResponse
    /// Extra headers, such as `Allow` for 405 or `Content-Range` for 416.
    public var headers: HTTPHeaders

    public init(_ code: OCIErrorCode, _ message: String? = nil, detail: JSONValue? = nil, headers: HTTPHeaders = [:]) {
        response = OCIErrorResponse(code, message: message, detail: detail)
        self.headers = headers
    }

    /// The HTTP response carrying this error.
    public var httpResponse: Response {
        var all = RegistryResponder.apiHeaders
        for (name, value) in headers { all.set(name, value) }
        return Response(status: HTTPStatus(response.status), headers: all, bytes: response.encoded())
    }
}
