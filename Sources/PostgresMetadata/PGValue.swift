/// A statement parameter: text (PostgreSQL infers the type from the statement), raw bytes sent in binary as `bytea`
/// (manifests: no hex encoding on the way in), or NULL.
public enum PGValue: Sendable, Equatable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByNilLiteral
{
    case text(String)
    case bytes([UInt8])
    case null

    public init(stringLiteral value: String) { self = .text(value) }
    public init(integerLiteral value: Int64) { self = .text(String(value)) }
    public init(nilLiteral: ()) { self = .null }

    public static func int(_ value: some BinaryInteger) -> PGValue { .text(String(value)) }
    public static func bool(_ value: Bool) -> PGValue { .text(value ? "t" : "f") }
    public static func optional(_ value: String?) -> PGValue { value.map(PGValue.text) ?? .null }
}

/// The type OIDs this module reads and sends (`pg_type.oid`, fixed since PostgreSQL 7).
enum PGType {
    static let bool: UInt32 = 16
    static let bytea: UInt32 = 17
    static let char: UInt32 = 18
    static let name: UInt32 = 19
    static let int8: UInt32 = 20
    static let int2: UInt32 = 21
    static let int4: UInt32 = 23
    static let text: UInt32 = 25
    static let oid: UInt32 = 26
    static let varchar: UInt32 = 1043
    static let timestamp: UInt32 = 1114
    static let timestamptz: UInt32 = 1184
}
