import Foundation

/// The one JSON configuration this module uses, so every document is encoded the same way.
///
/// Encoders are made per call: `JSONEncoder` is a class and not `Sendable`, and making one is cheap
/// next to encoding.
public enum JSONCoding {
    /// Encodes `value` compactly, with keys sorted and without escaping `/`.
    ///
    /// Sorted keys make the output deterministic: Foundation's encoder otherwise emits object keys
    /// in hash order, so the same manifest could encode to different bytes, and thus a different
    /// digest, from one run to the next. Unescaped slashes avoid `application\/vnd.oci…`, valid
    /// JSON that no other registry or tool produces.
    public static func encode(_ value: some Encodable) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(value))
    }

    /// Encodes a value whose types cannot fail to encode (strings, integers, booleans, containers
    /// of those, and ``JSONValue``, which writes non-finite numbers as `null`).
    public static func encodeInfallibly(_ value: some Encodable) -> [UInt8] {
        do {
            return try encode(value)
        } catch {
            preconditionFailure("encoding \(type(of: value)) cannot fail, yet: \(error)")
        }
    }

    public static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        try JSONDecoder().decode(type, from: data)
    }

    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        try JSONDecoder().decode(type, from: Data(bytes))
    }
}

/// A coding key for JSON objects whose keys are data (`ExposedPorts`, `Volumes`).
struct AnyCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ string: String) { stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}
