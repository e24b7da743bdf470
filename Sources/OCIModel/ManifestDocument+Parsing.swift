import Foundation

extension ManifestDocument {
    /// Parses and validates manifest bytes, deciding between manifest and index.
    ///
    /// The kind is taken from the document's `mediaType` field, else from `contentType`, else from
    /// its shape (old OCI documents omit `mediaType`). The document is rejected when:
    /// - it has both `manifests` and `config`/`layers`, or fields that contradict its media type
    ///   (image-spec: when used, `mediaType` MUST be the manifest's or the index's own type), since
    ///   such a document can be read as two different things under one digest;
    /// - its `mediaType` disagrees with `contentType` (distribution-spec: clients MUST set
    ///   Content-Type to `mediaType`, and SHOULD reject a mismatch on pull);
    /// - `schemaVersion` is not 2, or the type is Docker schema 1 or unknown;
    /// - a required field is missing, or a descriptor is malformed (bad digest, negative size);
    /// - it is not strict JSON, or an object has a key twice, or it nests deeper than 64 levels: see
    ///   ``DuplicateKeyScanner`` (a key given twice makes Foundation and Go read different manifests).
    ///
    /// Unknown fields are ignored, and unknown media types *inside* descriptors are accepted, as
    /// image-spec requires of implementations that store or copy manifests.
    ///
    /// - Parameters:
    ///   - data: The manifest bytes, exactly as received.
    ///   - contentType: The `Content-Type` header, if any. Parameters are ignored, and
    ///     `application/json` counts as absent (as distribution does for old clients).
    /// - Returns: The document; its `mediaType` field is filled in with the effective type when the
    ///   bytes had none. The bytes themselves remain the source of truth for the digest.
    /// - Throws: ``ManifestError`` saying what is wrong.
    public static func parse(_ data: Data, contentType: String? = nil) throws(ManifestError) -> ManifestDocument {
        // Before decoding: Foundation would silently keep the first of two equal keys, where Go clients keep the
        // last, and would accept nesting and encodings that other readers refuse.
        switch data.withUnsafeBytes({ DuplicateKeyScanner.firstProblem(in: $0) }) {
        case nil: break
        case let .syntax(expected, offset)?: throw .invalidJSON("\(expected) at byte \(offset)")
        case .duplicateKey(let path)?: throw .duplicateKey(path)
        case .tooDeep(let path)?: throw .nestingTooDeep(path, limit: DuplicateKeyScanner.maxDepth)
        }
        let raw: RawDocument
        do {
            raw = try JSONCoding.decode(RawDocument.self, from: data)
        } catch let error as DecodingError {
            throw ManifestError(error)
        } catch {
            throw .invalidJSON("\(error)")
        }

        let hasManifestFields = raw.config != nil || raw.layers != nil
        if hasManifestFields && raw.manifests != nil {
            throw .ambiguous("document has both \"manifests\" (index) and \"config\"/\"layers\" (manifest)")
        }

        let declared = raw.mediaType.flatMap { $0.isEmpty ? nil : MediaType($0) }
        let headerType = contentType.flatMap { MediaType(contentType: $0) }.flatMap { $0 == "application/json" ? nil : $0 }
        if let declared, let headerType, declared.rawValue.lowercased() != headerType.rawValue {
            throw .mediaTypeMismatch(mediaType: declared.rawValue, contentType: headerType.rawValue)
        }
        let effective = declared ?? headerType ?? (raw.manifests != nil ? .ociIndex : .ociManifest)

        if effective.isSchema1 { throw .unsupportedMediaType(effective.rawValue) }
        guard raw.schemaVersion == 2 else { throw .unsupportedSchemaVersion(raw.schemaVersion) }

        if effective.isManifest {
            if raw.manifests != nil {
                throw .ambiguous("media type \(effective) is an image manifest, but the document has \"manifests\"")
            }
            guard let config = raw.config else { throw .missingField("config") }
            guard let layers = raw.layers else { throw .missingField("layers") }
            return .manifest(ImageManifest(
                schemaVersion: 2, mediaType: effective, artifactType: raw.artifactType, config: config,
                layers: layers, subject: raw.subject, annotations: raw.annotations))
        }
        if effective.isIndex {
            if hasManifestFields {
                throw .ambiguous("media type \(effective) is an index, but the document has \"config\"/\"layers\"")
            }
            guard let manifests = raw.manifests else { throw .missingField("manifests") }
            return .index(ImageIndex(
                schemaVersion: 2, mediaType: effective, artifactType: raw.artifactType, manifests: manifests,
                subject: raw.subject, annotations: raw.annotations))
        }
        throw .unsupportedMediaType(effective.rawValue)
    }

    /// Parses and validates manifest bytes; see the `Data` overload.
    public static func parse(_ bytes: [UInt8], contentType: String? = nil) throws(ManifestError) -> ManifestDocument {
        try parse(Data(bytes), contentType: contentType)
    }
}

/// Every field of either kind, all optional, decoded in one pass so that shape and media type can
/// be checked together before choosing a kind. A JSON `null` counts as absent.
private struct RawDocument: Decodable {
    var schemaVersion: Int?
    var mediaType: String?
    var artifactType: MediaType?
    var config: Descriptor?
    var layers: [Descriptor]?
    var manifests: [Descriptor]?
    var subject: Descriptor?
    var annotations: [String: String]?
}

extension ManifestError {
    /// Turns Foundation's decoding error into one that names the JSON path, e.g.
    /// `layers[1].digest`, and keeps a ``DigestError``'s own explanation.
    init(_ error: DecodingError) {
        func render(_ path: [any CodingKey]) -> String {
            var text = ""
            for key in path {
                if let index = key.intValue {
                    text += "[\(index)]"
                } else {
                    text += text.isEmpty ? key.stringValue : ".\(key.stringValue)"
                }
            }
            return text
        }
        switch error {
        case .dataCorrupted(let context):
            if let digestError = context.underlyingError as? DigestError {
                self = .invalidField(render(context.codingPath), reason: digestError.description)
            } else if context.codingPath.isEmpty {
                let detail = context.underlyingError.map { "\($0)" } ?? context.debugDescription
                self = .invalidJSON(detail)
            } else {
                self = .invalidField(render(context.codingPath), reason: context.debugDescription)
            }
        case let .keyNotFound(key, context):
            self = .missingField(render(context.codingPath + [key]))
        case let .typeMismatch(type, context):
            if context.codingPath.isEmpty {
                self = .invalidJSON("expected a JSON object")
            } else {
                self = .invalidField(render(context.codingPath), reason: "expected \(Self.jsonTypeName(type))")
            }
        case .valueNotFound(_, let context) where context.codingPath.isEmpty:
            self = .invalidJSON("expected a JSON object, found null")
        case let .valueNotFound(type, context):
            self = .invalidField(render(context.codingPath), reason: "expected \(Self.jsonTypeName(type)), found null")
        @unknown default:
            self = .invalidJSON("\(error)")
        }
    }

    /// Speaks JSON rather than Swift in messages a client will read.
    private static func jsonTypeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is Int64.Type, is Double.Type: "a number"
        case is Bool.Type: "a boolean"
        default: String(describing: type).hasPrefix("Array<") ? "an array" : "an object"
        }
    }
}
