import Foundation
import OCIModel

extension RegistryClient {
    /// The scope to read a repository.
    static func pullScope(_ repository: String) -> String { "repository:\(repository):pull" }
    /// The scope to write a repository (reading is needed too: HEAD before pushing).
    static func pushScope(_ repository: String) -> String { "repository:\(repository):pull,push" }
    /// The scope to delete from a repository, as distribution asks for it.
    static func deleteScope(_ repository: String) -> String { "repository:\(repository):pull,push,delete" }
    /// The scope to list repositories.
    static let catalogScope = "registry:catalog:*"

    /// One attempt of a request, authenticated: attaches what the registry asked for before (a token for these
    /// scopes, or Basic credentials); on a 401 learns the challenge, gets a token (or uses Basic) and sends once
    /// more. Returns the final answer, a 401 included when credentials do not help.
    /// - Throws: ``TransportError`` from the transfer; ``RegistryClientError`` from the token endpoint.
    func exchange(_ original: ClientRequest, scopes: [String], sink: (any ResponseSink)?,
                  context: OperationContext) async throws -> ClientResponse {
        var request = original
        if let registryToken = options.registryToken {
            // A token given by the user is all there is: no challenge is followed, a 401 is the answer.
            request.setHeader("Authorization", "Bearer " + registryToken)
            return try await engine.perform(request, sink: sink)
        }
        var sentToken: String?
        var sentBasic = false
        if let challenge = await state.challenge {
            switch challenge.scheme {
            case "bearer":
                let token = try await token(challenge, scopes: scopes, rejecting: nil, context: context)
                request.setHeader("Authorization", "Bearer " + token)
                sentToken = token
            case "basic":
                if let credentials = try credentialSource.get() {
                    request.setHeader("Authorization", "Basic " + credentials.basicToken)
                    sentBasic = true
                }
            default:
                break
            }
        }
        let response = try await engine.perform(request, sink: sink)
        guard response.status == 401 else { return response }

        let challenges = AuthChallenge.parse(response.headerValues("WWW-Authenticate"))
        guard let challenge = challenges.first(where: { $0.scheme == "bearer" && $0.realm != nil })
            ?? challenges.first(where: { $0.scheme == "basic" })
        else { return response }
        await state.learn(challenge)
        request = original
        switch challenge.scheme {
        case "bearer":
            // The registry's own scope for this request joins ours (a mount also needs pull on the source).
            let wanted = Array(Set(scopes + challenge.scopes)).sorted()
            let token = try await token(challenge, scopes: wanted, rejecting: sentToken, context: context)
            if wanted != scopes.sorted() {
                // Cache under the caller's scopes as well, so the next request with them needs no 401 round trip.
                _ = try? await state.token(for: Self.tokenKey(scopes), rejecting: sentToken) {
                    AuthState.Token(value: token, expires: .now + .seconds(30))
                }
            }
            request.setHeader("Authorization", "Bearer " + token)
        default:
            guard !sentBasic, let credentials = try credentialSource.get() else { return response }
            request.setHeader("Authorization", "Basic " + credentials.basicToken)
        }
        return try await engine.perform(request, sink: sink)
    }

    static func tokenKey(_ scopes: [String]) -> String {
        Set(scopes).sorted().joined(separator: " ")
    }

    /// A bearer token for `scopes`, from the cache or the challenge's realm.
    private func token(_ challenge: AuthChallenge, scopes: [String], rejecting rejected: String?,
                       context: OperationContext) async throws -> String {
        try await state.token(for: Self.tokenKey(scopes), rejecting: rejected) { [self] in
            try await fetchToken(challenge, scopes: scopes, context: context)
        }
    }

    /// The token response (docker token spec: `token` or `access_token`, `expires_in` seconds, default 60).
    private struct TokenResponse: Decodable {
        var token: String?
        var access_token: String?
        var expires_in: Double?
    }

    /// A token from the challenge's realm: `GET realm?service=…&scope=…` with Basic credentials when there are some
    /// (anonymous otherwise), or, for an identity token, the OAuth2 form `POST realm` with
    /// `grant_type=refresh_token` (docker token spec, oauth.md), as docker and containerd do.
    private func fetchToken(_ challenge: AuthChallenge, scopes: [String],
                            context: OperationContext) async throws -> AuthState.Token {
        let authContext = OperationContext("authenticate for \(context.operation)", repository: context.repository,
                                           object: context.object)
        guard let realm = challenge.realm, realm.hasPrefix("https://") || realm.hasPrefix("http://") else {
            throw error(.authentication, authContext, "the registry's Bearer challenge has no usable realm: \(challenge.realm ?? "none")")
        }
        let credentials = try credentialSource.get()
        var request: ClientRequest
        if let refreshToken = credentials?.identityToken {
            var form = "grant_type=refresh_token&client_id=" + Self.formEncode(options.userAgent)
                + "&refresh_token=" + Self.formEncode(refreshToken)
            if let service = challenge.service { form += "&service=" + Self.formEncode(service) }
            if !scopes.isEmpty { form += "&scope=" + Self.formEncode(Set(scopes).sorted().joined(separator: " ")) }
            request = ClientRequest(method: "POST", url: realm, settings: try settings.get())
            request.setHeader("Content-Type", "application/x-www-form-urlencoded")
            request.body = .bytes(Array(form.utf8))
        } else {
            var url = realm
            if let service = challenge.service { url = Self.appendingQuery(url, "service", service) }
            for scope in Set(scopes).sorted() { url = Self.appendingQuery(url, "scope", scope) }
            request = ClientRequest(method: "GET", url: url, settings: try settings.get())
            if let credentials {
                request.setHeader("Authorization", "Basic " + credentials.basicToken)
            }
        }
        let response = try await sendWithRetries(request, scopes: [], context: authContext, authenticate: false)
        guard response.status == 200 else {
            let note = switch credentials {
            case nil: "token endpoint \(realm) refused anonymous access (no credentials given or found in auth files)"
            case let credentials? where credentials.identityToken != nil:
                "token endpoint \(realm) refused the identity token"
            case let credentials?: "token endpoint \(realm) refused the credentials of \(credentials.username)"
            }
            var failure = httpError(response, authContext, note: note)
            failure.kind = .authentication
            throw failure
        }
        guard let decoded = try? JSONDecoder().decode(TokenResponse.self, from: Data(response.body)),
              let token = decoded.token ?? decoded.access_token, !token.isEmpty
        else {
            throw error(.invalidResponse, authContext, "token endpoint \(realm) answered without a token")
        }
        // Renew a little early so that a token does not expire between the check and the request.
        let lifetime = max(1, (decoded.expires_in ?? 60) - 5)
        return AuthState.Token(value: token, expires: .now + .milliseconds(Int64(lifetime * 1000)))
    }

    /// `application/x-www-form-urlencoded` value encoding: unreserved characters as they are, the rest %XX.
    static func formEncode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x2D, 0x2E, 0x5F, 0x7E: out.append(Character(UnicodeScalar(byte)))
            default: out += String(format: "%%%02X", byte)
            }
        }
        return out
    }
}
