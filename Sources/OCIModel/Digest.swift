/// A content identifier: `<algorithm>:<encoded>`, as in image-spec `descriptor.md` ("Digests").
///
/// Only registered algorithms (`sha256`, `sha512`) are representable. The spec says implementations
/// SHOULD let grammar-valid but unregistered algorithms pass; we refuse them instead (as
/// distribution's `digest.Parse` does) because a registry cannot verify content it cannot hash,
/// and an unverifiable digest is worse than a clear `unsupportedAlgorithm` error.
///
/// Every `Digest` value is valid by construction, so code downstream (storage paths, URLs) can use
/// ``algorithm`` and ``encoded`` without re-checking them: `encoded` is always lowercase hex of the
/// exact length the algorithm produces.
public struct Digest: Hashable, Sendable {
    /// The hash function that produced ``encoded``.
    public let algorithm: Algorithm
    /// The lowercase hex encoding of the hash (64 characters for SHA-256, 128 for SHA-512).
    public let encoded: String

    /// Parses and validates a digest string such as `sha256:6c3c62…`.
    ///
    /// The whole string is first checked against the descriptor grammar, so that a malformed string
    /// is reported as ``DigestError/invalid(_:reason:)`` even when its algorithm is unknown; only a
    /// grammar-valid digest with an unregistered algorithm yields
    /// ``DigestError/unsupportedAlgorithm(_:)``.
    ///
    /// - Parameter string: The digest, `<algorithm>:<encoded>`.
    /// - Throws: ``DigestError`` naming what is wrong.
    public init(parsing string: some StringProtocol) throws(DigestError) {
        let string = Substring(string)
        let utf8 = string.utf8
        guard let colon = utf8.firstIndex(of: UInt8(ascii: ":")) else {
            throw .invalid(String(string), reason: "missing ':' between algorithm and encoded portion")
        }
        let algorithmBytes = utf8[..<colon]
        let encodedBytes = utf8[utf8.index(after: colon)...]
        if let reason = Digest.grammarViolation(algorithm: algorithmBytes, encoded: encodedBytes) {
            throw .invalid(String(string), reason: reason)
        }
        guard let algorithm = Algorithm(rawValue: String(Substring(algorithmBytes))) else {
            throw .unsupportedAlgorithm(String(Substring(algorithmBytes)))
        }
        let encoded = String(Substring(encodedBytes))
        try self.init(algorithm: algorithm, encoded: encoded)
    }

    /// Makes a digest from its parts, enforcing the algorithm's encoding rules.
    ///
    /// - Parameters:
    ///   - algorithm: A registered algorithm.
    ///   - encoded: Lowercase hex; `[A-F]` MUST NOT be used (descriptor.md, "SHA-256").
    /// - Throws: ``DigestError/invalid(_:reason:)`` if `encoded` has the wrong length or alphabet.
    public init(algorithm: Algorithm, encoded: String) throws(DigestError) {
        let expected = algorithm.encodedLength
        var count = 0
        for byte in encoded.utf8 {
            count += 1
            guard Digest.isLowercaseHex(byte) else {
                let reason = Digest.isUppercaseHex(byte)
                    ? "\(algorithm) digests must use lowercase hex ([A-F] is not allowed)"
                    : "\(algorithm) digests must be hex; found \(Digest.describe(byte))"
                throw .invalid("\(algorithm):\(encoded)", reason: reason)
            }
        }
        guard count == expected else {
            throw .invalid("\(algorithm):\(encoded)",
                           reason: "\(algorithm) digests have \(expected) hex characters, not \(count)")
        }
        self.algorithm = algorithm
        self.encoded = encoded
    }

    /// Wraps an already-validated hex string; only for code in this module that produced it.
    init(uncheckedAlgorithm algorithm: Algorithm, encoded: String) {
        self.algorithm = algorithm
        self.encoded = encoded
    }
}

extension Digest: CustomStringConvertible {
    /// The canonical form, `sha256:<hex>`, as used in JSON, URLs and `Docker-Content-Digest`.
    public var description: String { "\(algorithm.rawValue):\(encoded)" }
}

extension Digest: Comparable {
    /// Orders digests by their string form, so sorted listings are stable and match `sort(1)`.
    public static func < (lhs: Digest, rhs: Digest) -> Bool {
        if lhs.algorithm != rhs.algorithm { return lhs.algorithm.rawValue < rhs.algorithm.rawValue }
        return lhs.encoded < rhs.encoded
    }
}

extension Digest {
    /// Returns why `algorithm:encoded` breaks the descriptor grammar, or `nil` if it does not:
    ///
    /// ```ebnf
    /// algorithm           ::= algorithm-component (algorithm-separator algorithm-component)*
    /// algorithm-component ::= [a-z0-9]+
    /// algorithm-separator ::= [+._-]
    /// encoded             ::= [a-zA-Z0-9=_-]+
    /// ```
    static func grammarViolation(algorithm: Substring.UTF8View, encoded: Substring.UTF8View) -> String? {
        if algorithm.isEmpty { return "empty algorithm before ':'" }
        var previousWasSeparator = true  // a leading separator is as wrong as a doubled one
        for byte in algorithm {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                previousWasSeparator = false
            case UInt8(ascii: "+"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
                if previousWasSeparator {
                    return "algorithm separator \(describe(byte)) must sit between lowercase letters or digits"
                }
                previousWasSeparator = true
            case UInt8(ascii: "A")...UInt8(ascii: "Z"):
                return "algorithm must be lowercase; found \(describe(byte))"
            default:
                return "algorithm contains \(describe(byte)); only [a-z0-9] and separators [+._-] are allowed"
            }
        }
        if previousWasSeparator { return "algorithm must not end with a separator" }
        if encoded.isEmpty { return "empty encoded portion after ':'" }
        for byte in encoded {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "="), UInt8(ascii: "_"), UInt8(ascii: "-"):
                continue
            default:
                return "encoded portion contains \(describe(byte)); only [a-zA-Z0-9=_-] is allowed"
            }
        }
        return nil
    }

    @inline(__always)
    static func isLowercaseHex(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "f"))
    }

    @inline(__always)
    static func isUppercaseHex(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "F")
    }

    /// Names a byte for an error message: printable ASCII quoted, anything else as hex.
    static func describe(_ byte: UInt8) -> String {
        if byte >= 0x21 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
        return "byte 0x" + String(byte, radix: 16, uppercase: true)
    }
}
