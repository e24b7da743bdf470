import Foundation
import RegistryAuth
import RegistryClient

/// `WWW-Authenticate` (read by the client), `Authorization` (read by the server: Basic and Bearer), bearer JWTs,
/// and the htpasswd file.
enum AuthFuzzing {
    static func wwwAuthenticate(_ data: UnsafeRawBufferPointer) {
        let header = String(decoding: data, as: UTF8.self)
        for challenge in AuthChallenge.parse(header: header) {
            check(!challenge.scheme.isEmpty && challenge.scheme == challenge.scheme.lowercased(),
                  "challenge scheme \(challenge.scheme)")
            for name in challenge.parameters.keys { check(name == name.lowercased(), "parameter name \(name)") }
            _ = challenge.scopes
        }
    }

    /// The server's two authenticators on one header value. Basic stops before bcrypt (`quickResult`): what is
    /// fuzzed is the header, not the hash.
    static func authorization(_ data: UnsafeRawBufferPointer) {
        let header = String(decoding: data, as: UTF8.self)
        let fixture = Fixture.shared
        if case .authenticated(let identity)? = fixture.basic.quickResult(authorization: header) {
            check(false, "Basic header \(header) authenticated \(String(describing: identity.user)) without a password check")
        }
        if case .authenticated = fixture.bearer.authenticate(authorization: header) {
            // Only a token signed by the fixture's key can get here; the fuzzer cannot forge ES256.
            check(header.contains(".") && header.lowercased().contains("bearer"), "bearer header \(header) authenticated")
        }
    }

    /// Input: a mode byte, then for even modes a compact JWS verified as the registry would (a token signed by the
    /// fixture's key, see the corpus, verifies), for odd modes the fields of a token the fixture signs (subject,
    /// audience, scopes, lifetime and clock skew), whose verdict must follow from its claims, and for mode 2 mod 4
    /// a JWKS document.
    static func jwt(_ data: UnsafeRawBufferPointer) {
        var input = FuzzInput(data)
        let mode = input.byte()
        let fixture = Fixture.shared
        if mode & 1 == 0 {
            let token = input.text(0)
            let result = fixture.bearer.authenticate(token: Substring(token), now: Fixture.now)
            if case .authenticated = result {
                check(token.split(separator: ".", omittingEmptySubsequences: false).count == 3, "token \(token) accepted")
            }
            if mode & 2 != 0 { _ = try? TokenTrust(jwks: Array(token.utf8)) }
            return
        }
        let subject = input.text()
        let audience = input.byte() & 1 == 0 ? Fixture.service : input.text()
        let scopes = input.text().split(separator: " ").compactMap { Scope(parsing: $0) }
        let lifetime = Int(Int16(truncatingIfNeeded: input.integer(2)))
        let skew = Int64(Int32(truncatingIfNeeded: input.integer(4)))
        guard let token = try? fixture.signer.makeToken(subject: subject, audience: audience, access: scopes,
                                                        lifetime: lifetime, now: Fixture.now) else { return }
        // A fresh authenticator: the shared one caches tokens, and this one must be judged on its claims.
        let bearer = TokenAuthenticator(realm: Fixture.realm, service: Fixture.service, issuer: Fixture.issuer,
                                        trust: fixture.signer.trust)
        let result = bearer.authenticate(token: Substring(token), now: Fixture.now + skew)
        let timely = skew >= -60 && skew < Int64(lifetime) + 60
        switch result {
        case .authenticated(let identity):
            check(audience == Fixture.service && timely, "token for \(audience) skew \(skew) life \(lifetime) accepted")
            check(identity.user == (subject.isEmpty ? nil : subject), "token of \(subject) is \(String(describing: identity.user))")
        case .invalid:
            check(audience != Fixture.service || !timely,
                  "token for \(audience) skew \(skew) life \(lifetime) refused: \(result)")
        case .anonymous:
            check(false, "a token counted as no credentials")
        }
    }

    /// Input: the file. bcrypt costs 2^cost by design, and the file's dearest entry sets the cost of the decoy
    /// hashed at load: files with an entry dearer than 8 are not loaded (their parsing is the same as at 8).
    static func htpasswd(_ data: UnsafeRawBufferPointer) {
        let bytes = Array(data)
        for line in bytes.split(separator: 0x0A) {
            if let start = line.firstIndex(of: 0x24), line.count > start + 6 {
                let cost = line[(start + 4)...].prefix(2)
                if let c = Int(String(decoding: cost, as: UTF8.self)), c > 8 { return }
            }
        }
        guard let file = try? HtpasswdFile(contents: bytes, path: "fuzz") else { return }
        for user in file.users {
            check(!user.isEmpty && !user.contains(":") && !user.contains("\n"), "user name \(user)")
        }
        if let user = file.users.first {
            check(!file.verify(user: user, password: "\u{0}"), "a NUL password matched \(user)")
        }
    }

    /// A token service and a Basic realm that every run shares (their keys cost milliseconds to set up).
    final class Fixture: Sendable {
        static let realm = "https://auth.example/token"
        static let service = "registry.example"
        static let issuer = "fuzz-issuer"
        /// The corpus's tokens are valid at this instant (2026-01-01T00:00:00Z).
        static let now: Int64 = 1_767_225_600
        /// The corpus's signing key: tokens in `Tests/Fuzz/jwt/corpus` are signed with it.
        static let keyPEM = """
            -----BEGIN EC PRIVATE KEY-----
            MHcCAQEEIJ1MnZHU0kqlg7IlrA3c6duNPtodYP5CvTbwf4NkxUSUoAoGCCqGSM49
            AwEHoUQDQgAEq0SLN8D8kbo5sFvpEpIYwKixSxJsGQJSixf335Iw7cWXR1cq5D+A
            RLqRXRCCQcbwWWHlglF2aq6+Gxta5Vydfg==
            -----END EC PRIVATE KEY-----

            """

        static let shared = Fixture()

        let signer: TokenSigner
        let bearer: TokenAuthenticator
        let basic: BasicAuthenticator

        private init() {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("swregistry-fuzz-\(getpid())")
            try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let keyPath = directory.appendingPathComponent("token.pem").path
            _ = FileManager.default.createFile(atPath: keyPath, contents: Data(Self.keyPEM.utf8),
                                           attributes: [.posixPermissions: 0o600])
            do {
                signer = try TokenSigner(keyPath: keyPath, issuer: Self.issuer)
                let hash = HtpasswdFile.makeBcryptHash(password: "secret", cost: 4) ?? ""
                basic = BasicAuthenticator(realm: "registry", users: try HtpasswdFile(
                    contents: Array("alice:\(hash)\n".utf8), path: "fixture"))
            } catch {
                fatalError("fuzz fixture: \(error)")
            }
            try? FileManager.default.removeItem(at: directory)
            bearer = TokenAuthenticator(realm: Self.realm, service: Self.service, issuer: Self.issuer, trust: signer.trust)
        }
    }
}
