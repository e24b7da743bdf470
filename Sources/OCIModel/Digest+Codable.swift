extension Digest: Codable {
    /// Decodes the JSON string form and validates it.
    ///
    /// The ``DigestError`` is kept as the `underlyingError` of the `DecodingError`, so that manifest
    /// parsing can report "layers[1].digest: sha256 digests have 64 hex characters, not 63".
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let string = try container.decode(String.self)
        do {
            try self.init(parsing: string)
        } catch {
            throw DecodingError.dataCorrupted(.init(
                codingPath: container.codingPath, debugDescription: error.description, underlyingError: error))
        }
    }

    /// Encodes the canonical string form, `sha256:<hex>`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
