import Foundation
import SystemIO

extension CacheStore {
    /// Encodes a cache record: pretty, sorted keys, unescaped slashes (readable by hand, stable bytes).
    static func encodeRecord(_ value: some Encodable) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        var bytes = Array(try encoder.encode(value))
        bytes.append(UInt8(ascii: "\n"))
        return bytes
    }

    /// Reads and decodes a cache record. - Returns: nil when the file does not exist.
    /// - Throws: ``CacheStoreError/corruptRecord(path:reason:)`` when it does not decode.
    static func readRecord<T: Decodable>(_ type: T.Type, at path: String) throws -> T? {
        guard let bytes = try CacheFiles.readSmall(path) else { return nil }
        do {
            return try JSONDecoder().decode(type, from: Data(bytes))
        } catch {
            throw CacheStoreError.corruptRecord(path: path, reason: "\(error)")
        }
    }
}
