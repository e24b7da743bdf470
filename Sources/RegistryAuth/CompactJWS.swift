/// A JWS in compact serialization (RFC 7515 §7.1): `header.payload.signature`, each unpadded base64url, the header
/// and payload JSON objects. Parsing checks form only; `JWTVerifier` decides trust.
struct CompactJWS {
    let header: JSON
    let claims: JSON
    /// The ASCII bytes of `header.payload`, which the signature covers.
    let signingInput: [UInt8]
    let signature: [UInt8]

    /// Tokens longer than this are refused before any work (an `x5c` chain of three certificates is ~6 KiB).
    static let maxLength = 32 << 10

    static func parse(_ token: Substring) -> Result<CompactJWS, AuthError> {
        guard token.utf8.count <= maxLength else { return .failure(AuthError("token longer than \(maxLength) bytes")) }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { return .failure(AuthError("token has \(parts.count) segments, not 3")) }
        guard let headerBytes = Base64.decodeURL(parts[0]), let claimBytes = Base64.decodeURL(parts[1]),
              let signature = Base64.decodeURL(parts[2]) else {
            return .failure(AuthError("token segment is not unpadded base64url"))
        }
        guard let header = JSON.parse(headerBytes), header.isObject else {
            return .failure(AuthError("token header is not a JSON object"))
        }
        guard let claims = JSON.parse(claimBytes), claims.isObject else {
            return .failure(AuthError("token claims are not a JSON object"))
        }
        guard !signature.isEmpty else { return .failure(AuthError("unsigned token")) }
        return .success(CompactJWS(header: header, claims: claims,
                                   signingInput: Array(token.utf8.prefix(parts[0].utf8.count + 1 + parts[1].utf8.count)),
                                   signature: signature))
    }

    /// Builds and signs a compact JWS with `key`'s algorithm; `extraHeader` adds members such as `kid`.
    static func sign(claims: [String: JSON], key: SigningKey, extraHeader: [String: JSON] = [:]) throws(AuthError) -> String {
        var header = extraHeader
        header["typ"] = .string("JWT")
        header["alg"] = .string(key.algorithm.rawValue)
        let input = Base64.encodeURL(Array(JSON.object(header).serialized.utf8)) + "."
            + Base64.encodeURL(Array(JSON.object(claims).serialized.utf8))
        return input + "." + Base64.encodeURL(try key.sign(Array(input.utf8)))
    }
}
