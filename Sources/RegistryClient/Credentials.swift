/// A user name and password (or token) for a registry, as given by `--creds` or found in an auth file or a
/// credential helper.
public struct Credentials: Sendable, Hashable {
    public var username: String
    public var password: String
    /// An OAuth2 refresh token (a credential helper's `<token>` user, an auth file's `identitytoken`): exchanged at
    /// the token endpoint with `grant_type=refresh_token` instead of sending the password with Basic.
    public var identityToken: String?

    public init(username: String, password: String, identityToken: String? = nil) {
        self.username = username
        self.password = password
        self.identityToken = identityToken
    }

    /// Parses `USERNAME[:PASSWORD]` as skopeo's `--creds` does; the password may contain `:`.
    /// - Returns: nil for an empty user name.
    public init?(parsing text: String) {
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard let user = parts.first, !user.isEmpty else { return nil }
        username = String(user)
        password = parts.count > 1 ? String(parts[1]) : ""
    }

    /// `base64(username:password)`, the `auth` field of auth files and the Basic credentials.
    var basicToken: String { Base64.encode(Array("\(username):\(password)".utf8)) }
}
