import Foundation
import RegistryAuth

/// Test fixture: HTTP Basic credentials checked against a fixed user → password map (the product's htpasswd
/// authenticator lives in RegistryAuth; this one lets the registry's enforcement be tested on its own).
struct FixedPasswordAuthenticator: Authenticator {
    let realm: String
    let passwords: [String: String]

    func authenticate(authorization: String?) -> AuthResult {
        guard let authorization else { return .anonymous }
        let parts = authorization.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "basic" else { return .anonymous }
        guard let data = Data(base64Encoded: String(parts[1])), let text = String(data: data, encoding: .utf8),
              let colon = text.firstIndex(of: ":") else {
            return .invalid(reason: "malformed Basic credentials", user: nil)
        }
        let user = String(text[..<colon]), password = String(text[text.index(after: colon)...])
        guard let expected = passwords[user] else { return .invalid(reason: "unknown user", user: user) }
        guard expected == password else { return .invalid(reason: "wrong password", user: user) }
        return .authenticated(Identity(user: user))
    }

    func challenge(for scopes: [Scope], error: String?) -> String {
        "Basic realm=\"\(realm)\""
    }
}

/// Test fixture: opaque bearer tokens, each standing for an identity with the scopes a token server granted.
struct FixedTokenAuthenticator: Authenticator {
    let realm: String
    let service: String
    let tokens: [String: Identity]

    func authenticate(authorization: String?) -> AuthResult {
        guard let authorization else { return .anonymous }
        let parts = authorization.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return .anonymous }
        guard let identity = tokens[String(parts[1])] else { return .invalid(reason: "unknown token", user: nil) }
        return .authenticated(identity)
    }

    /// As the Docker token protocol words it: scopes separated by spaces in one `scope` parameter.
    func challenge(for scopes: [Scope], error: String?) -> String {
        var text = "Bearer realm=\"\(realm)\",service=\"\(service)\""
        if !scopes.isEmpty { text += ",scope=\"\(scopes.map(\.description).joined(separator: " "))\"" }
        if let error { text += ",error=\"\(error)\"" }
        return text
    }
}

/// The `Authorization` value of HTTP Basic credentials.
func basicAuthorization(_ user: String, _ password: String) -> String {
    "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
}
