/// What a client has learnt about its registry: the URL scheme that works, the authentication it asks for,
/// and the bearer tokens obtained so far (per scope set, until they expire).
///
/// An actor, so concurrent tasks share one probe and one token fetch per scope set instead of racing.
actor AuthState {
    struct Token: Sendable {
        var value: String
        var expires: ContinuousClock.Instant
    }

    private var scheme: String?
    private var probe: Task<String, any Error>?
    /// The last challenge the registry sent (bearer realm/service or basic); nil until the first 401.
    private(set) var challenge: AuthChallenge?
    private var tokens: [String: Token] = [:]
    private var fetches: [String: Task<Token, any Error>] = [:]

    init(scheme: String?) {
        self.scheme = scheme
    }

    /// The scheme, finding it with `find` the first time (one probe for all concurrent callers).
    func scheme(find: @escaping @Sendable () async throws -> String) async throws -> String {
        if let scheme { return scheme }
        if let probe { return try await probe.value }
        let task = Task { try await find() }
        probe = task
        do {
            let found = try await task.value
            scheme = found
            probe = nil
            return found
        } catch {
            probe = nil
            throw error
        }
    }

    func learn(_ challenge: AuthChallenge) {
        if self.challenge?.realm != challenge.realm || self.challenge?.service != challenge.service
            || self.challenge?.scheme != challenge.scheme
        {
            tokens = [:]
        }
        self.challenge = challenge
    }

    /// A valid token for `key`, fetching one with `fetch` when there is none.
    /// - Parameter rejected: A token the registry just refused: it is not returned again (but a newer one that a
    ///   concurrent task fetched meanwhile is, so a burst of 401s costs one token request).
    func token(for key: String, rejecting rejected: String? = nil,
               fetch: @escaping @Sendable () async throws -> Token) async throws -> String {
        if let token = tokens[key], token.expires > .now, token.value != rejected { return token.value }
        if let running = fetches[key] { return try await running.value.value }
        let task = Task { try await fetch() }
        fetches[key] = task
        defer { fetches[key] = nil }
        let token = try await task.value
        tokens[key] = token
        return token.value
    }
}
