/// One thing `swregistry verify` found wrong, and what `--repair` did about it.
public struct VerifyProblem: Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable, CaseIterable {
        /// A blob whose content does not hash to its name.
        case corruptBlob = "corrupt-blob"
        /// A blob that cannot be read (an I/O error).
        case unreadableBlob = "unreadable-blob"
        /// A file or folder the store does not know (a name that is no digest, tag or repository; a blob in the
        /// wrong folder): never served, left in place.
        case strayEntry = "stray-entry"
        /// A repository's link to a blob that is not stored.
        case danglingLink = "dangling-link"
        /// A repository's manifest whose blob is not stored.
        case danglingManifest = "dangling-manifest"
        /// A manifest that does not parse, or is larger than the manifest limit.
        case invalidManifest = "invalid-manifest"
        /// A manifest whose config, layers or children the repository does not hold (or holds with another size).
        case incompleteManifest = "incomplete-manifest"
        /// A tag that holds no digest, or one the repository has no manifest for.
        case danglingTag = "dangling-tag"
        /// A referrer entry whose referrer is not a manifest of the repository.
        case danglingReferrer = "dangling-referrer"
        /// A referrer entry whose descriptor does not parse or names another digest.
        case invalidReferrer = "invalid-referrer"
    }

    public let kind: Kind
    /// The repository, nil for a blob (blobs belong to the store).
    public let repository: String?
    /// The digest (or the path of a stray entry, relative to the root).
    public let subject: String
    /// What is wrong.
    public let detail: String
    /// What `--repair` did about it.
    public enum Repair: Sendable, Equatable {
        /// Repaired; says how.
        case done(String)
        /// Tried and not repaired; says why.
        case notDone(String)
    }

    /// What `--repair` did; nil when it was not asked for or this kind is reported only.
    public var repair: Repair?

    public init(_ kind: Kind, repository: String?, subject: String, detail: String, repair: Repair? = nil) {
        self.kind = kind
        self.repository = repository
        self.subject = subject
        self.detail = detail
        self.repair = repair
    }

    /// `<kind> <repository or -> <digest or path>: <what is wrong>[; repaired: … | not repaired: …]`.
    public var description: String {
        let head = "\(kind.rawValue) \(repository ?? "-") \(subject): \(detail)"
        switch repair {
        case nil: return head
        case .done(let what): return head + "; repaired: " + what
        case .notDone(let why): return head + "; not repaired: " + why
        }
    }
}
