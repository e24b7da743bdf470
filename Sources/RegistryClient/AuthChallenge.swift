/// One challenge of a `WWW-Authenticate` header (RFC 9110 §11.6.1): a scheme and its parameters, such as
/// `Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"`.
public struct AuthChallenge: Sendable, Hashable {
    /// The scheme, lowercased: `bearer`, `basic`.
    public var scheme: String
    /// Parameters with lowercased names; quoted values unescaped.
    public var parameters: [String: String]

    public var realm: String? { parameters["realm"] }
    public var service: String? { parameters["service"] }
    /// The scopes the registry asked for (space-separated in one `scope` parameter).
    public var scopes: [String] { (parameters["scope"] ?? "").split(separator: " ").map(String.init) }

    /// Parses every challenge in the header values; unparseable parts are skipped.
    public static func parse(_ values: [String]) -> [AuthChallenge] {
        values.flatMap { parse(header: $0) }
    }

    /// Parses one header value, which may hold several challenges separated by commas.
    public static func parse(header: String) -> [AuthChallenge] {
        var scanner = Scanner(Array(header.utf8))
        var result: [AuthChallenge] = []
        while true {
            scanner.skip { $0 == 0x20 || $0 == 0x09 || $0 == 0x2C }
            guard let scheme = scanner.token() else { break }
            var challenge = AuthChallenge(scheme: scheme.lowercased(), parameters: [:])
            // Parameters: name=value pairs separated by commas, until a token not followed by '='
            // (the next challenge's scheme).
            while true {
                scanner.skip { $0 == 0x20 || $0 == 0x09 || $0 == 0x2C }
                let mark = scanner.position
                guard let name = scanner.token() else { break }
                scanner.skip { $0 == 0x20 || $0 == 0x09 }
                guard scanner.consume(0x3D) else {  // '='
                    scanner.position = mark
                    break
                }
                scanner.skip { $0 == 0x20 || $0 == 0x09 }
                let value = scanner.peek() == 0x22 ? scanner.quoted() : (scanner.token() ?? "")
                challenge.parameters[name.lowercased()] = value
            }
            result.append(challenge)
            // Each round consumes at least the scheme token, so the loop ends.
        }
        return result
    }

    private struct Scanner {
        let bytes: [UInt8]
        var position = 0

        init(_ bytes: [UInt8]) { self.bytes = bytes }

        var atEnd: Bool { position >= bytes.count }
        func peek() -> UInt8? { position < bytes.count ? bytes[position] : nil }

        mutating func skip(while predicate: (UInt8) -> Bool) {
            while position < bytes.count, predicate(bytes[position]) { position += 1 }
        }

        mutating func consume(_ byte: UInt8) -> Bool {
            guard peek() == byte else { return false }
            position += 1
            return true
        }

        /// An RFC 9110 token (also accepting `/`, `+`, `=`-free token68 characters used in realms without quotes).
        mutating func token() -> String? {
            let start = position
            while position < bytes.count, Self.isTokenByte(bytes[position]) { position += 1 }
            return position > start ? String(decoding: bytes[start..<position], as: UTF8.self) : nil
        }

        /// A quoted-string, with backslash escapes removed.
        mutating func quoted() -> String {
            position += 1  // opening quote
            var out: [UInt8] = []
            while position < bytes.count {
                let b = bytes[position]
                position += 1
                if b == 0x22 { break }
                if b == 0x5C, position < bytes.count {
                    out.append(bytes[position])
                    position += 1
                } else {
                    out.append(b)
                }
            }
            return String(decoding: out, as: UTF8.self)
        }

        static func isTokenByte(_ b: UInt8) -> Bool {
            switch b {
            case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
            case 0x21, 0x23, 0x24, 0x25, 0x26, 0x27, 0x2A, 0x2B, 0x2D, 0x2E, 0x5E, 0x5F, 0x60, 0x7C, 0x7E,
                 0x2F, 0x3A:
                return true
            default: return false
            }
        }
    }
}
