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

    /// Splits `Scheme credentials` into the scheme (as sent: compare it with `isScheme`, schemes are
    /// case-insensitive) and the credentials with surrounding spaces removed; nil when there is no credential part.
    static func split(authorization: String) -> (scheme: Substring, credentials: Substring)? {
        // On UTF-8 code units, not Characters, and without copies: this runs for every request with credentials.
        let utf8 = authorization.utf8
        func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0D }
        guard let start = utf8.firstIndex(where: { !isSpace($0) }),
              let last = utf8.lastIndex(where: { !isSpace($0) }) else { return nil }
        let end = utf8.index(after: last)
        guard let space = utf8[start..<end].firstIndex(where: { $0 == 0x20 || $0 == 0x09 }) else { return nil }
        guard let credentialsStart = utf8[space..<end].firstIndex(where: { !isSpace($0) }) else { return nil }
        return (authorization[start..<space], authorization[credentialsStart..<end])
    }

    /// Whether `scheme` is `lowercase` (ASCII, any case).
    static func isScheme(_ scheme: Substring, _ lowercase: StaticString) -> Bool {
        let expected = UnsafeBufferPointer(start: lowercase.utf8Start, count: lowercase.utf8CodeUnitCount)
        guard scheme.utf8.count == expected.count else { return false }
        return zip(scheme.utf8, expected).allSatisfy { c, e in (c >= 0x41 && c <= 0x5A ? c | 0x20 : c) == e }
    }
}
