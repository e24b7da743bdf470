import Foundation
import Glibc
import HTTPServer
import Registry
import RegistryAuth
import TestSupport

/// The client half of the Docker token flow for `RegistryFixture` in token mode: one user allowed everything
/// (no policy), the built-in token service with a key in `folder`, and the token of the last challenge answered.
final class TokenClient {
    let security: RegistrySecurity
    private let basic: String
    private(set) var token: String?

    init(folder: String) throws {
        guard mkdir(folder, 0o700) == 0 else { throw FixtureError("mkdir \(folder): errno \(errno)") }
        let password = "conformance-\(UInt64.random(in: 0...UInt64.max))"
        guard let hash = HtpasswdFile.makeBcryptHash(password: password, cost: 4) else {
            throw FixtureError("bcrypt hash failed")
        }
        let users = try HtpasswdFile(contents: Array("conformance:\(hash)\n".utf8), path: "<test users>")
        let basic = BasicAuthenticator(realm: "conformance", users: users)
        let signer = try TokenSigner(keyPath: folder + "/token-key.pem", issuer: "swregistry")
        let service = BuiltInTokenService(
            service: TokenService(service: "swregistry", signer: signer, users: basic,
                                  grant: { _, requested in requested }),
            realm: nil, scheme: "http")
        security = RegistrySecurity(authenticators: [service.authenticator, basic], tokenService: service.handler)
        self.basic = "Basic " + Data("conformance:\(password)".utf8).base64EncodedString()
    }

    var headers: [(String, String)] { token.map { [("Authorization", "Bearer \($0)")] } ?? [] }

    /// Asks the registry's `/token` for the scopes of a `Bearer realm=…,service=…,scope="…"` challenge.
    func fetchToken(port: UInt16, challenge: String) throws {
        var query = "service=swregistry"
        if let start = challenge.range(of: "scope=\"") {
            let rest = challenge[start.upperBound...]
            let scopes = rest[..<(rest.firstIndex(of: "\"") ?? rest.endIndex)]
            for scope in scopes.split(separator: " ") {
                query += "&scope=" + (scope.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")
            }
        }
        let response = try TestClient(port: port, timeoutSeconds: 20)
            .request("GET", "/token?\(query)", headers: [("Authorization", basic)])
        guard response.status == 200,
              let object = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any],
              let token = object["token"] as? String else {
            throw FixtureError("GET /token?\(query) answered \(response.status) \(response.text)")
        }
        self.token = token
    }
}
