/// Strict Base64 (RFC 4648): the standard alphabet with padding for `Authorization: Basic`, the URL alphabet without
/// padding for JWS segments (RFC 7515 §2). Anything else — padding where none belongs, whitespace, a character of
/// the other alphabet, non-zero trailing bits — is refused, so that one token has exactly one spelling (a cache key
/// or a signature check cannot be fooled by an alternative encoding of the same bytes).
enum Base64 {
    private static let standardAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let urlAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    private static func table(_ alphabet: [UInt8]) -> [UInt8] {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (value, char) in alphabet.enumerated() { table[Int(char)] = UInt8(value) }
        return table
    }
    private static let standardTable = table(standardAlphabet)
    private static let urlTable = table(urlAlphabet)

    static func encodeURL(_ bytes: some Collection<UInt8>) -> String { encode(bytes, urlAlphabet, padded: false) }
    static func encodeStandard(_ bytes: some Collection<UInt8>) -> String { encode(bytes, standardAlphabet, padded: true) }

    /// Decodes unpadded base64url; nil for anything that is not its one canonical spelling.
    static func decodeURL(_ text: some StringProtocol) -> [UInt8]? {
        decode(Array(text.utf8), urlTable, padded: false)
    }

    /// Decodes padded standard base64; nil for anything that is not its one canonical spelling.
    static func decodeStandard(_ text: some StringProtocol) -> [UInt8]? {
        decode(Array(text.utf8), standardTable, padded: true)
    }

    private static func encode(_ bytes: some Collection<UInt8>, _ alphabet: [UInt8], padded: Bool) -> String {
        let input = Array(bytes)
        var out: [UInt8] = []
        out.reserveCapacity((input.count + 2) / 3 * 4)
        var i = 0
        while i + 3 <= input.count {
            let n = UInt32(input[i]) << 16 | UInt32(input[i + 1]) << 8 | UInt32(input[i + 2])
            for shift in [18, 12, 6, 0] { out.append(alphabet[Int(n >> UInt32(shift) & 63)]) }
            i += 3
        }
        let rest = input.count - i
        if rest > 0 {
            var n = UInt32(input[i]) << 16
            if rest == 2 { n |= UInt32(input[i + 1]) << 8 }
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            if rest == 2 { out.append(alphabet[Int(n >> 6 & 63)]) }
            if padded { out.append(contentsOf: Array(repeating: UInt8(ascii: "="), count: 3 - rest)) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func decode(_ input: [UInt8], _ table: [UInt8], padded: Bool) -> [UInt8]? {
        var body = input[...]
        if padded {
            guard input.count % 4 == 0 else { return nil }
            var pads = 0
            while pads < 2, body.last == UInt8(ascii: "=") { body = body.dropLast(); pads += 1 }
        } else if input.count % 4 == 1 {
            return nil
        }
        var out: [UInt8] = []
        out.reserveCapacity(body.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        for char in body {
            let value = table[Int(char)]
            guard value != 0xFF else { return nil }
            accumulator = accumulator << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        // Leftover bits must be zero (RFC 4648 §3.5): "QQ" and "QR" must not both decode to "A".
        guard accumulator & ((1 << UInt32(bits)) - 1) == 0 else { return nil }
        return out
    }
}
