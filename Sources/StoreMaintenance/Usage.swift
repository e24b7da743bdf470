import BlobStore
import OCIModel
import SystemIO

/// `swregistry du`: what each repository takes on disk, what it shares with others, and what is its alone.
///
/// A repository's blobs are those it links (`_layers`) and its manifests (`_manifests/revisions`), counted when
/// stored. A blob is shared when another repository links or holds it too. Each blob's size is read once (a
/// `stat`); nothing is hashed or read whole. Safe while a server serves: what changes during the walk may be
/// counted as it was before or after the change.
public enum Usage {
    /// Measures the store.
    /// - Parameters:
    ///   - repositories: the repositories to report; empty: all. Sharing is always judged against every
    ///     repository of the store.
    /// - Throws: `StoreError.nameUnknown` for a named repository that does not exist; `StoreError.io` when a
    ///   folder cannot be listed.
    public static func measure(_ store: BlobStore, repositories selected: [RepositoryName] = [],
                               output: (any MaintenanceOutput)? = nil) throws -> UsageReport {
        for name in selected where !store.repositoryExists(name) { throw StoreError.nameUnknown(name.value) }
        let names = try store.repositories().compactMap { try? RepositoryName(validating: $0) }

        var sizes: [Digest: Int64] = [:]
        var holders: [Digest: Int] = [:]
        var contents: [RepositoryName: [Digest]] = [:]
        let wanted = Set(selected)
        for (index, name) in names.enumerated() {
            output?.progress(done: index, total: names.count, what: "repositories")
            var digests = Set(try store.layerLinks(name).entries)
            digests.formUnion(try store.revisionLinks(name).entries)
            var stored: [Digest] = []
            for digest in digests {
                guard let size = sizes[digest] ?? store.blobSize(digest) else { continue }
                sizes[digest] = size
                holders[digest, default: 0] += 1
                stored.append(digest)
            }
            if wanted.isEmpty || wanted.contains(name) { contents[name] = stored }
        }
        output?.progress(done: names.count, total: names.count, what: "repositories")

        let rows = contents.keys.sorted().map { name in
            var row = UsageReport.Repository(name: name.value, total: 0, shared: 0, exclusive: 0, blobs: 0)
            for digest in contents[name]! {
                let size = sizes[digest]!
                row.total += size
                row.blobs += 1
                if holders[digest]! > 1 { row.shared += size } else { row.exclusive += size }
            }
            return row
        }

        var totals = UsageReport.Store(repositories: names.count, blobs: 0, bytes: 0, unreferencedBlobs: 0,
                                       unreferencedBytes: 0, quarantinedFiles: 0, quarantinedBytes: 0)
        _ = try store.forEachBlob { digest in
            // Stored since the walk above, or linked by no repository.
            guard let size = sizes[digest] ?? store.blobSize(digest) else { return }
            totals.blobs += 1
            totals.bytes += size
            if holders[digest] == nil {
                totals.unreferencedBlobs += 1
                totals.unreferencedBytes += size
            }
        }
        for algorithm in try FileSystem.list(store.layout.quarantineDirectory) {
            let directory = "\(store.layout.quarantineDirectory)/\(algorithm)"
            for file in try FileSystem.list(directory) {
                guard let size = FileSystem.fileSize("\(directory)/\(file)") else { continue }
                totals.quarantinedFiles += 1
                totals.quarantinedBytes += size
            }
        }
        return UsageReport(repositories: rows, store: totals)
    }
}
