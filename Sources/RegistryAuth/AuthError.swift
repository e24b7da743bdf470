/// A credential source that cannot be used: an htpasswd file with a non-bcrypt entry, a key or certificate bundle
/// that does not parse, a signing key with loose permissions. The message names the file (and line) and says what
/// is accepted; it never contains a password, a hash or a token.
public struct AuthError: Error, CustomStringConvertible, Equatable {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}
