import HTTPServer
import Logging
import OCIModel

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
        do {
            return try await route(request, body: body)
        } catch let error as RegistryError {
            return error.httpResponse
        }
    }

    private func route(_ request: Request, body: RequestBody) async throws -> Response {
        switch request.path {
        case "/v2", "/v2/":
            try allow(request, "GET", "HEAD")
            return Response(status: .ok, headers: Self.apiHeaders, bytes: Array("{}".utf8))
        case "/healthz":
            try allow(request, "GET", "HEAD")
            return Response(status: .ok, headers: ["Content-Type": "application/json"], bytes: Array(#"{"status":"ok"}"#.utf8))
        default:
            // As distribution does for paths outside the API: a plain 404.
            return .text(.notFound, "404 page not found")
        }
    }

    private func allow(_ request: Request, _ methods: String...) throws(RegistryError) {
        guard methods.contains(request.method) else {
            throw RegistryError(.unsupported, "\(request.method) is not supported here",
                                headers: ["Allow": methods.joined(separator: ", ")])
        }
    }

    /// Headers of every API response.
    static let apiHeaders: HTTPHeaders = [
        "Content-Type": "application/json",
        "Docker-Distribution-API-Version": "registry/2.0",
    ]
}
