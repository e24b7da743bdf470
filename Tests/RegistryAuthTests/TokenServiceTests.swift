import Foundation
@testable import RegistryAuth
import Testing
import TestSupport

@Suite struct TokenServiceTests {
    let directory = makeTemporaryDirectory(prefix: "tokenservice")
    let signer: TokenSigner
    let service: TokenService
    let verifier: TokenAuthenticator

    /// The policy of these tests: alice may pull and push `team/*` (and is offered `delete`, which she never asks
    /// for, to show a token holds no more than requested); everyone may pull `public/*`.
    static let grant: @Sendable (Identity, [Scope]) -> [Scope] = { identity, requested in
        requested.map { scope in
            if identity.user == "alice" && scope.name.hasPrefix("team/") {
                return Scope(type: scope.type, name: scope.name, actions: ["pull", "push", "delete"])
            }
            return Scope(type: scope.type, name: scope.name, actions: scope.name.hasPrefix("public/") ? ["pull"] : [])
        }
    }

    init() throws {
        let line = try HtpasswdTests.bcryptLine(user: "alice", password: "s3cret")
        try Data((line + "\n").utf8).write(to: URL(fileURLWithPath: "\(directory)/htpasswd"))
        chmod("\(directory)/htpasswd", 0o600)
        signer = try TokenSigner(keyPath: "\(directory)/token-key.pem", issuer: "swregistry")
        let users = BasicAuthenticator(realm: "swregistry", users: try HtpasswdFile(path: "\(directory)/htpasswd"))
        service = TokenService(service: "registry.test", signer: signer, expiration: 300, users: users, grant: Self.grant)
        verifier = TokenAuthenticator(realm: "https://x/token", service: "registry.test", issuer: "swregistry",
                                      trust: signer.trust)
    }

    func basic(_ credentials: String) -> String { "Basic " + Data(credentials.utf8).base64EncodedString() }

    func body(_ response: TokenService.Response) throws -> JSON {
        try #require(JSON.parse(response.body))
    }

    func identity(of response: TokenService.Response, field: String = "token") throws -> Identity? {
        let token = try #require(try body(response)[field]?.string)
        guard case .authenticated(let identity) = verifier.authenticate(authorization: "Bearer " + token) else { return nil }
        return identity
    }

    /// A requested `*` gets every action the policy grants, and never more than was asked.
    @Test func requestedWildcardGetsWhatIsGranted() {
        let granted: [Scope] = [.repository("team/app", [.pull, .push]), .catalog]
        let requested = [Scope(parsing: "repository:team/app:*")!, Scope(parsing: "repository:other:*")!,
                         Scope(parsing: "registry:catalog:*")!]
        let token = TokenService.intersect(granted: granted, requested: requested)
        #expect(token.map(\.description) == ["repository:team/app:pull,push", "registry:catalog:*"])
        #expect(TokenService.intersect(granted: granted, requested: [Scope(parsing: "repository:team/app:pull")!])
            .map(\.description) == ["repository:team/app:pull"])
    }

    /// A request naming more scopes than any client needs is refused before any work on them.
    @Test func tooManyScopesAreRefused() {
        let many = (0...TokenService.maxScopes).map { "repository:r\($0):pull" }.joined(separator: " ")
        #expect(TokenService.parseScopes(many) == nil)
        #expect(TokenService.parseScopes(many.split(separator: " ").dropLast().joined(separator: " "))?.count
                == TokenService.maxScopes)
    }

    @Test func signerKeyIsCreatedPrivateAndReused() throws {
        let path = "\(directory)/token-key.pem"
        var st = stat()
        #expect(stat(path, &st) == 0)
        #expect(st.st_mode & 0o777 == 0o600)
        #expect(try TokenSigner(keyPath: path, issuer: "swregistry").keyID == signer.keyID)
        chmod(path, 0o644)
        #expect(throws: AuthError.self) { try TokenSigner(keyPath: path, issuer: "swregistry") }
        #expect(throws: AuthError("token key /nonexistent/dir/key.pem: directory /nonexistent/dir does not exist")) {
            try TokenSigner(keyPath: "/nonexistent/dir/key.pem", issuer: "swregistry")
        }
        let jwks = try #require(JSON.parse(signer.publicJWKS))
        #expect(jwks["keys"]?.array?.first?["kid"]?.string == signer.keyID)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).sorted() == ["htpasswd", "token-key.pem"])
    }

    /// The JWKS an operator publishes lets another registry (`auth.token.jwks`) trust the built-in service.
    @Test func publishedJWKSVerifiesTheServiceTokens() throws {
        try Data(signer.publicJWKS).write(to: URL(fileURLWithPath: "\(directory)/service.jwks"))
        let trust = try TokenTrust(rootCertBundlePath: nil, jwksPath: "\(directory)/service.jwks")
        #expect(trust.keyIDs.contains(signer.keyID))
        let other = TokenAuthenticator(realm: "r", service: "registry.test", issuer: "swregistry", trust: trust)
        let response = service.respond(method: "GET", query: [("service", "registry.test"), ("scope", "repository:team/a:push")],
                                       form: nil, authorization: basic("alice:s3cret"))
        let token = try #require(try body(response)["token"]?.string)
        #expect(other.authenticate(authorization: "Bearer " + token)
            == .authenticated(Identity(user: "alice", grantedScopes: [.repository("team/a", [.push])])))
    }

    @Test func getAnonymousGetsWhatTheGrantGivesAnonymous() throws {
        let response = service.respond(method: "GET", query: [
            ("service", "registry.test"), ("scope", "repository:public/app:pull,push"), ("scope", "repository:team/app:pull"),
        ], form: nil, authorization: nil)
        #expect(response.status == 200)
        #expect(response.authentication == .anonymous)
        let json = try body(response)
        #expect(json["token"] == json["access_token"])
        #expect(json["expires_in"] == .number(300))
        #expect(json["issued_at"]?.string?.hasSuffix("Z") == true)
        #expect(json["refresh_token"] == nil)
        // team/app: nothing granted, so not in the token at all.
        #expect(try identity(of: response) == Identity(user: nil, grantedScopes: [
            Scope(type: "repository", name: "public/app", actions: ["pull"]),
        ]))
    }

    @Test func getWithBasicCredentialsGetsTheIntersection() throws {
        let response = service.respond(method: "GET", query: [
            ("service", "registry.test"), ("scope", "repository:team/app:pull,push repository:team/app:pull"),
            ("account", "alice"), ("offline_token", "true"),
        ], form: nil, authorization: basic("alice:s3cret"))
        #expect(response.status == 200)
        #expect(response.authentication == .authenticated(Identity(user: "alice")))
        #expect(try identity(of: response) == Identity(user: "alice", grantedScopes: [.repository("team/app", [.pull, .push])]))
        #expect(try body(response)["refresh_token"]?.string != nil)
    }

    @Test func getRefusals() throws {
        let wrong = service.respond(method: "GET", query: [("service", "registry.test")], form: nil,
                                    authorization: basic("alice:guess"))
        #expect(wrong.status == 401)
        #expect(wrong.authentication == .invalid(reason: "wrong password", user: "alice"))
        #expect(wrong.headers.contains { $0.name == "WWW-Authenticate" && $0.value == #"Basic realm="swregistry""# })
        let unknown = service.respond(method: "GET", query: [("service", "other")], form: nil, authorization: nil)
        #expect(unknown.status == 400)
        #expect(service.respond(method: "GET", query: [], form: nil, authorization: nil).status == 400)
        let badScope = service.respond(method: "GET", query: [("service", "registry.test"), ("scope", "repository")],
                                       form: nil, authorization: nil)
        #expect(badScope.status == 400)
        #expect(try body(badScope)["error"] == .string("invalid_scope"))
        let otherAccount = service.respond(method: "GET", query: [("service", "registry.test"), ("account", "bob")],
                                           form: nil, authorization: basic("alice:s3cret"))
        #expect(otherAccount.status == 400)
        #expect(service.respond(method: "PUT", query: [], form: nil, authorization: nil).status == 405)
    }

    func post(_ fields: String) -> TokenService.Response {
        service.respond(method: "POST", query: [], form: Array(fields.utf8), authorization: nil)
    }

    @Test func postPasswordThenRefreshToken() throws {
        let first = post("grant_type=password&username=alice&password=s3cret&service=registry.test"
            + "&client_id=containerd-client&access_type=offline&scope=repository%3Ateam%2Fapp%3Apull")
        #expect(first.status == 200)
        let json = try body(first)
        #expect(json["scope"] == .string("repository:team/app:pull"))
        #expect(try identity(of: first, field: "access_token") == Identity(user: "alice", grantedScopes: [.repository("team/app", [.pull])]))
        let refresh = try #require(json["refresh_token"]?.string)
        // A refresh token is not an access token.
        guard case .invalid = verifier.authenticate(authorization: "Bearer " + refresh) else {
            Issue.record("refresh token accepted as an access token")
            return
        }
        let second = post("grant_type=refresh_token&refresh_token=\(refresh)&service=registry.test&client_id=c"
            + "&scope=repository:team/app:pull,push+repository:public/x:pull")
        #expect(second.status == 200)
        #expect(try body(second)["refresh_token"] == .string(refresh))
        #expect(try body(second)["scope"] == .string("repository:team/app:pull,push repository:public/x:pull"))
        #expect(try identity(of: second, field: "access_token") == Identity(user: "alice", grantedScopes: [
            .repository("team/app", [.pull, .push]), .repository("public/x", [.pull]),
        ]))
        // An access token is not a refresh token.
        let access = try #require(try body(second)["access_token"]?.string)
        #expect(post("grant_type=refresh_token&refresh_token=\(access)&service=registry.test&client_id=c").status == 401)
    }

    /// A changed password revokes the refresh tokens the old one obtained (the user is still there).
    @Test func aPasswordChangeRevokesRefreshTokens() throws {
        let first = post("grant_type=password&username=alice&password=s3cret&service=registry.test"
            + "&client_id=c&access_type=offline&scope=repository%3Ateam%2Fapp%3Apull")
        let refresh = try #require(try body(first)["refresh_token"]?.string)
        let line = try HtpasswdTests.bcryptLine(user: "alice", password: "changed")
        let users = BasicAuthenticator(realm: "swregistry", users: try HtpasswdFile(contents: Array((line + "\n").utf8),
                                                                                    path: "changed"))
        let changed = TokenService(service: "registry.test", signer: signer, expiration: 300, users: users,
                                   grant: Self.grant)
        let form = "grant_type=refresh_token&refresh_token=\(refresh)&service=registry.test&client_id=c"
        #expect(changed.respond(method: "POST", query: [], form: Array(form.utf8), authorization: nil).status == 401)
        #expect(post(form).status == 200, "the unchanged service still accepts it")
    }

    @Test func postRefusals() throws {
        let wrong = post("grant_type=password&username=alice&password=guess&service=registry.test&client_id=c")
        #expect(wrong.status == 401)
        #expect(wrong.authentication == .invalid(reason: "wrong password", user: "alice"))
        #expect(post("grant_type=password&username=alice&password=s3cret&service=registry.test").status == 400)
        #expect(post("grant_type=password&username=alice&password=s3cret&service=other&client_id=c").status == 400)
        #expect(post("grant_type=authorization_code&service=registry.test&client_id=c").status == 400)
        #expect(post("grant_type=password&username=alice&password=%zz&service=registry.test&client_id=c").status == 400)
        #expect(post("grant_type=refresh_token&refresh_token=a.b.c&service=registry.test&client_id=c").status == 401)
        let big = [UInt8](repeating: UInt8(ascii: "a"), count: TokenService.maxFormBytes + 1)
        #expect(service.respond(method: "POST", query: [], form: big, authorization: nil).status == 400)
    }
}
