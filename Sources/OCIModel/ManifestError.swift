/// Why bytes are not an acceptable manifest. A registry answers all of these with
/// `MANIFEST_INVALID` (400); the cases exist so the message can say exactly what is wrong.
public enum ManifestError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Not JSON, or not a JSON object.
    case invalidJSON(String)
    /// `schemaVersion` is not 2 (`nil`: missing or not an integer).
    case unsupportedSchemaVersion(Int?)
    /// The media type is not a manifest or index we handle; Docker schema 1 lands here too.
    case unsupportedMediaType(String)
    /// The document's `mediaType` field and the `Content-Type` disagree.
    case mediaTypeMismatch(mediaType: String, contentType: String)
    /// The document could be read as both a manifest and an index, or its fields contradict its
    /// media type (e.g. an index with `layers`). Accepting such documents lets two clients see
    /// two different images under one digest (CVE-2021-41190, GHSA-mc8v-mgrf-8f4m).
    case ambiguous(String)
    /// A required field is absent.
    case missingField(String)
    /// A field is present but its value is wrong, e.g. `layers[1].digest` is not a valid digest.
    case invalidField(_ path: String, reason: String)
    /// An object has the same key twice (after unescaping, compared as Go compares struct field names), at
    /// this path. Readers disagree on which value counts: Foundation keeps the first, Go the last.
    case duplicateKey(String)
    /// Arrays and objects are nested deeper than the given limit, at this path.
    case nestingTooDeep(String, limit: Int)

    public var description: String {
        switch self {
        case .invalidJSON(let reason):
            "manifest is not a JSON object: \(reason)"
        case .unsupportedSchemaVersion(let version?):
            "unsupported schemaVersion \(version); only 2 is supported"
        case .unsupportedSchemaVersion(nil):
            "schemaVersion is missing; it must be 2"
        case .unsupportedMediaType(let type) where MediaType(type).isSchema1:
            "Docker schema 1 manifests (\(type)) are not supported; push schema 2 or OCI"
        case .unsupportedMediaType(let type):
            "unsupported manifest media type \"\(type)\""
        case let .mediaTypeMismatch(mediaType, contentType):
            "manifest mediaType \"\(mediaType)\" does not match Content-Type \"\(contentType)\""
        case .ambiguous(let reason):
            "ambiguous manifest: \(reason)"
        case .missingField(let field):
            "manifest is missing required field \"\(field)\""
        case let .invalidField(path, reason):
            "invalid manifest field \"\(path)\": \(reason)"
        case .duplicateKey(let path):
            "manifest repeats the key \"\(path)\" (keys compared as Go does: unescaped, ignoring case); Go would read the last value and Swift the first"
        case let .nestingTooDeep(path, limit):
            "manifest nests arrays and objects deeper than \(limit) levels at \"\(path)\""
        }
    }
}
