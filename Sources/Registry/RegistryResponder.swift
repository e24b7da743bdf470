import HTTPServer
import Logging

/// The registry's HTTP face: routes distribution-spec requests.
///
/// This first version answers the API version check and the health probe; the blob, manifest, tag, referrer
/// and catalog routes build on it.
public struct RegistryResponder: HTTPResponder {
    public let configuration: RegistryConfiguration

    public init(configuration: RegistryConfiguration) {
        self.configuration = configuration
    }

    public func respond(to request: Request, body: RequestBody) async throws -> Response {
        let path = request.path
        switch path {
        case "/v2", "/v2/":
            guard request.method == "GET" || request.method == "HEAD" else { return methodNotAllowed("GET, HEAD") }
            return Response(status: .ok, headers: Self.jsonHeaders, bytes: Array("{}".utf8))
        case "/healthz":
            guard request.method == "GET" || request.method == "HEAD" else { return methodNotAllowed("GET, HEAD") }
            return Response(status: .ok, headers: ["Content-Type": "application/json"], bytes: Array(#"{"status":"ok"}"#.utf8))
        default:
            return Response(status: .notFound, headers: Self.jsonHeaders,
                            bytes: Array(#"{"errors":[{"code":"NOT_FOUND","message":"no such route"}]}"#.utf8))
        }
    }

    private func methodNotAllowed(_ allow: String) -> Response {
        var headers = Self.jsonHeaders
        headers.set("Allow", allow)
        return Response(status: .methodNotAllowed, headers: headers,
                        bytes: Array(#"{"errors":[{"code":"UNSUPPORTED","message":"the operation is unsupported"}]}"#.utf8))
    }

    static let jsonHeaders: HTTPHeaders = [
        "Content-Type": "application/json",
        "Docker-Distribution-API-Version": "registry/2.0",
    ]
}
