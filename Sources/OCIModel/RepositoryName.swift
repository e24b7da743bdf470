/// A repository name, the `<name>` in `/v2/<name>/…`, validated against distribution-spec:
///
/// ```
/// [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*
/// ```
///
/// plus distribution's 255-character limit. The grammar is what makes a name safe to turn into a
/// storage path: no empty components, no `.` or `..`, no leading separators, nothing but
/// `[a-z0-9._/-]`. The matcher is hand-written over UTF-8 bytes: one pass, no allocation, and an
/// exact reason on failure.
public struct RepositoryName: Hashable, Comparable, Sendable {
    /// The longest name distribution accepts (`reference.NameTotalLengthMax`).
    public static let maxLength = 255

    /// The validated name, e.g. `library/ubuntu`.
    public let value: String

    /// Validates a repository name.
    ///
    /// - Parameter string: The name, without registry host, tag or digest.
    /// - Throws: ``ReferenceError/invalidRepositoryName(_:reason:)`` with the first problem found.
    public init(validating string: some StringProtocol) throws(ReferenceError) {
        let string = String(string)
        if let reason = RepositoryName.violation(in: string) {
            throw .invalidRepositoryName(string, reason: reason)
        }
        value = string
    }

    /// The `/`-separated path components, e.g. `["library", "ubuntu"]`.
    public var components: [Substring] {
        value.split(separator: "/")
    }

    public static func < (lhs: RepositoryName, rhs: RepositoryName) -> Bool {
        lhs.value < rhs.value
    }

    /// Returns the first way `name` breaks the grammar, or `nil` if it is valid.
    static func violation(in name: String) -> String? {
        let utf8 = name.utf8
        if utf8.isEmpty { return "name is empty" }
        if utf8.count > maxLength {
            return "name is \(utf8.count) characters long; the limit is \(maxLength)"
        }
        /// What the matcher has just seen, which decides what may come next.
        enum State {
            case componentStart  // at the start of a path component: need [a-z0-9]
            case alphanumeric    // inside a run of [a-z0-9]: anything may follow
            case period          // after '.': need [a-z0-9]
            case underscore      // after '_': need [a-z0-9] or a second '_'
            case doubleUnderscore  // after '__': need [a-z0-9]
            case dashes          // after one or more '-': need [a-z0-9] or '-'
        }
        var state = State.componentStart
        for (offset, byte) in utf8.enumerated() {
            let position = "at offset \(offset)"
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                state = .alphanumeric
            case UInt8(ascii: "/"):
                switch state {
                case .componentStart: return "empty path component \(position) (\"//\" or a leading \"/\")"
                case .alphanumeric: state = .componentStart
                default: return "path component ends with a separator \(position)"
                }
            case UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
                let separator = Digest.describe(byte)
                switch (state, byte) {
                case (.componentStart, _):
                    return "path component starts with \(separator) \(position); it must start with [a-z0-9]"
                case (.alphanumeric, UInt8(ascii: ".")): state = .period
                case (.alphanumeric, UInt8(ascii: "_")): state = .underscore
                case (.alphanumeric, _): state = .dashes
                case (.underscore, UInt8(ascii: "_")): state = .doubleUnderscore
                case (.dashes, UInt8(ascii: "-")): state = .dashes
                default:
                    return "misplaced separator \(separator) \(position); separators are '.', '_', '__' or '-'+, "
                        + "each between letters or digits"
                }
            case UInt8(ascii: "A")...UInt8(ascii: "Z"):
                return "uppercase \(Digest.describe(byte)) \(position); repository names must be lowercase"
            default:
                return "invalid character \(Digest.describe(byte)) \(position); only [a-z0-9], '.', '_', '-' and '/' are allowed"
            }
        }
        switch state {
        case .alphanumeric: return nil
        case .componentStart: return "name ends with \"/\""
        default: return "name ends with a separator"
        }
    }
}

extension RepositoryName: CustomStringConvertible {
    public var description: String { value }
}

extension RepositoryName: Codable {
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
