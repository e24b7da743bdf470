import OCIModel

/// Image references, repository names, tags and digests, as they come in URLs, headers and command lines. What
/// parses must print back to text that parses to the same value (handlers build storage paths from that text).
enum ReferenceFuzzing {
    static func run(_ data: UnsafeRawBufferPointer) {
        let text = String(decoding: data, as: UTF8.self)
        if let reference = try? Reference(parsing: text) {
            let again = try? Reference(parsing: reference.description)
            check(again == reference, "reference \(reference) does not parse back (\(String(describing: again)))")
            check(reference.repository.value.utf8.count <= RepositoryName.maxLength, "long repository \(reference)")
        }
        if let name = try? RepositoryName(validating: text) {
            check(name.value == text, "name \(name.value) is not its text")
            check(!name.value.contains("..") && !name.value.hasPrefix("/") && !name.value.hasSuffix("/"),
                  "name \(name.value) could escape a path")
        }
        if let tag = try? Tag(validating: text) {
            check(tag.value == text && tag.value.utf8.count <= Tag.maxLength, "tag \(tag.value)")
            check(!tag.value.contains("/") && tag.value != "." && tag.value != "..", "tag \(tag.value) is a path")
        }
        if let digest = try? Digest(parsing: text) {
            let again = try? Digest(parsing: digest.description)
            check(again == digest, "digest \(digest) does not parse back")
            check(!digest.description.contains("/") && !digest.description.contains(".."), "digest \(digest) is a path")
        }
    }
}
