import Foundation
import OCIModel
import RegistryClient
import Testing
import TestSupport

/// A registry front that demands Bearer tokens (or Basic credentials) and serves the token endpoint itself.
final class AuthGate: @unchecked Sendable {
    enum Mode { case bearer, basic }

    let rig: Rig
    /// `scheme://host:port` of the token realm in challenges; nil: the gate itself over plain HTTP.
    let realmBase: String?
    private let log = NSLock()
    private var tokenQueries: [(query: String, authorization: String?)] = []

    static let user = "alice"
    static let password = "s3cret:with:colons"
    static var basic: String { "Basic " + Data("\(user):\(password)".utf8).base64EncodedString() }
    /// The refresh token the token endpoint accepts in an OAuth2 `POST` (`grant_type=refresh_token`).
    static let refreshToken = "refresh-ok"

    /// - Parameters:
    ///   - expiresIn: The `expires_in` the token endpoint sends.
    ///   - realmBase: Where clients are sent for tokens, when a TLS front stands before the gate.
    init(mode: Mode, expiresIn: Int = 300, anonymousPull: Bool = false, revokeFirstToken: Bool = false,
         realmBase: String? = nil) async throws {
        self.realmBase = realmBase
        let box = UnsafeSendableBox<AuthGate?>(nil)
        rig = try await Rig(size: 30_000) { request, connection, server, upstream in
            box.value!.handle(request, connection, server, upstream, mode: mode, expiresIn: expiresIn,
                              anonymousPull: anonymousPull, revokeFirstToken: revokeFirstToken)
        }
        box.value = self
    }

    var tokenRequests: [(query: String, authorization: String?)] { log.withLock { tokenQueries } }

    private func handle(_ request: RawRequest, _ connection: FaultConnection, _ server: FaultServer, _ upstream: UInt16,
                        mode: Mode, expiresIn: Int, anonymousPull: Bool, revokeFirstToken: Bool) {
        if request.path == "/token" {
            var query = String(request.target.drop { $0 != "?" }.dropFirst())
            var refreshed = false
            if request.method == "POST" {
                // The OAuth2 form (docker token spec oauth.md): the fields in the body.
                query = String(decoding: connection.readBody(), as: UTF8.self)
                let fields = query.split(separator: "&")
                refreshed = fields.contains("grant_type=refresh_token") && fields.contains("refresh_token=\(Self.refreshToken)")
            }
            log.withLock { tokenQueries.append((query, request.header("Authorization"))) }
            let pullOnly = !query.contains("push") && !query.contains("catalog")
            guard refreshed || request.header("Authorization") == Self.basic
                || (anonymousPull && pullOnly && request.header("Authorization") == nil) else {
                connection.respond(401, headers: [("WWW-Authenticate", #"Basic realm="token""#)],
                                   body: ociErrorBody("UNAUTHORIZED", "bad credentials"))
                return
            }
            let n = server.count("issued")
            // Alternate the two field names the token spec allows.
            let field = n % 2 == 0 ? "access_token" : "token"
            connection.respond(200, headers: [("Content-Type", "application/json")],
                               body: Array(#"{"\#(field)":"tok-\#(n)","expires_in":\#(expiresIn)}"#.utf8))
            return
        }
        let authorization = request.header("Authorization") ?? ""
        let allowed = switch mode {
        case .bearer:
            // A revoked token works once, then is refused.
            authorization.hasPrefix("Bearer tok-")
                && !(revokeFirstToken && authorization == "Bearer tok-1" && server.count("tok-1 used") > 1)
        case .basic: authorization == Self.basic
        }
        guard allowed else {
            let challenge = switch mode {
            case .bearer:
                #"Bearer realm="\#(realmBase ?? "http://" + server.address)/token",service="gate.test""# + scopeParameter(request)
            case .basic:
                #"Basic realm="gate""#
            }
            _ = connection.readBody()
            connection.respond(401, headers: [("WWW-Authenticate", challenge)],
                               body: ociErrorBody("UNAUTHORIZED", "authentication required"))
            return
        }
        connection.respond(Rig.forward(request, connection, to: upstream, dropping: ["Authorization"]),
                           isHead: request.method == "HEAD")
    }

    /// The scope distribution would ask for this request.
    private func scopeParameter(_ request: RawRequest) -> String {
        let path = request.path
        if path == "/v2/_catalog" { return #",scope="registry:catalog:*""# }
        guard path.hasPrefix("/v2/"), path.count > 4 else { return "" }
        let rest = path.dropFirst(4)
        guard let end = ["/blobs/", "/manifests/", "/tags/"].compactMap({ rest.range(of: $0)?.lowerBound }).min() else { return "" }
        let action = request.method == "GET" || request.method == "HEAD" ? "pull" : (request.method == "DELETE" ? "delete" : "pull,push")
        return #",scope="repository:\#(rest[..<end]):\#(action)""#
    }
}

@Suite struct AuthTests {
    private func credentials() -> Credentials { Credentials(username: AuthGate.user, password: AuthGate.password) }

    @Test func bearerTokensAreFetchedWithBasicCredentialsAndCachedPerScope() async throws {
        let gate = try await AuthGate(mode: .bearer)
        defer { gate.rig.stop() }
        let rig = gate.rig
        let client = rig.client { $0.credentials = credentials() }
        try await client.ping()
        #expect(gate.tokenRequests.count == 1)
        #expect(gate.tokenRequests.first?.authorization == AuthGate.basic)
        #expect(gate.tokenRequests.first?.query == "service=gate.test")

        // Pull scope: one token for all reads of the repository.
        for _ in 0..<3 {
            #expect(try await client.blobExists(repository: rig.repository, digest: rig.descriptor.digest) == rig.descriptor.size)
        }
        try await client.downloadBlob(repository: rig.repository, descriptor: rig.descriptor,
                                      to: rig.work.file("via-token"), progress: nil)
        #expect(readFile(rig.work.file("via-token")) == rig.bytes)
        #expect(gate.tokenRequests.count == 2)
        #expect(gate.tokenRequests.last?.query == "service=gate.test&scope=repository:fault/app:pull")

        // Push scope: pull,push, once for the whole upload and manifest push.
        let (path, other) = try rig.work.blob("other", testBytes(5000, seed: "other"))
        try await client.uploadBlob(repository: rig.repository, descriptor: other, from: path, progress: nil)
        try await client.putManifest(repository: rig.repository, reference: "v1",
                                     bytes: imageManifest(config: rig.descriptor, layers: [other]),
                                     mediaType: MediaType.ociManifest.rawValue)
        #expect(gate.tokenRequests.count == 3)
        #expect(gate.tokenRequests.last?.query == "service=gate.test&scope=repository:fault/app:pull,push")

        // Mount: push on the target and pull on the source in one token.
        #expect(try await client.mountBlob(repository: "fault/copy", digest: other.digest, from: rig.repository))
        #expect(gate.tokenRequests.last?.query
            == "service=gate.test&scope=repository:fault/app:pull&scope=repository:fault/copy:pull,push")
        let before = gate.tokenRequests.count
        _ = try await client.fetchManifest(repository: rig.repository, reference: "v1", accept: [])
        _ = try await client.fetchManifest(repository: rig.repository, reference: "v1", accept: [])
        #expect(gate.tokenRequests.count == before, "cached pull token reused")
        // Concurrent requests for a new scope share one token fetch.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<6 {
                group.addTask { _ = try await client.blobExists(repository: "fault/copy", digest: other.digest) }
            }
            try await group.waitForAll()
        }
        #expect(gate.tokenRequests.count == before + 1)
    }

    @Test func aBurstOfChallengesCostsOneTokenRequest() async throws {
        let gate = try await AuthGate(mode: .bearer)
        defer { gate.rig.stop() }
        let client = gate.rig.client { $0.credentials = credentials() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    _ = try await client.blobExists(repository: gate.rig.repository, digest: gate.rig.descriptor.digest)
                }
            }
            try await group.waitForAll()
        }
        #expect(gate.tokenRequests.count == 1)
    }

    @Test func aRevokedTokenIsReplaced() async throws {
        let gate = try await AuthGate(mode: .bearer, revokeFirstToken: true)
        defer { gate.rig.stop() }
        let client = gate.rig.client { $0.credentials = credentials() }
        _ = try await client.blobExists(repository: gate.rig.repository, digest: gate.rig.descriptor.digest)
        _ = try await client.blobExists(repository: gate.rig.repository, digest: gate.rig.descriptor.digest)
        // tok-1 worked once, then was refused: a second token request replaced it.
        #expect(gate.tokenRequests.count == 2)
    }

    @Test func expiredTokensAreRenewed() async throws {
        // expires_in 5 s: renewed 5 s early, so every request needs a new one.
        let gate = try await AuthGate(mode: .bearer, expiresIn: 5)
        defer { gate.rig.stop() }
        let client = gate.rig.client { $0.credentials = credentials() }
        _ = try await client.blobExists(repository: gate.rig.repository, digest: gate.rig.descriptor.digest)
        let first = gate.tokenRequests.count
        try await Task.sleep(for: .milliseconds(1100))
        _ = try await client.blobExists(repository: gate.rig.repository, digest: gate.rig.descriptor.digest)
        #expect(gate.tokenRequests.count == first + 1)
    }

    @Test func missingOrWrongCredentialsFailWithAnAuthenticationError() async throws {
        let gate = try await AuthGate(mode: .bearer)
        defer { gate.rig.stop() }
        let anonymous = gate.rig.client()
        let failure = await #expect(throws: RegistryClientError.self) {
            _ = try await anonymous.blobExists(repository: gate.rig.repository, digest: gate.rig.descriptor.digest)
        }
        #expect(failure?.kind == .authentication)
        #expect(failure?.status == 401)
        #expect(failure?.description.contains("token endpoint") == true, "\(failure?.description ?? "")")
        #expect(failure?.description.contains("anonymous") == true, "\(failure?.description ?? "")")

        let wrong = gate.rig.client { $0.credentials = Credentials(username: AuthGate.user, password: "nope") }
        let refused = await #expect(throws: RegistryClientError.self) { try await wrong.ping() }
        #expect(refused?.kind == .authentication)
        #expect(refused?.description.contains("alice") == true, "\(refused?.description ?? "")")
        // Nothing was retried against the token endpoint: a 401 is final.
        #expect(gate.tokenRequests.count == 2)
    }

    @Test func anonymousTokensServePublicPulls() async throws {
        let gate = try await AuthGate(mode: .bearer, anonymousPull: true)
        defer { gate.rig.stop() }
        let anonymous = gate.rig.client()
        #expect(try await anonymous.blobExists(repository: gate.rig.repository, digest: gate.rig.descriptor.digest) != nil)
        #expect(gate.tokenRequests.first?.authorization == nil)
    }

    @Test func basicChallengeUsesCredentials() async throws {
        let gate = try await AuthGate(mode: .basic)
        defer { gate.rig.stop() }
        let client = gate.rig.client { $0.credentials = credentials() }
        try await client.ping()
        try await client.downloadBlob(repository: gate.rig.repository, descriptor: gate.rig.descriptor,
                                      to: gate.rig.work.file("basic"), progress: nil)
        #expect(readFile(gate.rig.work.file("basic")) == gate.rig.bytes)
        // Once Basic is known, requests carry it up front: no second 401.
        let unauthorized = gate.rig.proxy.requests.filter { $0.header("Authorization") == nil }
        #expect(unauthorized.count == 1 + 1, "the probe of the scheme and the first ping only")

        let anonymous = gate.rig.client()
        let failure = await #expect(throws: RegistryClientError.self) { try await anonymous.ping() }
        #expect(failure?.status == 401)
        #expect(failure?.codes == [.unauthorized])
    }

    @Test func credentialsComeFromTheAuthFile() async throws {
        let gate = try await AuthGate(mode: .bearer)
        defer { gate.rig.stop() }
        let home = makeTemporaryDirectory(prefix: "swr-client-home")
        defer { removeTree(home) }
        var file = try AuthFile(path: home + "/.docker/config.json")
        file.setCredentials(credentials(), for: gate.rig.proxy.address)
        try file.save()
        let client = gate.rig.client { $0.environment = ["HOME": home] }
        try await client.ping()
        #expect(gate.tokenRequests.last?.authorization == AuthGate.basic)

        // login checks the credentials first, then writes them; wrong ones are not written.
        let runtime = makeTemporaryDirectory(prefix: "swr-client-xdg")
        defer { removeTree(runtime) }
        let environment = ["HOME": home, "XDG_RUNTIME_DIR": runtime]
        await #expect(throws: RegistryClientError.self) {
            try await AuthFile.login(registry: gate.rig.proxy.address,
                                     credentials: Credentials(username: "mallory", password: "x"),
                                     options: testOptions { $0.environment = environment }, engine: gate.rig.engine)
        }
        #expect(!fileExists(runtime + "/containers/auth.json"))
        let written = runtime + "/containers/auth.json"
        #expect(try await AuthFile.login(registry: gate.rig.proxy.address, credentials: credentials(),
                                         options: testOptions { $0.environment = environment }, engine: gate.rig.engine)
            == .file(written))
        #expect(try AuthFile(path: written).credentials(for: gate.rig.proxy.address) == credentials())
        #expect(fileMode(written) == 0o600)
    }
}
