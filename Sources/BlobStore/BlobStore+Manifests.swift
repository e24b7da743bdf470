import Glibc
import OCIModel
import SystemIO

/// A manifest as stored: its exact bytes, digest and media type.
public struct StoredManifest: Sendable {
    public let bytes: [UInt8]
    public let digest: Digest
    public let mediaType: String

    public init(bytes: [UInt8], digest: Digest, mediaType: String) {
        self.bytes = bytes
        self.digest = digest
        self.mediaType = mediaType
    }
}

extension BlobStore {
    /// Stores a manifest's exact bytes and links it into `name`, points `tag` at it, and records it as a referrer
    /// of its subject, durably (one record of the metadata log, see `MetadataJournal`).
    ///
    /// Under the reference lock (shared), `verify` checks that what the manifest names is present, and
    /// everything it makes reachable is touched before it is written: its config and layers (links and blobs),
    /// for an index its children transitively (revision links, blobs, and their own references), and the
    /// manifest's own blob and revision link. The collector, which deletes only under the exclusive lock and only
    /// what is older than its cutoff, can then take none of it (see `GarbageCollector`).
    /// - Parameters:
    ///   - referrer: the descriptor to list under the subject's referrers, when the manifest has a subject.
    ///   - references: what the manifest names.
    ///   - verify: the caller's check that every reference is present; a refusal stores nothing.
    /// - Returns: the refusal of `verify`, or nil when the manifest was stored.
    public func putManifest<Refusal: Error>(_ name: RepositoryName, bytes: [UInt8], digest: Digest, mediaType: String,
                                            tag: Tag?, subject: Digest?, referrer: Descriptor?,
                                            references: ManifestReferences,
                                            verify: () -> Refusal?) throws(StoreError) -> Refusal? {
        try self.references.withShared { () throws(StoreError) -> Refusal? in
            if let refusal = verify() { return refusal }
            do throws(SystemError) {
                var visited: Set<Digest> = [digest]
                try touchReachable(name, references, visited: &visited)
                try writeManifest(name, bytes: bytes, digest: digest, mediaType: mediaType, tag: tag,
                                  subject: subject, referrer: referrer)
            } catch {
                throw .io(error)
            }
            return nil
        }
    }

    /// Stores a manifest without a check of its references by the caller (tools and tests that built the store
    /// themselves); what it names is touched all the same.
    public func putManifest(_ name: RepositoryName, bytes: [UInt8], digest: Digest, mediaType: String, tag: Tag?,
                            subject: Digest?, referrer: Descriptor?) throws(StoreError) {
        _ = try putManifest(name, bytes: bytes, digest: digest, mediaType: mediaType, tag: tag, subject: subject,
                            referrer: referrer, references: ManifestReferences(bytes: bytes), verify: { () -> StoreError? in nil })
    }

    /// The writes of `putManifest`, as one record of the metadata log (`MetadataJournal`): the manifest's blob, its
    /// revision link, the referrer entry and the tag are written into the tree at once, and the push is acknowledged
    /// when the log is durable (one flush, shared with concurrent writers).
    private func writeManifest(_ name: RepositoryName, bytes: [UInt8], digest: Digest, mediaType: String, tag: Tag?,
                               subject: Digest?, referrer: Descriptor?) throws(SystemError) {
        try record(.manifest(JournalRecord.ManifestWrite(
            name: name, digest: digest, mediaType: mediaType, bytes: bytes, tag: tag,
            subject: referrer == nil ? nil : subject,
            referrer: subject == nil ? nil : referrer.map { JSONCoding.encodeInfallibly($0) })))
    }

    /// Touches what a manifest of `name` makes reachable, where present (a foreign layer need not be): links and
    /// blobs of its config and layers; for an index, each child's revision link and blob, then what the child
    /// names. Call it holding the reference lock shared.
    private func touchReachable(_ name: RepositoryName, _ references: ManifestReferences,
                                visited: inout Set<Digest>) throws(SystemError) {
        for blob in references.blobs {
            try FileSystem.refresh(layout.layerLink(name, blob))
            try FileSystem.refresh(layout.blob(blob))
        }
        for child in references.manifests where visited.insert(child).inserted {
            try FileSystem.refresh(layout.revisionLink(name, child))
            try FileSystem.refresh(layout.blob(child))
            let bytes = cache.manifest(child) ?? FileSystem.read(revisionIfSmall: layout.blob(child), maxBytes: 4 << 20)
            if let bytes { try touchReachable(name, ManifestReferences(bytes: bytes), visited: &visited) }
        }
    }

    /// A number that changes whenever a tag, manifest or referrer changes in this store (in this process): a
    /// view derived from the store's metadata, read after loading this number, is current while it is unchanged.
    public var metadataGeneration: UInt64 {
        cache.generation.load(ordering: .sequentiallyConsistent)
    }

    /// The digest a tag points to.
    /// - Throws: `manifestUnknown` when there is no such tag.
    public func resolve(_ name: RepositoryName, tag: Tag) throws(StoreError) -> Digest {
        if let digest = cache.tag(name, tag) { return digest }
        let text: [UInt8]?
        do { text = try FileSystem.read(layout.tag(name, tag), maxBytes: 1024) } catch { throw .io(error) }
        guard let text, let digest = try? Digest(parsing: String(decoding: text, as: UTF8.self)) else {
            throw .manifestUnknown(tag.value)
        }
        cache.setTag(name, tag, digest)
        return digest
    }

    /// The media type of a manifest of `name`, or nil when the repository does not hold it.
    public func manifestMediaType(_ name: RepositoryName, _ digest: Digest) -> String? {
        if let mediaType = cache.revision(name, digest) { return mediaType }
        guard let bytes = FileSystem.read(revisionIfSmall: layout.revisionLink(name, digest)) else { return nil }
        let mediaType = String(decoding: bytes, as: UTF8.self)
        cache.setRevision(name, digest, mediaType: mediaType)
        return mediaType
    }

    /// A manifest of `name` by digest.
    /// - Throws: `manifestUnknown` when the repository does not hold it.
    public func manifest(_ name: RepositoryName, _ digest: Digest, maxBytes: Int) throws(StoreError) -> StoredManifest {
        guard let mediaType = manifestMediaType(name, digest) else { throw .manifestUnknown(digest.description) }
        if let bytes = cache.manifest(digest) {
            return StoredManifest(bytes: bytes, digest: digest, mediaType: mediaType)
        }
        let bytes: [UInt8]?
        do { bytes = try FileSystem.read(layout.blob(digest), maxBytes: maxBytes) } catch { throw .io(error) }
        guard let bytes else { throw .manifestUnknown(digest.description) }
        cache.setManifest(digest, bytes)
        return StoredManifest(bytes: bytes, digest: digest, mediaType: mediaType)
    }

    /// Removes a manifest from `name`: its revision link, every tag pointing to it, and its referrer entry.
    /// - Parameter subject: the manifest's subject, whose referrers list it.
    public func deleteManifest(_ name: RepositoryName, _ digest: Digest, subject: Digest?) throws(StoreError) {
        try metadataLock.withLock { _ throws(StoreError) in
            guard manifestMediaType(name, digest) != nil else { throw StoreError.manifestUnknown(digest.description) }
            // Also after a failure part-way: what was done must not be hidden by views of the old state.
            defer { cache.metadataChanged() }
            do throws(SystemError) {
                try checkpointLocked()
                for tagName in try FileSystem.list(layout.tagsDirectory(name)) {
                    guard let tag = try? Tag(validating: tagName) else { continue }
                    if let text = try FileSystem.read(layout.tag(name, tag), maxBytes: 1024),
                       String(decoding: text, as: UTF8.self) == digest.description {
                        try FileSystem.remove(layout.tag(name, tag))
                    }
                }
                cache.dropTags(name)
                if let subject {
                    try FileSystem.remove(layout.referrer(name, subject: subject, referrer: digest))
                }
                try FileSystem.remove(layout.revisionLink(name, digest))
                cache.setRevision(name, digest, mediaType: nil)
            } catch {
                throw StoreError.io(error)
            }
        }
    }

    /// Removes a tag; the manifest stays.
    public func deleteTag(_ name: RepositoryName, _ tag: Tag) throws(StoreError) {
        try metadataLock.withLock { _ throws(StoreError) in
            let removed: Bool
            do throws(SystemError) {
                try checkpointLocked()
                removed = try FileSystem.remove(layout.tag(name, tag))
            } catch {
                throw StoreError.io(error)
            }
            cache.setTag(name, tag, nil)
            cache.metadataChanged()
            guard removed else { throw StoreError.manifestUnknown(tag.value) }
        }
    }

    /// The tags of a repository, in lexical (byte) order.
    /// - Throws: `nameUnknown` when the repository does not exist.
    public func tags(_ name: RepositoryName) throws(StoreError) -> [String] {
        guard repositoryExists(name) else { throw .nameUnknown(name.value) }
        do {
            return try FileSystem.list(layout.tagsDirectory(name)).filter { (try? Tag(validating: $0)) != nil }
                .sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        } catch {
            throw .io(error)
        }
    }

    /// The descriptors of the manifests in `name` whose subject is `subject`.
    public func referrers(_ name: RepositoryName, subject: Digest) throws(StoreError) -> [Descriptor] {
        let dir = layout.referrersDirectory(name, subject: subject)
        do {
            var result: [Descriptor] = []
            for entry in try FileSystem.list(dir).sorted() {
                guard let bytes = try FileSystem.read("\(dir)/\(entry)", maxBytes: 1 << 20),
                      let descriptor = try? JSONCoding.decode(Descriptor.self, from: bytes) else { continue }
                result.append(descriptor)
            }
            return result
        } catch {
            throw .io(error)
        }
    }
}

extension FileSystem {
    /// A small file's bytes, or nil when missing or unreadable (for marker files whose absence is the answer).
    static func read(revisionIfSmall path: String, maxBytes: Int = 4096) -> [UInt8]? {
        (try? read(path, maxBytes: maxBytes)) ?? nil
    }
}
