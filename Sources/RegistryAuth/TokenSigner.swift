import Glibc
import SystemIO

/// The built-in token service's signing key: EC P-256, ES256 JWTs with distribution's libtrust `kid`.
///
/// The key lives in a PEM file that only this user may read. When the file is absent a new key is written there,
/// created 0600 with `O_EXCL` (never looser, not even for an instant) under a temporary name and linked into place,
/// so that a crash leaves no half-written key and two starting servers end up with the same one.
public struct TokenSigner: Sendable {
    public let issuer: String
    let key: SigningKey
    /// distribution's key id of the public key, written in every token's `kid` header.
    public let keyID: String

    /// Loads the key at `keyPath`, or creates it. - Throws: `AuthError` when the file is not an EC P-256 PEM key,
    /// is readable by group or others, or cannot be created (its directory must exist).
    public init(keyPath: String, issuer: String) throws(AuthError) {
        self.issuer = issuer
        if let existing = try Self.load(keyPath) {
            key = existing
        } else {
            key = try Self.create(keyPath)
        }
        guard key.publicKey.kind == .p256 else {
            throw AuthError("token key \(keyPath): a \(key.publicKey.kind.rawValue) key; an EC P-256 key is needed")
        }
        keyID = key.publicKey.libtrustKeyID
    }

    /// The public key as a JWKS document, for verifiers (`TokenTrust(jwks:)`, or a file an operator publishes).
    public var publicJWKS: [UInt8] {
        var jwk = key.publicKey.jwkMembers
        jwk["kid"] = .string(keyID)
        jwk["alg"] = .string("ES256")
        jwk["use"] = .string("sig")
        return Array(JSON.object(["keys": .array([.object(jwk)])]).serialized.utf8)
    }

    /// A trust that accepts exactly this signer's tokens.
    public var trust: TokenTrust { TokenTrust(key: key.publicKey, keyID: keyID) }

    /// Signs `claims` (adding `iss`) as an ES256 JWT with this key's `kid`.
    func sign(_ claims: [String: JSON]) throws(AuthError) -> String {
        var claims = claims
        claims["iss"] = .string(issuer)
        return try CompactJWS.sign(claims: claims, key: key, extraHeader: ["kid": .string(keyID)])
    }

    /// An access token in distribution's shape (`docker-registry/auth-jwt`).
    /// - Parameters:
    ///   - subject: the user; nil (anonymous) is written as `""` as the spec asks.
    ///   - access: the granted scopes, as the `access` claim.
    public func makeToken(subject: String?, audience: String, access: [Scope], lifetime: Int,
                          now: Int64? = nil) throws(AuthError) -> String {
        let now = now ?? currentUnixTime()
        return try sign([
            "sub": .string(subject ?? ""), "aud": .string(audience),
            "exp": .number(Double(now + Int64(lifetime))), "nbf": .number(Double(now)), "iat": .number(Double(now)),
            "jti": .string(Base64.encodeURL(randomBytes(16))),
            "access": .array(access.map { scope in
                .object(["type": .string(scope.type), "name": .string(scope.name),
                         "actions": .array(scope.actions.map(JSON.string))])
            }),
        ])
    }

    private static func load(_ path: String) throws(AuthError) -> SigningKey? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw AuthError("token key \(path): \(SystemError("open", errno: errno))")
        }
        var st = stat()
        let statOK = fstat(fd, &st) == 0
        close(fd)
        guard statOK, st.st_mode & S_IFMT == S_IFREG else { throw AuthError("token key \(path): not a regular file") }
        guard st.st_mode & 0o077 == 0 else {
            throw AuthError("token key \(path) is accessible to group or others (mode "
                + "\(String(st.st_mode & 0o777, radix: 8))): chmod 600 it")
        }
        let bytes: [UInt8]?
        do {
            bytes = try FileSystem.read(path, maxBytes: 64 << 10)
        } catch {
            throw AuthError("token key \(path): \(error)")
        }
        guard let bytes else { return nil }
        do {
            return try SigningKey(pem: bytes)
        } catch {
            throw AuthError("token key \(path): \(error)")
        }
    }

    private static func create(_ path: String) throws(AuthError) -> SigningKey {
        let directory = FileSystem.parent(of: path)
        guard FileSystem.isDirectory(directory) else {
            throw AuthError("token key \(path): directory \(directory) does not exist")
        }
        let key = try SigningKey.generateP256()
        let temporary = "\(path).tmp-\(FileSystem.randomName())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw AuthError("token key \(path): \(SystemError("create \(temporary)", errno: errno))") }
        do {
            defer { close(fd) }
            try FileSystem.writeAll(fd, key.pem)
            guard fsync(fd) == 0 else { throw SystemError("fsync \(temporary)", errno: errno) }
        } catch {
            unlink(temporary)
            throw AuthError("token key \(path): \(error)")
        }
        // link(2) fails with EEXIST when another process created the key meanwhile: then that key is the one.
        let linked = link(temporary, path) == 0
        let linkErrno = errno
        unlink(temporary)
        if !linked {
            if linkErrno == EEXIST, let theirs = try load(path) { return theirs }
            throw AuthError("token key \(path): \(SystemError("link", errno: linkErrno))")
        }
        try? FileSystem.syncDirectory(directory)
        return key
    }
}
