import Foundation
import OCIModel
import Registry
import RegistryAuth
import Testing
import TestSupport

/// Every API endpoint × {anonymous, reader, writer, admin, wrong password}, over a live server, with Basic
/// credentials and with bearer tokens: the status, and for a 401 the challenge with the exact scope needed.
@Suite(.serialized) struct AccessMatrixTests {
    /// Who asks.
    enum Caller: String, CaseIterable {
        case anonymous, reader, writer, admin, wrongPassword
    }

    /// What an endpoint needs.
    enum Need {
        case login, pull, push, delete
    }

    static let passwords = ["reader": "r-pw", "writer": "w-pw", "root": "root-pw"]

    /// reader may pull `m/**`, writer pull and push; root is the admin; anonymous nothing.
    static let accessControl = AccessControlConfiguration(
        repositories: [.init(pattern: "m/**", policies: [
            .init(users: ["reader"], actions: [.pull]),
            .init(users: ["writer"], actions: [.pull, .push]),
        ])],
        adminPolicy: .init(users: ["root"], actions: [.pull, .push, .delete]))

    /// Tokens that grant everything on the test repositories: what a caller gets is then the policy's part.
    static let tokenIdentities: [String: Identity] = {
        let everything = ["m/app", "m/src", "m/src2"].map { Scope(type: "repository", name: $0, actions: ["*"]) } + [.catalog]
        return ["tok-reader": Identity(user: "reader", grantedScopes: everything),
                "tok-writer": Identity(user: "writer", grantedScopes: everything),
                "tok-root": Identity(user: "root", grantedScopes: everything)]
    }()

    /// How the callers prove who they are: the test fixtures (the registry's enforcement alone), and the product's
    /// own authenticators: htpasswd (bcrypt), JWTs of an external token server (trusted through its JWKS), and the
    /// built-in token service (tokens fetched from it, granting what the policy allows).
    enum Kind: String, CaseIterable {
        case fixedBasic, fixedBearer, htpasswd, externalTokens, builtInTokens
        var isBearer: Bool { self == .fixedBearer || self == .externalTokens || self == .builtInTokens }
    }

    /// A registry's security for one kind, and the `Authorization` each caller sends.
    struct Credentials {
        let security: RegistrySecurity
        let authorization: [Caller: String]

        init(_ kind: Kind, folder: String) throws {
            let policy = AccessPolicy(configuration: AccessMatrixTests.accessControl, authenticationConfigured: true)
            let users = ["reader": "r-pw", "writer": "w-pw", "admin": "root-pw", "wrongPassword": "not-the-password"]
            let names: [Caller: String] = [.reader: "reader", .writer: "writer", .admin: "root", .wrongPassword: "reader"]
            func basic() -> [Caller: String] {
                var all: [Caller: String] = [:]
                for (caller, name) in names { all[caller] = basicAuthorization(name, users[caller.rawValue]!) }
                return all
            }
            switch kind {
            case .fixedBasic:
                security = RegistrySecurity(
                    authenticators: [FixedPasswordAuthenticator(realm: "matrix", passwords: AccessMatrixTests.passwords)],
                    policy: policy)
                authorization = basic()
            case .fixedBearer:
                security = RegistrySecurity(
                    authenticators: [FixedTokenAuthenticator(realm: "https://auth.test/token", service: "test",
                                                             tokens: AccessMatrixTests.tokenIdentities)],
                    policy: policy)
                authorization = [.reader: "Bearer tok-reader", .writer: "Bearer tok-writer", .admin: "Bearer tok-root",
                                 .wrongPassword: "Bearer forged"]
            case .htpasswd:
                security = RegistrySecurity(authenticators: [BasicAuthenticator(realm: "matrix", users: try Self.htpasswd())],
                                            policy: policy)
                authorization = basic()
            case .externalTokens:
                let server = try TokenSigner(keyPath: folder + "/external-key.pem", issuer: "auth.test")
                let stranger = try TokenSigner(keyPath: folder + "/stranger-key.pem", issuer: "auth.test")
                let verifier = TokenAuthenticator(realm: "https://auth.test/token", service: "test", issuer: "auth.test",
                                                  trust: try TokenTrust(jwks: server.publicJWKS))
                security = RegistrySecurity(authenticators: [verifier], policy: policy)
                var all: [Caller: String] = [:]
                for (caller, name) in names {
                    let signer = caller == .wrongPassword ? stranger : server
                    let access = AccessMatrixTests.tokenIdentities["tok-\(name)"]!.grantedScopes!
                    all[caller] = "Bearer " + (try signer.makeToken(subject: name, audience: "test", access: access,
                                                                    lifetime: 600))
                }
                authorization = all
            case .builtInTokens:
                let signer = try TokenSigner(keyPath: folder + "/token-key.pem", issuer: "swregistry")
                let service = TokenService(service: "test", signer: signer,
                                           users: BasicAuthenticator(realm: "matrix", users: try Self.htpasswd()),
                                           grant: { policy.grant($0, requested: $1) })
                let builtIn = BuiltInTokenService(service: service, realm: "https://auth.test/token", scheme: "https")
                security = RegistrySecurity(authenticators: [builtIn.authenticator], policy: policy,
                                            tokenService: builtIn.handler)
                let everything = AccessMatrixTests.tokenIdentities["tok-root"]!.grantedScopes!.map(\.description)
                var all: [Caller: String] = [.wrongPassword: "Bearer " + (try TokenSigner(
                    keyPath: folder + "/stranger-key.pem", issuer: "swregistry")
                    .makeToken(subject: "reader", audience: "test", access: [], lifetime: 600))]
                for (caller, header) in basic() where caller != .wrongPassword {
                    let answer = service.respond(method: "GET", query: [("service", "test")] + everything.map { ("scope", $0) },
                                                 form: nil, authorization: header)
                    let json = try JSONSerialization.jsonObject(with: Data(answer.body)) as? [String: Any]
                    all[caller] = "Bearer " + (try #require(json?["token"] as? String, "\(caller): \(answer.status)"))
                }
                authorization = all
            }
        }

        /// The test users as bcrypt htpasswd entries (cost 4: the lowest, the matrix checks many requests).
        static func htpasswd() throws -> HtpasswdFile {
            var text = ""
            for (user, password) in AccessMatrixTests.passwords {
                text += "\(user):\(try #require(HtpasswdFile.makeBcryptHash(password: password, cost: 4)))\n"
            }
            return try HtpasswdFile(contents: Array(text.utf8), path: "<matrix users>")
        }
    }

    /// The status `caller` gets from an endpoint answering `success` when allowed.
    static func expectedStatus(_ caller: Caller, _ need: Need, success: Int) -> Int {
        switch caller {
        case .anonymous, .wrongPassword: return 401
        case .admin: return success
        case .reader: return need == .login || need == .pull ? success : 403
        case .writer: return need == .delete ? 403 : success
        }
    }

    struct Endpoint {
        var name: String
        var method: String
        var target: String
        var body: [UInt8] = []
        var need: Need
        var success: Int
        /// The `scope` of the Bearer challenge; nil for none.
        var scope: String?
    }

    /// Content for every endpoint, pushed by the admin, and the endpoints.
    static func prepare(_ r: RegistryFixture, admin: String, bearer: Bool) throws -> [Endpoint] {
        r.authorization = admin
        defer { r.authorization = nil }
        let image = try r.pushImage("m/app", tag: "v1", seed: "matrix")
        let doomed = try r.pushImage("m/app", tag: "doomed", seed: "matrix-doomed", layerCount: 1)
        let blobToDelete = try r.pushBlob("m/app", testBytes(77, seed: "matrix-delete"))
        let fromBlob = try r.pushBlob("m/src", testBytes(88, seed: "matrix-src"))
        let autoBlob = try r.pushBlob("m/src2", testBytes(99, seed: "matrix-src2"))
        let patchSession = try r.startUpload("m/app")
        let putSession = try r.startUpload("m/app")
        let statusSession = try r.startUpload("m/app")
        let cancelSession = try r.startUpload("m/app")
        let chunk = testBytes(64, seed: "matrix-chunk")
        let newManifest = ManifestJSON.image(config: image.config, layers: image.layers,
                                             annotations: [("org.example.matrix", "new")])
        let pull = "repository:m/app:pull", pullPush = "repository:m/app:pull,push"
        return [
            Endpoint(name: "base", method: "GET", target: "/v2/", need: .login, success: 200, scope: nil),
            Endpoint(name: "catalog", method: "GET", target: "/v2/_catalog", need: .login, success: 200,
                     scope: "registry:catalog:*"),
            Endpoint(name: "tags", method: "GET", target: "/v2/m/app/tags/list", need: .pull, success: 200, scope: pull),
            Endpoint(name: "manifest GET", method: "GET", target: "/v2/m/app/manifests/v1", need: .pull, success: 200,
                     scope: pull),
            Endpoint(name: "manifest HEAD", method: "HEAD", target: "/v2/m/app/manifests/\(image.digest)", need: .pull,
                     success: 200, scope: pull),
            Endpoint(name: "manifest PUT", method: "PUT", target: "/v2/m/app/manifests/new", body: newManifest,
                     need: .push, success: 201, scope: pullPush),
            Endpoint(name: "blob GET", method: "GET", target: "/v2/m/app/blobs/\(image.layers[0].digest)", need: .pull,
                     success: 200, scope: pull),
            Endpoint(name: "blob HEAD", method: "HEAD", target: "/v2/m/app/blobs/\(image.config.digest)", need: .pull,
                     success: 200, scope: pull),
            Endpoint(name: "upload POST", method: "POST", target: "/v2/m/app/blobs/uploads/", need: .push, success: 202,
                     scope: pullPush),
            Endpoint(name: "upload PATCH", method: "PATCH", target: patchSession, body: chunk, need: .push,
                     success: 202, scope: pullPush),
            Endpoint(name: "upload PUT", method: "PUT", target: appendingQuery(putSession, "digest=\(Digest.sha256(of: chunk))"),
                     body: chunk, need: .push, success: 201, scope: pullPush),
            Endpoint(name: "upload GET", method: "GET", target: statusSession, need: .push, success: 204, scope: pullPush),
            Endpoint(name: "upload DELETE", method: "DELETE", target: cancelSession, need: .push, success: 204,
                     scope: pullPush),
            Endpoint(name: "mount from", method: "POST",
                     target: "/v2/m/app/blobs/uploads/?mount=\(fromBlob)&from=m/src", need: .push, success: 201,
                     scope: "\(pullPush) repository:m/src:pull"),
            // Automatic: only from a repository a token names (m/src2 is in every test token); Basic credentials
            // name none, so a plain upload session opens.
            Endpoint(name: "mount automatic", method: "POST", target: "/v2/m/app/blobs/uploads/?mount=\(autoBlob)",
                     need: .push, success: bearer ? 201 : 202, scope: pullPush),
            Endpoint(name: "referrers", method: "GET", target: "/v2/m/app/referrers/\(image.digest)", need: .pull,
                     success: 200, scope: pull),
            // Deletes last: they take away what the others read.
            Endpoint(name: "blob DELETE", method: "DELETE", target: "/v2/m/app/blobs/\(blobToDelete)", need: .delete,
                     success: 202, scope: "repository:m/app:delete"),
            Endpoint(name: "manifest DELETE", method: "DELETE", target: "/v2/m/app/manifests/\(doomed.digest)",
                     need: .delete, success: 202, scope: "repository:m/app:delete"),
        ]
    }

    func runMatrix(_ kind: Kind) throws {
        let folder = makeTemporaryDirectory(prefix: "swr-matrix")
        defer { removeTree(folder) }
        let credentials = try Credentials(kind, folder: folder)
        let bearer = kind.isBearer
        let admin = try #require(credentials.authorization[.admin])
        for caller in Caller.allCases {
            let r = try RegistryFixture { $0.security = credentials.security }
            defer { r.stop() }
            let endpoints = try Self.prepare(r, admin: admin, bearer: bearer)
            let authorization = credentials.authorization[caller]
            for endpoint in endpoints {
                let context = "\(kind) \(caller) \(endpoint.name):"
                var headers: [(String, String)] = []
                if let authorization { headers.append(("Authorization", authorization)) }
                if endpoint.name == "manifest PUT" { headers.append(("Content-Type", MediaType.ociManifest.rawValue)) }
                if endpoint.method == "PATCH" || endpoint.name == "upload PUT" {
                    headers.append(("Content-Type", "application/octet-stream"))
                }
                let response = try r.request(endpoint.method, endpoint.target, headers: headers, body: endpoint.body)
                let want = Self.expectedStatus(caller, endpoint.need, success: endpoint.success)
                #expect(response.status == want, "\(context) \(response.status), want \(want): \(response.text.prefix(200))")
                switch want {
                case 401:
                    if endpoint.method != "HEAD" { expectOCIError(response, 401, .unauthorized, context) }
                    let challenges = response.headers.filter { $0.0.lowercased() == "www-authenticate" }.map(\.1)
                    #expect(challenges.count == 1, "\(context) challenges \(challenges)")
                    if bearer {
                        let challenge = challenges.first ?? ""
                        #expect(challenge.hasPrefix("Bearer realm=\"https://auth.test/token\",service=\"test\""), "\(context) \(challenge)")
                        if let scope = endpoint.scope {
                            #expect(challenge.contains(",scope=\"\(scope)\""), "\(context) \(challenge), want scope \(scope)")
                        } else {
                            #expect(!challenge.contains("scope="), "\(context) \(challenge), want no scope")
                        }
                        #expect(challenge.contains("error=\"invalid_token\"") == (caller == .wrongPassword), "\(context) \(challenge)")
                    } else {
                        #expect(challenges == ["Basic realm=\"matrix\""], "\(context) \(challenges)")
                    }
                case 403:
                    if endpoint.method != "HEAD" { expectOCIError(response, 403, .denied, context) }
                default:
                    break
                }
            }
            // What the writes did (or did not do).
            r.authorization = admin
            let mounted = try r.request("HEAD", "/v2/m/app/blobs/\(try Self.mountedDigest(r))").status
            #expect(mounted == (caller == .writer || caller == .admin ? 200 : 404), "\(caller): mounted blob \(mounted)")
        }
    }

    /// The digest the "mount from" endpoint mounts (content made by `prepare`).
    static func mountedDigest(_ r: RegistryFixture) throws -> Digest {
        Digest.sha256(of: testBytes(88, seed: "matrix-src"))
    }

    @Test(arguments: Kind.allCases) func everyEndpointForEveryCaller(_ kind: Kind) throws {
        try runMatrix(kind)
    }
}
