import Glibc
import HTTPServer
import OCIModel
import Registry
import SystemIO
import Testing

/// The registry responder called directly, without sockets.
@Suite struct VersionCheckTests {
    let responder: RegistryResponder

    init() throws {
        responder = try RegistryResponder(configuration: RegistryConfiguration(
            storagePath: "/tmp/swr-version-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"))
    }

    func call(_ method: String, _ target: String) async throws -> Response {
        let head = RequestHead(method: method, target: target, headers: ["Host": "t"])
        let request = Request(head: head, remoteAddress: try SocketAddress(parsing: "127.0.0.1:1"))
        return try await responder.respond(to: request, body: RequestBody(bytes: []))
    }

    @Test(arguments: ["/v2/", "/v2"])
    func versionCheckAnswers200WithAPIVersionHeader(path: String) async throws {
        let response = try await call("GET", path)
        #expect(response.status == .ok)
        #expect(response.headers["Docker-Distribution-API-Version"] == "registry/2.0")
        guard case .bytes(let body) = response.body else { Issue.record("no body"); return }
        #expect(body == Array("{}".utf8))
    }

    @Test func otherMethodsGetUnsupportedWithOCIBody() async throws {
        let response = try await call("DELETE", "/v2/")
        #expect(response.status.code == 405)
        #expect(response.headers["Allow"] == "GET, HEAD")
        guard case .bytes(let body) = response.body else { Issue.record("no body"); return }
        let decoded = try OCIErrorResponse(decoding: body)
        #expect(decoded.errors.first?.code == .unsupported)
    }

    @Test func healthAndUnknownPaths() async throws {
        #expect(try await call("GET", "/healthz").status == .ok)
        #expect(try await call("GET", "/nope").status == .notFound)
    }
}
