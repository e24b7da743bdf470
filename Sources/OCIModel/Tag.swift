/// A tag, validated against distribution-spec: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
///
/// The grammar excludes `/`, `:` and `@`, and a leading `.` or `-`, so a valid tag is safe as a
/// file name and cannot be mistaken for a digest.
public struct Tag: Hashable, Sendable {
    /// The longest tag the spec allows.
    public static let maxLength = 128

    /// The tag used when a reference names neither tag nor digest.
    public static let latest = Tag(unchecked: "latest")

    /// The validated tag.
    public let value: String

    /// Validates a tag.
    ///
    /// - Parameter string: The tag, without the leading `:`.
    /// - Throws: ``ReferenceError/invalidTag(_:reason:)`` with the first problem found.
    public init(validating string: some StringProtocol) throws(ReferenceError) {
        let string = String(string)
        if let reason = Tag.violation(in: string) {
            throw .invalidTag(string, reason: reason)
        }
        value = string
    }

    private init(unchecked value: String) {
        self.value = value
    }

    /// Returns the first way `tag` breaks the grammar, or `nil` if it is valid.
    static func violation(in tag: String) -> String? {
        let utf8 = tag.utf8
        guard let first = utf8.first else { return "tag is empty" }
        if utf8.count > maxLength {
            return "tag is \(utf8.count) characters long; the limit is \(maxLength)"
        }
        if first == UInt8(ascii: ".") || first == UInt8(ascii: "-") {
            return "tag starts with \(Digest.describe(first)); it must start with [a-zA-Z0-9_]"
        }
        for (offset, byte) in utf8.enumerated() {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "-"):
                continue
            default:
                return "invalid character \(Digest.describe(byte)) at offset \(offset); only [a-zA-Z0-9._-] is allowed"
            }
        }
        return nil
    }
}

extension Tag: CustomStringConvertible {
    public var description: String { value }
}

extension Tag: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let string = try container.decode(String.self)
        do {
            try self.init(validating: string)
        } catch {
            throw DecodingError.dataCorrupted(.init(
                codingPath: container.codingPath, debugDescription: error.description, underlyingError: error))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }
}
