/// Bytes per repository and for the whole store (`swregistry du`).
public struct UsageReport: Sendable, Codable, Equatable {
    /// One repository's share of the store.
    public struct Repository: Sendable, Codable, Equatable {
        public var name: String
        /// Bytes of every blob the repository links and every manifest it holds, each counted once.
        public var total: Int64
        /// Bytes of those blobs that another repository links or holds too.
        public var shared: Int64
        /// Bytes only this repository links: what deleting it (and collecting garbage) would free.
        public var exclusive: Int64
        /// How many blobs (layers, configs, manifests) `total` counts.
        public var blobs: Int

        public init(name: String, total: Int64, shared: Int64, exclusive: Int64, blobs: Int) {
            self.name = name
            self.total = total
            self.shared = shared
            self.exclusive = exclusive
            self.blobs = blobs
        }
    }

    /// The whole store, each blob counted once.
    public struct Store: Sendable, Codable, Equatable {
        public var repositories: Int
        public var blobs: Int
        public var bytes: Int64
        /// Blobs no repository links: garbage collection frees them once they are older than its grace period.
        public var unreferencedBlobs: Int
        public var unreferencedBytes: Int64
        /// Files `swregistry verify --repair` moved to `quarantine/`.
        public var quarantinedFiles: Int
        public var quarantinedBytes: Int64

        public init(repositories: Int, blobs: Int, bytes: Int64, unreferencedBlobs: Int, unreferencedBytes: Int64,
                    quarantinedFiles: Int, quarantinedBytes: Int64) {
            self.repositories = repositories
            self.blobs = blobs
            self.bytes = bytes
            self.unreferencedBlobs = unreferencedBlobs
            self.unreferencedBytes = unreferencedBytes
            self.quarantinedFiles = quarantinedFiles
            self.quarantinedBytes = quarantinedBytes
        }
    }

    /// The repositories asked for (all when none was named), by name.
    public var repositories: [Repository]
    public var store: Store

    public init(repositories: [Repository], store: Store) {
        self.repositories = repositories
        self.store = store
    }

    /// A table for people: one row per repository with human sizes, then the store's line.
    public var tableLines: [String] {
        let header = ["REPOSITORY", "TOTAL", "SHARED", "EXCLUSIVE", "BLOBS"]
        let rows = repositories.map {
            [$0.name, ByteCount.human($0.total), ByteCount.human($0.shared), ByteCount.human($0.exclusive), "\($0.blobs)"]
        }
        var widths = header.map(\.count)
        for row in rows {
            for (column, cell) in row.enumerated() { widths[column] = max(widths[column], cell.count) }
        }
        func render(_ row: [String]) -> String {
            // The name left-aligned, the numbers right-aligned.
            row.enumerated().map { column, cell in
                let pad = String(repeating: " ", count: widths[column] - cell.count)
                return column == 0 ? cell + pad : pad + cell
            }.joined(separator: "  ")
        }
        var lines = [render(header)] + rows.map(render)
        lines = lines.map { line in String(line.reversed().drop(while: { $0 == " " }).reversed()) }
        lines.append("store: \(plural(store.repositories, "repository", "repositories")), "
            + "\(plural(store.blobs, "blob", "blobs")), \(ByteCount.human(store.bytes)) (each blob counted once); "
            + "linked by no repository: \(plural(store.unreferencedBlobs, "blob", "blobs")), "
            + "\(ByteCount.human(store.unreferencedBytes))"
            + (store.quarantinedFiles > 0
                ? "; quarantined: \(plural(store.quarantinedFiles, "file", "files")), \(ByteCount.human(store.quarantinedBytes))"
                : ""))
        return lines
    }
}
