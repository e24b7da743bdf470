import Glibc
import OCIModel
import SystemIO

/// Names found in a folder of the store: those that are valid entries, and those that are not (a file nobody made
/// through the API, a leftover of a crash, a hand edit), as paths relative to the root, for a report.
public struct StoreListing<Entry: Sendable>: Sendable {
    public var entries: [Entry] = []
    public var invalid: [String] = []
}

/// A tag as stored: its name and what it points to (nil when the file does not hold a digest).
public struct StoredTag: Sendable {
    public let tag: Tag
    public let target: Digest?
}

/// A referrer entry as stored: `_referrers/<subject alg>/<subject hex>/<alg>-<hex>`.
public struct StoredReferrer: Sendable {
    public let subject: Digest
    public let referrer: Digest
    /// The descriptor the file holds, nil when it does not parse.
    public let descriptor: Descriptor?
}

/// Read-only listings of what the store holds, for maintenance (verify, usage). Each walks folders and reads small
/// files: call them from a blocking context. They list what is there at the moment of the walk; a server may add
/// or remove entries meanwhile, so a caller that acts on an entry checks it again.
///
/// The walks below (and `Layout.walkBlobs`) are the only ones: garbage collection's listings
/// (`BlobStore+Collection`) visit the same entries, with their times.
extension BlobStore {
    /// Every blob file under `blobs/` (see `Layout.walkBlobs`).
    /// - Parameter body: called for each blob, in byte order.
    /// - Returns: the entries that are no blob of the store, relative to the root.
    public func forEachBlob(_ body: (Digest) throws(StoreError) -> Void) throws(StoreError) -> [String] {
        try layout.walkBlobs(list: listContained) { digest, _ throws(StoreError) in try body(digest) }
    }

    /// The blobs a repository links (`_layers`), whether or not the blob is stored.
    public func layerLinks(_ name: RepositoryName) throws(StoreError) -> StoreListing<Digest> {
        try digestListing(layerLinksDirectory(name), relativeTo: "repositories/\(name.value)/_layers")
    }

    /// The manifests a repository holds (`_manifests/revisions`), whether or not their blob is stored.
    public func revisionLinks(_ name: RepositoryName) throws(StoreError) -> StoreListing<Digest> {
        try digestListing(revisionLinksDirectory(name), relativeTo: "repositories/\(name.value)/_manifests/revisions")
    }

    /// The tags of a repository with what each file holds, read from disk (not the cache).
    public func tagListing(_ name: RepositoryName) throws(StoreError) -> StoreListing<StoredTag> {
        var entries: [StoredTag] = []
        let invalid = try walkTags(name) { tag, path throws(StoreError) in
            // A file too large to be a digest is as good as one that does not hold one.
            let text = (try? FileSystem.read(path, maxBytes: 1024)) ?? nil
            guard let text else {
                // Gone since the listing (a delete), or unreadable: only the latter is worth a word.
                if FileSystem.exists(path) { entries.append(StoredTag(tag: tag, target: nil)) }
                return
            }
            entries.append(StoredTag(tag: tag, target: try? Digest(parsing: String(decoding: text, as: UTF8.self))))
        }
        return StoreListing(entries: entries, invalid: invalid)
    }

    /// The referrer entries of a repository, for every subject.
    public func referrerListing(_ name: RepositoryName) throws(StoreError) -> StoreListing<StoredReferrer> {
        var entries: [StoredReferrer] = []
        let invalid = try walkReferrers(name) { subject, referrer, path throws(StoreError) in
            let bytes = (try? FileSystem.read(path, maxBytes: 1 << 20)) ?? nil
            let descriptor = bytes.flatMap { try? JSONCoding.decode(Descriptor.self, from: $0) }
            entries.append(StoredReferrer(subject: subject, referrer: referrer, descriptor: descriptor))
        }
        return StoreListing(entries: entries, invalid: invalid)
    }

    // MARK: - Walks

    func layerLinksDirectory(_ name: RepositoryName) -> String { "\(layout.repository(name))/_layers" }
    func revisionLinksDirectory(_ name: RepositoryName) -> String { "\(layout.manifestsDirectory(name))/revisions" }

    /// Calls `visit` with the digest and path of each file `<directory>/<algorithm>/<encoded>`, in byte order.
    /// - Returns: the entries whose name is no digest, as `<relative>/<algorithm>/<name>`.
    func walkDigestFiles(_ directory: String, relativeTo relative: String,
                         _ visit: (Digest, String) throws(StoreError) -> Void) throws(StoreError) -> [String] {
        var invalid: [String] = []
        for algorithm in try sortedContained(directory) {
            for name in try sortedContained("\(directory)/\(algorithm)") {
                guard let digest = try? Digest(parsing: "\(algorithm):\(name)") else {
                    invalid.append("\(relative)/\(algorithm)/\(name)")
                    continue
                }
                try visit(digest, "\(directory)/\(algorithm)/\(name)")
            }
        }
        return invalid
    }

    /// Calls `visit` with each valid tag of `name` and the path of its file, in byte order.
    /// - Returns: the entries whose name is no tag, relative to the root.
    func walkTags(_ name: RepositoryName,
                  _ visit: (Tag, String) throws(StoreError) -> Void) throws(StoreError) -> [String] {
        var invalid: [String] = []
        for entry in try sortedContained(layout.tagsDirectory(name)) {
            guard let tag = try? Tag(validating: entry) else {
                invalid.append("repositories/\(name.value)/_manifests/tags/\(entry)")
                continue
            }
            try visit(tag, layout.tag(name, tag))
        }
        return invalid
    }

    /// Calls `visit` with each referrer entry of `name` (subject, referrer, the entry's file), in byte order.
    /// - Returns: the entries whose name is no digest, relative to the root.
    func walkReferrers(_ name: RepositoryName,
                       _ visit: (Digest, Digest, String) throws(StoreError) -> Void) throws(StoreError) -> [String] {
        var invalid: [String] = []
        let base = "\(layout.repository(name))/_referrers"
        for algorithm in try sortedContained(base) {
            for subjectHex in try sortedContained("\(base)/\(algorithm)") {
                let relative = "repositories/\(name.value)/_referrers/\(algorithm)/\(subjectHex)"
                guard let subject = try? Digest(parsing: "\(algorithm):\(subjectHex)") else {
                    invalid.append(relative)
                    continue
                }
                let directory = layout.referrersDirectory(name, subject: subject)
                for entry in try sortedContained(directory) {
                    // `<alg>-<hex>`: the referrer's digest with its colon replaced (see `Layout.referrer`); the
                    // algorithm's name holds no `-`.
                    guard let dash = entry.firstIndex(of: "-"),
                          let referrer = try? Digest(parsing: "\(entry[..<dash]):\(entry[entry.index(after: dash)...])") else {
                        invalid.append("\(relative)/\(entry)")
                        continue
                    }
                    try visit(subject, referrer, "\(directory)/\(entry)")
                }
            }
        }
        return invalid
    }

    /// The digests named by the files under `<directory>/<algorithm>/`.
    private func digestListing(_ directory: String, relativeTo relative: String) throws(StoreError) -> StoreListing<Digest> {
        var entries: [Digest] = []
        let invalid = try walkDigestFiles(directory, relativeTo: relative) { digest, _ throws(StoreError) in
            entries.append(digest)
        }
        return StoreListing(entries: entries, invalid: invalid)
    }

    /// `listContained`, sorted, with its failure as a store error.
    private func sortedContained(_ directory: String) throws(StoreError) -> [String] {
        do { return try listContained(directory).sorted() } catch { throw .io(error) }
    }
}
