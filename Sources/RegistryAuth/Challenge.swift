/// Pieces of `Authorization` and `WWW-Authenticate` headers (RFC 9110 §11).
enum Challenge {
    /// A quoted-string (RFC 9110 §5.6.4): `"` and `\` escaped; control characters, which a header value cannot
    /// carry, dropped.
    static func quoted(_ value: String) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            if scalar == "\"" || scalar == "\\" { out.append("\\") }
            if scalar.value < 0x20 && scalar != "\t" || scalar.value == 0x7F { continue }
            out.unicodeScalars.append(scalar)
        }
        return out + "\""
    }

    /// Splits `Scheme credentials` into the scheme (lower-cased: schemes are case-insensitive) and the credentials
    /// with surrounding spaces removed; nil when there is no credential part.
    static func split(authorization: String) -> (scheme: String, credentials: Substring)? {
        let trimmed = authorization.trimmingWhitespace
        guard let space = trimmed.firstIndex(where: { $0 == " " || $0 == "\t" }) else { return nil }
        let credentials = String(trimmed[space...]).trimmingWhitespace
        guard !credentials.isEmpty else { return nil }
        return (trimmed[..<space].lowercased(), credentials)
    }
}
