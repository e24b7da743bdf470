import BlobStore
import HTTPServer
import Logging
import OCIModel
import RegistryAuth

/// What the access check established about a request, for the handlers whose answer depends on who asks (the
/// catalog, mounts).
struct Access: Sendable {
    var identity: Identity
    /// nil when no security is configured: everything is open.
    var policy: AccessPolicy?

    static let open = Access(identity: .anonymous, policy: nil)

    /// Whether every repository is open to everyone (then nothing needs filtering).
    var isOpen: Bool { policy?.isOpen ?? true }

    func mayPull(_ repository: String) -> Bool {
        guard let policy else { return true }
        return policy.actions(for: identity, repository: repository).contains(.pull)
    }

    /// Whether the catalog shows `repository` to this caller.
    func catalogShows(_ repository: String) -> Bool {
        guard let policy else { return true }
        return policy.catalogShows(repository, to: identity)
    }
}

extension RegistryResponder {
    /// The outcome of `checkAccess`: go on to the handler, or send this answer.
    enum Gate {
        case proceed(Access)
        case answer(Response)
    }

    /// The one access check, run before anything else looks at the request (in particular before the manifest
    /// response cache): request rate, deletes switched off, credentials, then the policy.
    func checkAccess(_ request: Request, _ route: Route, _ security: RegistrySecurity) async -> Gate {
        var client = Client(request)
        // Probes are rate-free: a kubelet asking every few seconds must not be refused (nor count against an
        // address that shares its NAT).
        if route != .health && route != .ready, let refused = Self.admit(&client, security) { return .answer(refused) }
        // A name outside the grammar is refused as the handler would refuse it, before it is matched against
        // patterns or written into a challenge (where a decoded CR, LF or quote would break the header).
        switch route {
        case .blob(let name, _), .manifest(let name, _), .tags(let name), .referrers(let name, _), .uploads(let name),
             .upload(let name, _):
            do { _ = try repositoryName(name) } catch { return .answer(error.httpResponse) }
        case .base, .catalog, .health, .ready, .metrics, .token, .notFound:
            break
        }
        var needed: Need
        switch route {
        case .health, .ready, .notFound, .token:
            // Open: a probe, a plain 404, and the token service (which checks credentials itself).
            return .proceed(Access(identity: .anonymous, policy: security.policy))
        case .metrics:
            needed = Need(.metrics)
        case .base:
            needed = Need(.authenticated)
        case .catalog:
            needed = Need(.catalog)
        case .blob(let name, _), .manifest(let name, _):
            if request.method == "DELETE" && !security.deleteEnabled {
                return .answer(RegistryError(.unsupported, "deletes are disabled on this registry (storage.delete.enabled)")
                    .httpResponse)
            }
            needed = Need(.repository(String(name), Self.actions(forMethod: request.method)))
        case .tags(let name), .referrers(let name, _):
            needed = Need(.repository(String(name), Self.actions(forMethod: request.method)))
        case .uploads(let name), .upload(let name, _):
            if request.method == "DELETE" && !security.deleteEnabled {
                // Every DELETE, as the configuration key promises; an abandoned session expires by itself.
                return .answer(RegistryError(.unsupported, "deletes are disabled on this registry (storage.delete.enabled)")
                    .httpResponse)
            }
            // Every request of an upload session is part of a push, cancelling one included (it deletes nothing
            // stored). distribution asks for pull too, so that a client that may push can check what is there.
            needed = Need(.repository(String(name), [.pull, .push]))
            if case .uploads = route, request.query("mount") != nil, let from = request.query("from"),
               (try? repositoryName(from)) != nil {
                // Named in the challenge so that a token client asks for it; the mount itself checks it and falls
                // back to a plain upload session when it is missing (distribution-spec allows that).
                needed.mountFrom = from
            }
        }
        return await authorize(request, needed, security, &client)
    }

    /// The check for a `GET`/`HEAD` the manifest response cache can answer: `repository` was validated when the
    /// answer was cached, so only the request rate, the credentials and `pull` remain to check.
    func checkCachedAccess(_ request: Request, repository: String, _ security: RegistrySecurity) async -> Gate {
        var client = Client(request)
        if let refused = Self.admit(&client, security) { return .answer(refused) }
        return await authorize(request, Need(.repository(repository, [.pull])), security, &client)
    }

    /// The client as the limits count it, made when first needed (it costs a string).
    struct Client {
        let request: Request
        private var made: String?

        init(_ request: Request) { self.request = request }

        mutating func address() -> String {
            if let made { return made }
            let address = RegistryResponder.uploadOwner(request)
            made = address
            return address
        }
    }

    /// The per-address request limit; nil when the request may go on.
    private static func admit(_ client: inout Client, _ security: RegistrySecurity) -> Response? {
        guard let limiter = security.rateLimiter, limiter.requestsPerSecond > 0,
              let wait = limiter.admitRequest(address: client.address()) else { return nil }
        return tooManyRequests(wait, "too many requests from this address")
    }

    /// Credentials, then the policy, for what the request needs.
    private func authorize(_ request: Request, _ needed: Need, _ security: RegistrySecurity,
                           _ client: inout Client) async -> Gate {
        let limiter = security.rateLimiter

        var identity = Identity.anonymous
        if !security.authenticators.isEmpty, let authorization = request.headers["Authorization"] {
            // A guesser that is over its limit gets no answer about its credentials, and costs no bcrypt.
            if let limiter, limiter.mayLimitAuthentication,
               let wait = limiter.authenticationRetryAfter(address: client.address()) {
                metrics.authenticationFailed(.rateLimited)
                return .answer(Self.tooManyRequests(wait, "too many failed authentications from this address"))
            }
            // A cached result is taken here; a bcrypt or a signature check runs on the authentication pool, so that
            // a stream of fresh credentials cannot stall the event loop and every connection on it.
            let result: AuthResult
            if let quick = security.quickAuthenticate(authorization) {
                result = quick
            } else {
                let address = client.address()
                if let refused = Self.refusal(authenticationGate.enter(address)) { return .answer(refused) }
                result = await authenticateOffLoop(security, authorization)
                authenticationGate.leave(address)
            }
            switch result {
            case .anonymous:
                break
            case .authenticated(let authenticated):
                // A password of a user under attack is refused as a wrong one would be, so that the answer tells the
                // guesser nothing. A verified token is not: it proves a password checked before the attack.
                if authenticated.grantedScopes == nil, let user = authenticated.user, let limiter,
                   limiter.mayLimitAuthentication,
                   let wait = limiter.authenticationRetryAfter(address: client.address(), user: user) {
                    metrics.authenticationFailed(.rateLimited)
                    return .answer(Self.tooManyRequests(wait, "too many failed authentications for this user"))
                }
                identity = authenticated
            case .invalid(let reason, let user):
                if let wait = limiter?.authenticationRetryAfter(address: client.address(), user: user) {
                    metrics.authenticationFailed(.rateLimited)
                    return .answer(Self.tooManyRequests(wait, "too many failed authentications for this user"))
                }
                metrics.authenticationFailed(.invalid(authorization))
                limiter?.recordFailure(address: client.address(), user: user)
                // The claimed name is the client's text: the log formatter escapes every field, so it cannot forge a line.
                logger.info("authentication failed", metadata: [
                    "client": .string(Self.uploadOwner(request)), "user": .string(user ?? "-"),
                    "reason": .string(reason),
                ])
                return .answer(unauthorized(security, request, scopes: needed.scopes, error: "invalid_token"))
            }
        }

        if identity.isAnonymous, let subject = request.clientCertificateSubject {
            // Mutual TLS: a verified client certificate names its user by its one common name, as zot does (none,
            // or several: no user); a request with credentials as well is the user of the credentials.
            identity = Identity(user: request.clientCertificateCommonName, clientCertificateSubject: subject)
        }
        switch security.policy.decide(identity, needed.requirement) {
        case .allowed:
            return .proceed(Access(identity: identity, policy: security.policy))
        case .needsCredentials:
            return .answer(unauthorized(security, request, scopes: needed.scopes, error: nil))
        case .insufficientScope:
            metrics.authenticationFailed(.insufficientScope)
            return .answer(unauthorized(security, request, scopes: needed.scopes, error: "insufficient_scope"))
        case .denied:
            metrics.authenticationFailed(.denied)
            var response = RegistryError(.denied, "requested access to the resource is denied",
                                         detail: Self.scopeDetail(needed.scopes)).httpResponse
            response.authenticatedUser = identity.user
            return .answer(response)
        }
    }

    /// The answer when the authentication gate refuses a slow check; nil when it admitted it.
    static func refusal(_ entry: AuthenticationGate.Entry) -> Response? {
        switch entry {
        case .admitted: nil
        case .addressBusy: tooManyRequests(1, "too many authentications in progress from this address")
        case .full:
            RegistryError(.unavailable, "too many authentications in progress", headers: ["Retry-After": "1"]).httpResponse
        }
    }

    private func authenticateOffLoop(_ security: RegistrySecurity, _ authorization: String) async -> AuthResult {
        (try? await (authenticationPool ?? pool).run { security.authenticate(authorization) })
            ?? .invalid(reason: "authentication could not run", user: nil)
    }

    /// `GET`/`HEAD` read, `DELETE` deletes, anything else writes (and, as distribution has it, reads).
    static func actions(forMethod method: String) -> Set<Action> {
        switch method {
        case "GET", "HEAD": [.pull]
        case "DELETE": [.delete]
        default: [.pull, .push]
        }
    }

    /// What a request needs, and the scopes a challenge names for it (made only for a 401 or 403: an allowed
    /// request, the common case, pays for no strings).
    struct Need {
        var requirement: AccessPolicy.Requirement
        /// A mount's `from`, named in the challenge so that a token client asks for it (the mount itself checks it).
        var mountFrom: String?

        init(_ requirement: AccessPolicy.Requirement) { self.requirement = requirement }

        var scopes: [Scope] {
            var scopes: [Scope]
            switch requirement {
            case .authenticated: scopes = []
            case .catalog: scopes = [.catalog]
            case .metrics: scopes = []
            case .repository(let name, let actions): scopes = [.repository(name, Array(actions))]
            }
            if let mountFrom { scopes.append(.repository(mountFrom, [.pull])) }
            return scopes
        }
    }

    /// 401 with one `WWW-Authenticate` per authenticator, each naming the scopes the request needs.
    private func unauthorized(_ security: RegistrySecurity, _ request: Request, scopes: [Scope], error: String?) -> Response {
        var response = RegistryError(.unauthorized, "authentication required", detail: Self.scopeDetail(scopes)).httpResponse
        let host = Self.plainHost(request.headers["Host"])
        for authenticator in security.challengers ?? security.authenticators {
            response.headers.add("WWW-Authenticate", authenticator.challenge(for: scopes, error: error, host: host))
        }
        return response
    }

    /// The `Host` header when it is a plain `host[:port]` (letters, digits, `.-:[]`), else nil: it may be written
    /// into a challenge's realm, where a quote or a path would change what the client is told.
    static func plainHost(_ value: String?) -> String? {
        guard let value, !value.isEmpty, value.utf8.count <= 255 else { return nil }
        let allowed = value.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
                || c == UInt8(ascii: ".") || c == UInt8(ascii: "-") || c == UInt8(ascii: ":")
                || c == UInt8(ascii: "[") || c == UInt8(ascii: "]")
        }
        return allowed ? value : nil
    }

    /// distribution's error detail for 401 and 403: the access the request needed.
    private static func scopeDetail(_ scopes: [Scope]) -> JSONValue? {
        guard !scopes.isEmpty else { return nil }
        return .array(scopes.flatMap { scope in
            scope.actions.map { action in
                .object(["Type": .string(scope.type), "Name": .string(scope.name), "Action": .string(action)])
            }
        })
    }

    static func tooManyRequests(_ retryAfter: Int, _ message: String) -> Response {
        RegistryError(.tooManyRequests, message, headers: ["Retry-After": "\(retryAfter)"]).httpResponse
    }

    /// `GET`/`POST /token`: the built-in token service, when there is one. Its credentials count against the
    /// same limits as the API's: a client address over its limit is not served, wrong credentials count against
    /// the address and the claimed user, and the right password of a user under attack is refused like a wrong one.
    func token(_ request: Request, body: RequestBody, _ security: RegistrySecurity) async -> Response {
        guard let service = security.tokenService else { return .text(.notFound, "404 page not found") }
        var client = Client(request)
        let limiter = security.rateLimiter
        if let limiter, limiter.mayLimitAuthentication, let wait = limiter.authenticationRetryAfter(address: client.address()) {
            metrics.authenticationFailed(.rateLimited)
            return Self.tooManyRequests(wait, "too many failed authentications from this address")
        }
        let pool = authenticationPool ?? self.pool
        // A token request whose credentials need a bcrypt (not cached, or sent in a POST form) takes a slot of the
        // gate like a slow API check; one with recently checked Basic credentials signs at once.
        let address = client.address()
        let slow = request.headers["Authorization"].map { security.quickAuthenticate($0) == nil } ?? true
        if slow, let refused = Self.refusal(authenticationGate.enter(address)) { return refused }
        let answer = await service(request, body) { work in
            await withCheckedContinuation { continuation in pool.execute { continuation.resume(returning: work()) } }
        }
        if slow { authenticationGate.leave(address) }
        switch answer.outcome {
        case .invalid(let reason, let user):
            metrics.authenticationFailed(.tokenRefused)
            limiter?.recordFailure(address: client.address(), user: user)
            logger.info("token request refused", metadata: [
                "client": .string(client.address()), "user": .string(user ?? "-"),
                "reason": .string(reason),
            ])
        case .authenticated(let identity):
            if let user = identity.user, let limiter, limiter.mayLimitAuthentication,
               let wait = limiter.authenticationRetryAfter(address: client.address(), user: user) {
                metrics.authenticationFailed(.rateLimited)
                return Self.tooManyRequests(wait, "too many failed authentications for this user")
            }
        case .anonymous:
            break
        }
        return answer.response
    }
}
