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
extension BlobStore {
    /// Every blob file under `blobs/`: valid digests in the folder their digest names.
    /// - Parameter body: called for each blob, in no particular order.
    public func forEachBlob(_ body: (Digest) throws -> Void) throws -> [String] {
        var invalid: [String] = []
        for algorithmName in try listContained(layout.blobsDirectory).sorted() {
            let algorithmPath = "\(layout.blobsDirectory)/\(algorithmName)"
            guard Digest.Algorithm(rawValue: algorithmName) != nil else {
                invalid.append("blobs/\(algorithmName)")
                continue
            }
            for prefix in try listContained(algorithmPath).sorted() {
                let prefixPath = "\(algorithmPath)/\(prefix)"
                guard FileSystem.isRealDirectory(prefixPath) else {
                    invalid.append("blobs/\(algorithmName)/\(prefix)")
                    continue
                }
                for name in try listContained(prefixPath).sorted() {
                    // A digest whose file sits under another prefix is never found by `Layout.blob`: not served.
                    guard name.hasPrefix(prefix), let digest = try? Digest(parsing: "\(algorithmName):\(name)"),
                          FileSystem.fileSize("\(prefixPath)/\(name)") != nil else {
                        invalid.append("blobs/\(algorithmName)/\(prefix)/\(name)")
                        continue
                    }
                    try body(digest)
                }
            }
        }
        return invalid
    }

    /// The blobs a repository links (`_layers`), whether or not the blob is stored.
    public func layerLinks(_ name: RepositoryName) throws(StoreError) -> StoreListing<Digest> {
        try digestsNamed(under: "\(layout.repository(name))/_layers", relativeTo: "repositories/\(name.value)/_layers")
    }

    /// The manifests a repository holds (`_manifests/revisions`), whether or not their blob is stored.
    public func revisionLinks(_ name: RepositoryName) throws(StoreError) -> StoreListing<Digest> {
        try digestsNamed(under: "\(layout.manifestsDirectory(name))/revisions",
                         relativeTo: "repositories/\(name.value)/_manifests/revisions")
    }

    /// The tags of a repository with what each file holds, read from disk (not the cache).
    public func tagListing(_ name: RepositoryName) throws(StoreError) -> StoreListing<StoredTag> {
        var listing = StoreListing<StoredTag>()
        do {
            for entry in try listContained(layout.tagsDirectory(name)).sorted() {
                guard let tag = try? Tag(validating: entry) else {
                    listing.invalid.append("repositories/\(name.value)/_manifests/tags/\(entry)")
                    continue
                }
                // A file too large to be a digest is as good as one that does not hold one.
                let text = (try? FileSystem.read(layout.tag(name, tag), maxBytes: 1024)) ?? nil
                guard let text else {
                    // Gone since the listing (a delete), or unreadable: only the latter is worth a word.
                    if FileSystem.exists(layout.tag(name, tag)) { listing.entries.append(StoredTag(tag: tag, target: nil)) }
                    continue
                }
                listing.entries.append(StoredTag(tag: tag, target: try? Digest(parsing: String(decoding: text, as: UTF8.self))))
            }
        } catch {
            throw .io(error)
        }
        return listing
    }

    /// The referrer entries of a repository, for every subject.
    public func referrerListing(_ name: RepositoryName) throws(StoreError) -> StoreListing<StoredReferrer> {
        var listing = StoreListing<StoredReferrer>()
        let base = "\(layout.repository(name))/_referrers"
        let relativeBase = "repositories/\(name.value)/_referrers"
        do {
            for algorithmName in try listContained(base).sorted() {
                for subjectHex in try listContained("\(base)/\(algorithmName)").sorted() {
                    let relative = "\(relativeBase)/\(algorithmName)/\(subjectHex)"
                    guard let subject = try? Digest(parsing: "\(algorithmName):\(subjectHex)") else {
                        listing.invalid.append(relative)
                        continue
                    }
                    let directory = layout.referrersDirectory(name, subject: subject)
                    for entry in try listContained(directory).sorted() {
                        // `<alg>-<hex>`: the referrer's digest with its colon replaced (see `Layout.referrer`).
                        guard let dash = entry.firstIndex(of: "-"),
                              let referrer = try? Digest(parsing: "\(entry[..<dash]):\(entry[entry.index(after: dash)...])") else {
                            listing.invalid.append("\(relative)/\(entry)")
                            continue
                        }
                        let bytes = (try? FileSystem.read("\(directory)/\(entry)", maxBytes: 1 << 20)) ?? nil
                        let descriptor = bytes.flatMap { try? JSONCoding.decode(Descriptor.self, from: $0) }
                        listing.entries.append(StoredReferrer(subject: subject, referrer: referrer, descriptor: descriptor))
                    }
                }
            }
        } catch {
            throw .io(error)
        }
        return listing
    }

    /// The digests named by the files under `<path>/<algorithm>/`.
    private func digestsNamed(under path: String, relativeTo relative: String) throws(StoreError) -> StoreListing<Digest> {
        var listing = StoreListing<Digest>()
        do {
            for algorithmName in try listContained(path).sorted() {
                for name in try listContained("\(path)/\(algorithmName)").sorted() {
                    guard let digest = try? Digest(parsing: "\(algorithmName):\(name)") else {
                        listing.invalid.append("\(relative)/\(algorithmName)/\(name)")
                        continue
                    }
                    listing.entries.append(digest)
                }
            }
        } catch {
            throw .io(error)
        }
        return listing
    }
}
