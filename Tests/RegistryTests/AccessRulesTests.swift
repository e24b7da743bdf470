import Foundation
import HTTPServer
import OCIModel
@testable import Registry
import RegistryAuth
import Synchronization
import Testing
import TestSupport

/// The access rules beyond the endpoint matrix: the response cache stays behind the check, the catalog is
/// filtered and paginated, mounts do not leak blobs across tenants, deletes can be switched off, abuse limits,
/// and policies (globs, groups, admin, anonymous) end to end.
@Suite(.offCooperativePool, .serialized) struct AccessRulesTests {
    static let passwords = ["alice": "a-pw", "bob": "b-pw", "carol": "c-pw", "root": "root-pw", "mallory": "m-pw"]
    static let root = basicAuthorization("root", "root-pw")
    static let alice = basicAuthorization("alice", "a-pw")
    static let bob = basicAuthorization("bob", "b-pw")
    static let carol = basicAuthorization("carol", "c-pw")

    /// alice's and bob's tenants, a public area, a dev group, an admin.
    static let tenants = AccessControlConfiguration(
        groups: ["devs": ["bob", "carol"]],
        repositories: [
            .init(pattern: "alice/**", policies: [.init(users: ["alice"], actions: [.pull, .push, .delete])]),
            .init(pattern: "bob/**", policies: [.init(users: ["bob"], actions: [.pull, .push])]),
            .init(pattern: "shared/**", policies: [.init(groups: ["devs"], actions: [.pull, .push])]),
            .init(pattern: "shared/locked", policies: [.init(users: ["carol"], actions: [.pull])]),
            .init(pattern: "pub/*", defaultPolicy: [.pull], anonymousPolicy: [.pull]),
        ],
        adminPolicy: .init(users: ["root"], actions: [.pull, .push, .delete]))

    static func security(_ access: AccessControlConfiguration? = AccessRulesTests.tenants, limiter: RateLimiter? = nil,
                         deleteEnabled: Bool = true,
                         tokenService: TokenHandler? = nil) -> RegistrySecurity {
        RegistrySecurity(authenticators: [FixedPasswordAuthenticator(realm: "rules", passwords: passwords)],
                         policy: AccessPolicy(configuration: access, authenticationConfigured: true),
                         rateLimiter: limiter, deleteEnabled: deleteEnabled, tokenService: tokenService)
    }

    static func fixture(_ security: RegistrySecurity = AccessRulesTests.security()) throws -> RegistryFixture {
        let r = try RegistryFixture { $0.security = security }
        r.authorization = root
        return r
    }

    // MARK: - The cache is behind the check

    @Test func cachedManifestsAreRefusedToWhoeverMayNotPull() throws {
        let r = try Self.fixture()
        defer { r.stop() }
        let image = try r.pushImage("alice/app", tag: "v1", seed: "cache-auth")
        for target in ["/v2/alice/app/manifests/v1", "/v2/alice/app/manifests/\(image.digest)"] {
            for _ in 0..<3 {  // fills the cache, then answers from it
                let allowed = try r.request("GET", target, headers: [("Authorization", Self.alice)])
                #expect(allowed.status == 200 && allowed.body == image.bytes)
            }
            expectOCIError(try r.request("GET", target, headers: [("Authorization", Self.bob)]), 403, .denied, "bob GET")
            #expect(try r.request("HEAD", target, headers: [("Authorization", Self.bob)]).status == 403)
            let anonymous = try r.request("GET", target, headers: [("Authorization", "")])
            expectOCIError(anonymous, 401, .unauthorized, "anonymous GET")
            #expect(anonymous.body != image.bytes)
            #expect(try r.request("HEAD", target, headers: [("Authorization", basicAuthorization("alice", "x"))]).status == 401)
        }
    }

    // MARK: - Catalog

    @Test func catalogListsOnlyPullableRepositoriesAcrossPages() throws {
        let r = try Self.fixture()
        defer { r.stop() }
        // Interleaved in catalog order: alice's, bob's, shared and public repositories.
        var all: [String] = []
        for i in 0..<7 {
            for owner in ["alice", "bob", "pub", "shared"] {
                let name = "\(owner)/r\(i)"
                try r.pushBlob(name, testBytes(10, seed: name))
                all.append(name)
            }
        }
        try r.pushBlob("shared/locked", testBytes(10, seed: "locked"))
        all.append("shared/locked")
        all.sort()

        func listing(_ authorization: String, n: Int) throws -> [String] {
            r.authorization = authorization
            let pages = try r.pages("/v2/_catalog?n=\(n)")
            var names: [String] = []
            for (i, page) in pages.enumerated() {
                #expect(page.status == 200)
                let entries = try decodeJSON(CatalogList.self, page).repositories ?? []
                #expect(entries.count <= n)
                // A Link never leads to an empty page.
                if i > 0 { #expect(!entries.isEmpty, "page \(i) is empty") }
                names += entries
            }
            return names
        }
        let bobSees = all.filter { $0.hasPrefix("bob/") || $0.hasPrefix("pub/") || ($0.hasPrefix("shared/") && $0 != "shared/locked") }
        let carolSees = all.filter { $0.hasPrefix("pub/") || $0.hasPrefix("shared/") }
        for n in [1, 2, 3, 5, 100] {
            #expect(try listing(Self.bob, n: n) == bobSees, "bob n=\(n)")
            #expect(try listing(Self.carol, n: n) == carolSees, "carol n=\(n)")
            #expect(try listing(Self.root, n: n) == all, "root n=\(n)")
        }
        // Hidden entries are skipped until the page is full; a Link only when a visible one follows.
        r.authorization = Self.alice
        let page = try r.request("GET", "/v2/_catalog?n=7&last=alice")
        #expect(try decodeJSON(CatalogList.self, page).repositories == (0..<7).map { "alice/r\($0)" })
        #expect(page.header("Link") != nil, "public repositories follow")
        let end = try r.request("GET", "/v2/_catalog?n=1&last=pub/r5")
        #expect(try decodeJSON(CatalogList.self, end).repositories == ["pub/r6"])
        #expect(end.header("Link") == nil, "only hidden repositories follow")
        // Anonymous callers see the public part (some repository allows anonymous pulls).
        r.authorization = nil
        let anonymous = try r.request("GET", "/v2/_catalog")
        #expect(anonymous.status == 200)
        #expect(try decodeJSON(CatalogList.self, anonymous).repositories == all.filter { $0.hasPrefix("pub/") })
    }

    @Test func withoutAnonymousPullsTheCatalogAsksForCredentials() throws {
        let r = try Self.fixture(Self.security(nil))
        defer { r.stop() }
        try r.pushBlob("any/repo", testBytes(10, seed: "any"))
        r.authorization = nil
        let anonymous = try r.request("GET", "/v2/_catalog")
        expectOCIError(anonymous, 401, .unauthorized)
        #expect(anonymous.header("WWW-Authenticate") == "Basic realm=\"rules\"")
        let carol = try r.request("GET", "/v2/_catalog", headers: [("Authorization", Self.carol)])
        #expect(try decodeJSON(CatalogList.self, carol).repositories == ["any/repo"], "no policy: users see all")
    }

    // MARK: - Mounts and blobs across tenants

    @Test func mountsTakeBlobsOnlyFromRepositoriesTheCallerMayPull() throws {
        let r = try Self.fixture()
        defer { r.stop() }
        let secret = try r.pushBlob("alice/private", testBytes(300, seed: "alice-secret"))
        let own = try r.pushBlob("bob/base", testBytes(300, seed: "bob-own"))
        r.authorization = Self.bob

        // Blob reads are per repository, whoever asks.
        expectOCIError(try r.request("GET", "/v2/bob/app/blobs/\(secret)"), 404, .blobUnknown)
        #expect(try r.request("HEAD", "/v2/bob/app/blobs/\(secret)").status == 404)
        expectOCIError(try r.request("GET", "/v2/bob/app/blobs/\(secret)", headers: [("Authorization", Self.root)]),
                       404, .blobUnknown, "admin, other repository")

        // Mount from a repository bob may not pull: a plain upload session, nothing linked.
        for target in ["/v2/bob/app/blobs/uploads/?mount=\(secret)&from=alice/private",
                       "/v2/bob/app/blobs/uploads/?mount=\(secret)"] {
            let response = try r.request("POST", target)
            #expect(response.status == 202, "\(target): \(response.status) \(response.text)")
            #expect(response.header("Location")?.contains("/blobs/uploads/") == true)
            #expect(response.header("Docker-Upload-UUID") != nil)
            #expect(try r.request("HEAD", "/v2/bob/app/blobs/\(secret)").status == 404)
        }
        // An unknown blob answers the same as a hidden one.
        let unknown = Digest.sha256(of: testBytes(5, seed: "nowhere"))
        #expect(try r.request("POST", "/v2/bob/app/blobs/uploads/?mount=\(unknown)").status == 202)

        // From his own repository with `from`; without it only from the target itself: Basic credentials name no
        // other repository, and looking for one would tell, by the time it takes, where the blob is stored.
        #expect(try r.request("POST", "/v2/bob/app/blobs/uploads/?mount=\(own)&from=bob/base").status == 201)
        #expect(try r.request("HEAD", "/v2/bob/app/blobs/\(own)").status == 200)
        #expect(try r.request("POST", "/v2/bob/app/blobs/uploads/?mount=\(own)").status == 201, "already in the target")
        #expect(try r.request("POST", "/v2/bob/other/blobs/uploads/?mount=\(own)").status == 202)
        #expect(try r.request("HEAD", "/v2/bob/other/blobs/\(own)").status == 404)

        // Even the admin, who may pull everything, names the source to mount from it.
        r.authorization = Self.root
        #expect(try r.request("POST", "/v2/bob/admin-copy/blobs/uploads/?mount=\(secret)").status == 202)
        #expect(try r.request("POST", "/v2/bob/admin-copy/blobs/uploads/?mount=\(secret)&from=alice/private").status == 201)
    }

    @Test func tagsAndReferrersFollowPull() throws {
        let r = try Self.fixture()
        defer { r.stop() }
        let image = try r.pushImage("alice/app", tag: "v1", seed: "tags-ref")
        for target in ["/v2/alice/app/tags/list", "/v2/alice/app/referrers/\(image.digest)"] {
            #expect(try r.request("GET", target, headers: [("Authorization", Self.alice)]).status == 200)
            expectOCIError(try r.request("GET", target, headers: [("Authorization", Self.bob)]), 403, .denied, target)
            r.authorization = nil
            expectOCIError(try r.request("GET", target), 401, .unauthorized, target)
            r.authorization = Self.root
        }
    }

    // MARK: - Deletes switched off

    @Test func disabledDeletesAnswerUnsupportedWhoeverAsks() throws {
        let r = try Self.fixture(Self.security(deleteEnabled: false))
        defer { r.stop() }
        let image = try r.pushImage("alice/app", tag: "v1", seed: "no-delete")
        for authorization in [Self.root, Self.alice, ""] {
            for target in ["/v2/alice/app/manifests/v1", "/v2/alice/app/manifests/\(image.digest)",
                           "/v2/alice/app/blobs/\(image.layers[0].digest)"] {
                expectOCIError(try r.request("DELETE", target, headers: [("Authorization", authorization)]), 405, .unsupported)
            }
        }
        #expect(try r.request("GET", "/v2/alice/app/manifests/v1").status == 200, "nothing was deleted")
        #expect(try r.request("GET", "/v2/alice/app/blobs/\(image.layers[0].digest)").status == 200)
        // Every DELETE, cancelling an upload session included (it then expires by itself).
        let session = try r.startUpload("alice/app")
        expectOCIError(try r.request("DELETE", session), 405, .unsupported)

        // The same with no authentication at all.
        let open = try RegistryFixture { $0.security = RegistrySecurity(deleteEnabled: false) }
        defer { open.stop() }
        let openImage = try open.pushImage("x/app", tag: "v1", seed: "no-delete-open")
        expectOCIError(try open.request("DELETE", "/v2/x/app/manifests/\(openImage.digest)"), 405, .unsupported)
        #expect(try open.request("GET", "/v2/x/app/manifests/v1").status == 200)
    }

    // MARK: - Abuse limits

    /// A bcrypt (here cost 12, a few hundred milliseconds) runs off the event loops: while fresh credentials are
    /// being checked, other requests on the same loops are answered at once.
    @Test func freshCredentialsAreCheckedOffTheEventLoops() throws {
        let hash = try #require(HtpasswdFile.makeBcryptHash(password: "pw", cost: 12))
        let users = try HtpasswdFile(contents: Array("slow:\(hash)\n".utf8), path: "<slow users>")
        let r = try RegistryFixture {
            $0.security = RegistrySecurity(authenticators: [BasicAuthenticator(realm: "slow", users: users)])
        }
        defer { r.stop() }
        let port = r.port
        let times = Mutex<[String: Double]>([:])
        @Sendable func now() -> Double { Double(Clock.monotonicNanos()) / 1e9 }
        let group = DispatchGroup()
        // Wrong passwords: never cached, each a full bcrypt.
        for i in 0..<4 {
            group.enter()
            Thread.detachNewThread {  // an OS thread each: all in flight at once
                // From four addresses: the authentication gate lets each have two checks in flight.
                _ = try? TestClient(port: port, source: "127.0.0.\(i + 2)")
                    .request("GET", "/v2/", headers: [("Authorization", basicAuthorization("slow", "x\(i)"))])
                let t = now()
                times.withLock { $0["slow\(i)"] = t }
                group.leave()
            }
        }
        usleep(50_000)
        for i in 0..<4 {
            #expect(try TestClient(port: port).request("GET", "/healthz").status == 200)
            let t = now()
            times.withLock { $0["health\(i)"] = t }
        }
        group.wait()
        let all = times.withLock { $0 }
        let lastHealth = (0..<4).compactMap { all["health\($0)"] }.max() ?? .infinity
        let firstSlow = (0..<4).compactMap { all["slow\($0)"] }.min() ?? 0
        #expect(lastHealth < firstSlow, "health answered at \(lastHealth), first login refused at \(firstSlow)")
    }

    /// With tokens and Basic side by side, a wrong Basic password still counts against its user (the token
    /// authenticator's refusal names nobody); the user's right password is then refused from anywhere, but a token
    /// verified before is not held back. The claimed name is escaped in the log line.
    @Test func perUserLimitsWithTokensOnAndVerifiedTokensPass() throws {
        let folder = makeTemporaryDirectory(prefix: "swr-limits")
        defer { removeTree(folder) }
        let signer = try TokenSigner(keyPath: folder + "/key.pem", issuer: "iss")
        let tokens = TokenAuthenticator(realm: "https://auth.test/token", service: "svc", issuer: "iss",
                                        trust: try TokenTrust(jwks: signer.publicJWKS))
        let security = RegistrySecurity(
            authenticators: [tokens, FixedPasswordAuthenticator(realm: "rules", passwords: Self.passwords)],
            policy: AccessPolicy(configuration: Self.tenants, authenticationConfigured: true),
            rateLimiter: RateLimiter(failuresPerMinute: 3))
        let r = try Self.fixture(security)
        defer { r.stop() }
        let token = "Bearer " + (try signer.makeToken(subject: "alice", audience: "svc",
                                                       access: [.repository("alice/app", [.pull, .push])], lifetime: 300))
        #expect(try r.request("GET", "/v2/", headers: [("Authorization", token)]).status == 200, "verified once, cached")
        for source in ["127.0.0.2", "127.0.0.3", "127.0.0.4"] {
            #expect(try r.request("GET", "/v2/", headers: [("Authorization", basicAuthorization("alice", "guess"))],
                                  from: source).status == 401)
        }
        expectOCIError(try r.request("GET", "/v2/", headers: [("Authorization", Self.alice)], from: "127.0.0.5"),
                       429, .tooManyRequests)
        #expect(try r.request("GET", "/v2/", headers: [("Authorization", token)], from: "127.0.0.6").status == 200)
    }

    /// One address cannot queue slow checks (here cost-12 bcrypts): eight at a time, the others are refused at once
    /// rather than making every later login wait behind them.
    @Test func oneAddressHasAtMostEightSlowChecksInFlight() throws {
        let hash = try #require(HtpasswdFile.makeBcryptHash(password: "pw", cost: 12))
        let users = try HtpasswdFile(contents: Array("slow:\(hash)\n".utf8), path: "<slow users>")
        let r = try RegistryFixture {
            $0.security = RegistrySecurity(authenticators: [BasicAuthenticator(realm: "slow", users: users)])
        }
        defer { r.stop() }
        let port = r.port
        let statuses = Mutex<[Int]>([])
        let group = DispatchGroup()
        for i in 0..<12 {
            group.enter()
            Thread.detachNewThread {  // an OS thread each: all in flight at once
                let status = (try? TestClient(port: port).request(
                    "GET", "/v2/", headers: [("Authorization", basicAuthorization("nobody\(i)", "guess"))]))?.status ?? 0
                statuses.withLock { $0.append(status) }
                group.leave()
            }
        }
        group.wait()
        let all = statuses.withLock { $0 }
        #expect(all.filter { $0 == 429 }.count >= 2, "\(all)")
        #expect(all.allSatisfy { $0 == 401 || $0 == 429 }, "\(all)")
        #expect(r.responder.authenticationGate.inFlight == 0)
    }

    @Test func theAuthenticationGateBoundsPerAddressAndInAll() {
        let gate = AuthenticationGate(perAddress: 2, total: 3)
        #expect(gate.enter("a") == .admitted)
        #expect(gate.enter("a") == .admitted)
        #expect(gate.enter("a") == .addressBusy)
        #expect(gate.enter("b") == .admitted)
        #expect(gate.enter("c") == .full)
        gate.leave("a")
        #expect(gate.enter("c") == .admitted)
        for address in ["a", "b", "c"] { gate.leave(address) }
        #expect(gate.inFlight == 0)
        #expect(gate.enter("a") == .admitted && gate.enter("a") == .admitted, "a's slots were given back")
    }

    @Test func theEleventhFailedAuthenticationGetsTooManyRequests() throws {
        let limiter = RateLimiter(failuresPerMinute: 10)
        let r = try Self.fixture(Self.security(limiter: limiter))
        defer { r.stop() }
        r.authorization = nil
        let wrong = [("Authorization", basicAuthorization("mallory", "guess"))]
        for i in 1...10 {
            let response = try r.request("GET", "/v2/", headers: wrong)
            expectOCIError(response, 401, .unauthorized, "failure \(i)")
        }
        let eleventh = try r.request("GET", "/v2/", headers: wrong)
        expectOCIError(eleventh, 429, .tooManyRequests, "11th failure")
        let retry = Int(eleventh.header("Retry-After") ?? "") ?? 0
        #expect((1...60).contains(retry), "Retry-After \(eleventh.header("Retry-After") ?? "absent")")
        // From this address even right credentials get no answer about themselves.
        expectOCIError(try r.request("GET", "/v2/", headers: [("Authorization", Self.alice)]), 429, .tooManyRequests)
        // Anonymous requests are not authentication attempts.
        expectOCIError(try r.request("GET", "/v2/"), 401, .unauthorized)
        // From another address: alice is fine, mallory's name is still limited, right password or not.
        #expect(try r.request("GET", "/v2/", headers: [("Authorization", Self.alice)], from: "127.0.0.2").status == 200)
        expectOCIError(try r.request("GET", "/v2/", headers: [("Authorization", basicAuthorization("mallory", "m-pw"))],
                                     from: "127.0.0.3"), 429, .tooManyRequests, "mallory elsewhere")
    }

    @Test func requestsPerSecondPerAddress() throws {
        let r = try Self.fixture(Self.security(limiter: RateLimiter(failuresPerMinute: 10, requestsPerSecond: 3)))
        defer { r.stop() }
        r.authorization = Self.root
        var statuses: [Int] = []
        for _ in 0..<6 { statuses.append(try r.request("GET", "/v2/").status) }
        #expect(statuses.prefix(3).allSatisfy { $0 == 200 }, "\(statuses)")
        #expect(statuses.contains(429), "\(statuses)")
        let limited = try r.request("GET", "/v2/")
        if limited.status == 429 { #expect(limited.header("Retry-After") == "1") }
        #expect(try r.request("GET", "/healthz").status == 200, "health probes are not limited")
        #expect(try r.request("GET", "/v2/", from: "127.0.0.2").status == 200, "another address")
    }

    // MARK: - Policies end to end

    @Test func globSpecificityGroupsAdminAndAnonymousPolicy() throws {
        let r = try Self.fixture()
        defer { r.stop() }
        _ = try r.pushImage("shared/app", tag: "v1", seed: "shared-app")
        _ = try r.pushImage("shared/locked", tag: "v1", seed: "shared-locked")
        _ = try r.pushImage("pub/tool", tag: "v1", seed: "pub-tool")
        let get = { (target: String, authorization: String?) in
            try r.request("GET", target, headers: [("Authorization", authorization ?? "")]).status
        }
        // Group devs (bob, carol) may pull and push shared/**.
        #expect(try get("/v2/shared/app/manifests/v1", Self.bob) == 200)
        #expect(try get("/v2/shared/app/manifests/v1", Self.carol) == 200)
        #expect(try get("/v2/shared/app/manifests/v1", Self.alice) == 403)
        let upload = try r.request("POST", "/v2/shared/app/blobs/uploads/", headers: [("Authorization", Self.carol)])
        #expect(upload.status == 202)
        // shared/locked is more specific than shared/**: only carol may pull it, and nobody but root push.
        #expect(try get("/v2/shared/locked/manifests/v1", Self.carol) == 200)
        #expect(try get("/v2/shared/locked/manifests/v1", Self.bob) == 403)
        #expect(try r.request("POST", "/v2/shared/locked/blobs/uploads/", headers: [("Authorization", Self.carol)]).status == 403)
        // Admin everywhere, even where no pattern matches.
        #expect(try get("/v2/shared/locked/manifests/v1", Self.root) == 200)
        #expect(try r.request("POST", "/v2/nowhere/x/blobs/uploads/").status == 202)
        #expect(try r.request("POST", "/v2/nowhere/x/blobs/uploads/", headers: [("Authorization", Self.alice)]).status == 403)
        // Anonymous may pull pub/*, not push; users may pull it too.
        #expect(try get("/v2/pub/tool/manifests/v1", nil) == 200)
        #expect(try get("/v2/pub/tool/manifests/v1", Self.alice) == 200)
        let anonymousPush = try r.request("POST", "/v2/pub/tool/blobs/uploads/", headers: [("Authorization", "")])
        expectOCIError(anonymousPush, 401, .unauthorized)
        #expect(try get("/v2/pub/tool/manifests/v1", basicAuthorization("alice", "wrong")) == 401, "wrong credentials are never anonymous")
        // /v2/ wants credentials, any valid ones.
        #expect(try get("/v2/", nil) == 401)
        #expect(try get("/v2/", Self.alice) == 200)
        #expect(try get("/healthz", nil) == 200)
    }

    @Test func aBearerTokenWithoutTheScopeGetsAChallengeForIt() throws {
        let tokens = [
            "pull-only": Identity(user: "bob", grantedScopes: [.repository("bob/app", [.pull])]),
            "alice-everything": Identity(user: "bob", grantedScopes: [Scope(type: "repository", name: "alice/app", actions: ["*"])]),
        ]
        let security = RegistrySecurity(
            authenticators: [FixedTokenAuthenticator(realm: "https://auth.test/token", service: "svc", tokens: tokens)],
            policy: AccessPolicy(configuration: Self.tenants, authenticationConfigured: true))
        let r = try RegistryFixture { $0.security = security }
        defer { r.stop() }
        r.authorization = "Bearer pull-only"
        // bob may push bob/app by the policy; his token does not say so: 401 insufficient_scope, with the scope.
        let push = try r.request("POST", "/v2/bob/app/blobs/uploads/")
        expectOCIError(push, 401, .unauthorized)
        #expect(push.header("WWW-Authenticate")
            == #"Bearer realm="https://auth.test/token",service="svc",scope="repository:bob/app:pull,push",error="insufficient_scope""#)
        // A token for alice's repository does not beat the policy: 403.
        r.authorization = "Bearer alice-everything"
        expectOCIError(try r.request("GET", "/v2/alice/app/tags/list"), 403, .denied)
    }

    @Test func uploadSessionsCountPerUserOnceAuthenticated() throws {
        let r = try RegistryFixture {
            $0.security = Self.security(nil)
            $0.maxUploadsPerClient = 2
        }
        defer { r.stop() }
        for _ in 0..<2 {
            #expect(try r.request("POST", "/v2/a/blobs/uploads/", headers: [("Authorization", Self.alice)]).status == 202)
        }
        expectOCIError(try r.request("POST", "/v2/a/blobs/uploads/", headers: [("Authorization", Self.alice)]),
                       429, .tooManyRequests, "alice's third")
        // bob, from the same address, has his own share; alice has no more from another address.
        #expect(try r.request("POST", "/v2/a/blobs/uploads/", headers: [("Authorization", Self.bob)]).status == 202)
        expectOCIError(try r.request("POST", "/v2/a/blobs/uploads/", headers: [("Authorization", Self.alice)],
                                     from: "127.0.0.2"), 429, .tooManyRequests, "alice elsewhere")
    }

    @Test func malformedNamesAreRefusedBeforeAnyChallenge() throws {
        let r = try Self.fixture()
        defer { r.stop() }
        r.authorization = nil
        for target in ["/v2/Bad%0D%0AX-Injected:%201/tags/list", "/v2/UPPER/manifests/v1", "/v2/a%22b/blobs/uploads/"] {
            let response = try r.request("GET", target)
            expectOCIError(response, 400, .nameInvalid, target)
            #expect(response.header("WWW-Authenticate") == nil && response.header("X-Injected") == nil, "\(target)")
        }
        // A malformed `from` is left out of the challenge.
        let mount = try r.request("POST", "/v2/a/blobs/uploads/?mount=sha256:\(String(repeating: "0", count: 64))&from=a%0D%0AX:%201")
        expectOCIError(mount, 401, .unauthorized)
        #expect(mount.header("X") == nil)
    }

    // MARK: - Reload and the token route

    @Test func securityIsSwappedAtRunTime() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        _ = try r.pushImage("alice/app", tag: "v1", seed: "swap")
        #expect(try r.request("GET", "/v2/alice/app/manifests/v1").status == 200)
        r.responder.updateSecurity(Self.security())
        #expect(try r.request("GET", "/v2/alice/app/manifests/v1").status == 401)
        #expect(try r.request("GET", "/v2/alice/app/manifests/v1", headers: [("Authorization", Self.alice)]).status == 200)
        r.responder.updateSecurity(nil)
        #expect(try r.request("GET", "/v2/alice/app/manifests/v1").status == 200)
    }

    @Test func tokenRouteCallsTheTokenServiceAndLimitsItsFailures() throws {
        let calls = Mutex(0)
        let service: TokenHandler = { request, _, _ in
            calls.withLock { $0 += 1 }
            if request.headers["Authorization"] == AccessRulesTests.alice {
                return TokenAnswer(Response(status: .ok, headers: ["Content-Type": "application/json"],
                                            bytes: Array(#"{"token":"t"}"#.utf8)),
                                   outcome: .authenticated(Identity(user: "alice")))
            }
            // A wrong password: 401 to a Basic GET, 400 invalid_grant to an OAuth2 POST.
            return TokenAnswer(Response(status: request.method == "POST" ? .badRequest : .unauthorized),
                               outcome: .invalid(reason: "wrong password", user: "alice"))
        }
        let r = try Self.fixture(Self.security(limiter: RateLimiter(failuresPerMinute: 3), tokenService: service))
        defer { r.stop() }
        r.authorization = nil
        let ok = try r.request("GET", "/token?service=svc&scope=repository:alice/app:pull", headers: [("Authorization", Self.alice)])
        #expect(ok.status == 200 && ok.text == #"{"token":"t"}"#)
        for _ in 0..<2 {
            #expect(try r.request("GET", "/token", headers: [("Authorization", basicAuthorization("alice", "x"))]).status == 401)
        }
        let form = Array("grant_type=password&username=alice&password=x&service=svc&client_id=test".utf8)
        #expect(try r.request("POST", "/token", headers: [("Content-Type", "application/x-www-form-urlencoded")],
                              body: form).status == 400)
        let limited = try r.request("GET", "/token", headers: [("Authorization", Self.alice)])
        expectOCIError(limited, 429, .tooManyRequests)
        #expect(calls.withLock { $0 } == 4, "a limited client does not reach the service")
        // From another address, alice's right password is refused too: the failures named her.
        let elsewhere = try r.request("GET", "/token", headers: [("Authorization", Self.alice)], from: "127.0.0.3")
        expectOCIError(elsewhere, 429, .tooManyRequests)
        // Without a token service, /token is not found.
        let plain = try Self.fixture()
        defer { plain.stop() }
        #expect(try plain.request("GET", "/token").status == 404)
    }
}
