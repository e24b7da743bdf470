/// What a collection removed (or, in a dry run, would remove).
public struct GCReport: Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case tag, manifest, link, blob, upload
    }

    /// One removed item: its kind, what it is (`repo:tag`, `repo@digest`, `repo link digest`, `digest`, upload
    /// id) and the bytes its removal freed (blobs and upload sessions; links and tags are empty files).
    public struct Removal: Sendable, Equatable {
        public let kind: Kind
        public let item: String
        public let bytes: Int64
    }

    public let dryRun: Bool
    public internal(set) var removals: [Removal] = []
    /// Wall time of the run, seconds.
    public internal(set) var seconds: Double = 0
    public internal(set) var repositories = 0

    init(dryRun: Bool) {
        self.dryRun = dryRun
    }

    public func count(_ kind: Kind) -> Int {
        removals.count { $0.kind == kind }
    }

    public var freedBytes: Int64 {
        removals.reduce(0) { $0 + $1.bytes }
    }

    /// The report line of one removal.
    static func line(_ removal: Removal, dryRun: Bool) -> String {
        let verb = dryRun ? "would remove" : "removed"
        let padded = removal.kind.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)
        return removal.bytes > 0 ? "\(verb) \(padded) \(removal.item) \(removal.bytes) bytes" : "\(verb) \(padded) \(removal.item)"
    }

    /// The summary line: counts by kind, bytes freed, duration.
    public var summary: String {
        let counts = Kind.allCases.map { plural(count($0), $0.rawValue) }.joined(separator: ", ")
        let verb = dryRun ? "gc (dry run): would remove" : "gc: removed"
        let freed = dryRun ? "would free" : "freed"
        let duration = (seconds * 1000).rounded() / 1000
        return "\(verb) \(counts); \(freed) \(freedBytes) bytes (\(ByteCount.human(freedBytes))); \(repositories) repositories in \(duration) s"
    }
}
