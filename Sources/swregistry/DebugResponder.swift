import HTTPServer
import Registry

/// The `http.debug.addr` listener's answers (as distribution's debug server): `/metrics`, `/healthz` and
/// `/readyz`, without authentication, for a scraper or a kubelet on loopback or a cluster-internal port. Nothing
/// else: no registry API, no store access.
struct DebugResponder: HTTPResponder {
    /// Renders `/metrics`; nil when `metrics.enabled` is false (then 404).
    let metrics: (@Sendable () -> [UInt8])?
    let readiness: ReadinessProbe

    func respond(to request: Request, body: RequestBody) async throws -> Response {
        let path = request.path
        guard path == "/metrics" || path == "/healthz" || path == "/readyz" else {
            return .text(.notFound, "404 page not found")
        }
        guard request.method == "GET" || request.method == "HEAD" else {
            var response = Response.text(.methodNotAllowed, "method not allowed")
            response.headers.set("Allow", "GET, HEAD")
            return response
        }
        switch path {
        case "/metrics":
            guard let metrics else { return .text(.notFound, "404 page not found") }
            return RegistryResponder.metricsResponse(metrics())
        case "/healthz":
            return Response(status: .ok, headers: ["Content-Type": "application/json"], bytes: Array(#"{"status":"ok"}"#.utf8))
        default:
            return await readiness.response()
        }
    }
}
