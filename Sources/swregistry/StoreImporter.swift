import BlobStore
import Glibc
import OCIModel
import SystemIO

/// Copies a store into another through the storage protocols only (`BlobStorage` + `MetadataStore` on each side):
/// `swregistry import` uses it to move a filesystem store into S3 + PostgreSQL.
///
/// - Blobs: every blob a repository links, streamed in chunks through the target's
///   upload path (`beginUpload` → `appender` → `commitUpload`, which verifies the digest), never held whole in
///   memory. A blob the target already has with the right size is skipped, so a second run resumes where the
///   first stopped. Unreferenced blobs of the source (garbage a collection would remove) are left behind.
/// - Metadata, per repository: links first, then manifests in dependency order (an index after its children: the
///   target checks that they are there), each put once per tag pointing to it (untagged ones once) — which also
///   lists referrers under their subject. A manifest the target already holds, with its tags, is skipped. The
///   metadata store keeps a manifest's bytes (as `ComposedStorage` does): they are not written as blobs.
///
/// A failure of one item is reported and the copy goes on with the others (an exit status says there were
/// failures); an unreachable backend (`StoreError.unavailable`) stops the run at once.
struct StoreImporter: Sendable {
    struct Side: Sendable {
        let blobs: any BlobStorage
        let metadata: any MetadataStore
    }

    struct Summary: Sendable, Equatable {
        var repositories = 0
        var blobsCopied = 0
        var bytesCopied: Int64 = 0
        var blobsPresent = 0
        var links = 0
        var manifestsPut = 0
        var manifestsPresent = 0
        var tags = 0
        var failures: [String] = []
    }

    /// Why the run stopped before its end.
    struct Stopped: Error, CustomStringConvertible {
        let description: String
    }

    let source: Side
    let target: Side
    /// One line per item done or failed.
    let report: @Sendable (String) -> Void
    /// Bytes per read from the source.
    var chunkSize = 1 << 20

    /// Copies everything. - Throws: `Stopped` when a backend became unreachable (what was copied stays).
    func run() async throws(Stopped) -> Summary {
        var summary = Summary()
        var copied: Set<Digest> = []
        let names: [RepositoryName]
        do { names = try source.metadata.repositoryNames() } catch { throw Stopped(description: "cannot list the source's repositories: \(error)") }
        for name in names.sorted() {
            summary.repositories += 1
            try await importRepository(name, copied: &copied, summary: &summary)
        }
        return summary
    }

    /// Whether `error` means a backend is gone (stop), rather than one item being wrong (go on).
    private static func isFatal(_ error: StoreError) -> Bool {
        if case .unavailable = error { return true }
        if case .io = error { return true }
        return false
    }

    private func fail(_ what: String, _ error: StoreError, _ summary: inout Summary) throws(Stopped) {
        let line = "\(what): \(error)"
        if Self.isFatal(error) { throw Stopped(description: line) }
        summary.failures.append(line)
        report("failed: " + line)
    }

    private func importRepository(_ name: RepositoryName, copied: inout Set<Digest>,
                                  summary: inout Summary) async throws(Stopped) {
        let links: [LinkEntry], revisions: [LinkEntry], tags: [TagEntry]
        do {
            links = try source.metadata.layerLinkEntries(name)
            revisions = try source.metadata.revisionEntries(name)
            tags = try source.metadata.tagEntries(name)
        } catch {
            try fail(name.value, error, &summary)
            return
        }
        // Links: the blob first (streamed), then the link that makes it part of the repository.
        for link in links.sorted(by: { $0.digest.description < $1.digest.description }) {
            do {
                let size = try await ensureBlob(link.digest, copied: &copied, summary: &summary)
                try target.metadata.link(name, link.digest, size: size, requireKnown: false)
                summary.links += 1
            } catch {
                try fail("\(name.value)@\(link.digest)", error, &summary)
            }
        }
        // Manifests, children before the indexes that name them.
        var records: [Digest: ManifestRecord] = [:]
        for revision in revisions {
            do {
                guard let stored = try source.metadata.manifest(name, revision.digest) else { continue }
                records[revision.digest] = try Self.record(stored)
            } catch {
                try fail("\(name.value)@\(revision.digest)", error, &summary)
            }
        }
        var tagsByDigest: [Digest: [Tag]] = [:]
        for entry in tags { tagsByDigest[entry.digest, default: []].append(entry.tag) }
        for digest in Self.dependencyOrder(records) {
            let record = records[digest]!
            let what = "\(name.value)@\(digest)"
            let wanted: [Tag?] = (tagsByDigest[digest] ?? []).sorted { $0.value < $1.value }.map { $0 }
            for tag in wanted.isEmpty ? [nil] : wanted {
                let label = tag.map { "\(name.value):\($0.value)" } ?? what
                do {
                    if try isPresent(name, digest, tag: tag) {
                        summary.manifestsPresent += 1
                        continue
                    }
                    if let missing = try target.metadata.putManifest(name, record, tag: tag) {
                        summary.failures.append("\(label): the target refused it, it names \(missing)")
                        report("failed: \(label): names \(missing), which \(name.value) does not hold")
                        continue
                    }
                    summary.manifestsPut += 1
                    if tag != nil { summary.tags += 1 }
                    report("manifest \(label) (\(record.mediaType))")
                } catch {
                    try fail(label, error, &summary)
                }
            }
        }
    }

    /// Whether the target already holds the manifest (and the tag points to it).
    private func isPresent(_ name: RepositoryName, _ digest: Digest, tag: Tag?) throws(StoreError) -> Bool {
        guard try target.metadata.manifestMediaType(name, digest) != nil else { return false }
        guard let tag else { return true }
        return try target.metadata.resolve(name, tag) == digest
    }

    /// Copies a blob unless the target has it with the source's size. - Returns: its size.
    private func ensureBlob(_ digest: Digest, copied: inout Set<Digest>,
                            summary: inout Summary) async throws(StoreError) -> Int64 {
        guard let size = try source.blobs.size(of: digest) else { throw StoreError.blobUnknown(digest) }
        if copied.contains(digest) { return size }
        if try target.blobs.size(of: digest) == size {
            summary.blobsPresent += 1
        } else {
            try await copyBlob(digest, size: size)
            summary.blobsCopied += 1
            summary.bytesCopied += size
            report("blob \(digest) (\(size) bytes)")
        }
        copied.insert(digest)
        return size
    }

    /// Streams one blob from the source into a target upload and commits it under its digest (verified there).
    private func copyBlob(_ digest: Digest, size: Int64) async throws(StoreError) {
        let id = UploadID.random()
        var state = try target.blobs.beginUpload(id)
        do throws(StoreError) {
            let appender = try target.blobs.appender(for: id, state)
            let content = try source.blobs.content(of: digest, redirect: false)
            var failure: StoreError?
            do throws(StoreError) { try await pump(content, into: appender) } catch { failure = error }
            let (finished, appendFailure) = await appender.finish()
            state = finished
            if let error = failure ?? appendFailure { throw error }
            guard state.size == size else {
                throw StoreError.sizeInvalid("\(digest): read \(state.size) bytes of \(size)")
            }
            let committed = try target.blobs.commitUpload(id, state, as: digest)
            guard committed == size else {
                throw StoreError.sizeInvalid("\(digest): stored \(committed) bytes of \(size)")
            }
        } catch {
            target.blobs.abortUpload(id, state)
            throw error
        }
    }

    /// Moves the content's bytes into the appender chunk by chunk.
    private func pump(_ content: BlobContent, into appender: any BlobAppender) async throws(StoreError) {
        switch content {
        case .file(let fd, let size):
            var offset: Int64 = 0
            var spare: [[UInt8]] = []
            while offset < size {
                var buffer = spare.popLast() ?? []
                let count = Int(min(Int64(chunkSize), size - offset))
                buffer.removeAll(keepingCapacity: true)
                buffer.append(contentsOf: repeatElement(0, count: count))
                let read = buffer.withUnsafeMutableBytes { pread(fd.rawValue, $0.baseAddress, count, off_t(offset)) }
                if read < 0 {
                    if errno == EINTR { continue }
                    throw StoreError.io(SystemError("pread", errno: errno))
                }
                guard read > 0 else { throw StoreError.sizeInvalid("the source blob ended at \(offset) of \(size) bytes") }
                buffer.removeLast(count - read)
                offset += Int64(read)
                try await appender.write(buffer)
                spare += appender.reclaim()
            }
        case .stream(let size, let open):
            let stream: any BlobByteStream
            do { stream = try await open(0..<size) } catch {
                throw (error as? StoreError) ?? StoreError.unavailable("\(error)")
            }
            defer { stream.cancel() }
            while true {
                let chunk: [UInt8]?
                do { chunk = try await stream.next() } catch {
                    throw (error as? StoreError) ?? StoreError.unavailable("\(error)")
                }
                guard let chunk else { break }
                try await appender.write(chunk)
                _ = appender.reclaim()
            }
        case .redirect:
            // Asked for with redirect: false; a source that still redirects cannot be copied here.
            throw StoreError.unavailable("the source answers with a redirect")
        }
    }

    /// The source's manifest as the target stores it: what it names, its subject and its referrer descriptor,
    /// read from its bytes as the registry read them when it was pushed.
    static func record(_ stored: StoredManifest) throws(StoreError) -> ManifestRecord {
        let document: ManifestDocument
        do { document = try ManifestDocument.parse(stored.bytes, contentType: stored.mediaType) } catch {
            throw StoreError.manifestInvalid("\(stored.digest): \(error)")
        }
        var referrer: Descriptor?
        if document.subject != nil {
            referrer = Descriptor(mediaType: document.mediaType, digest: stored.digest, size: Int64(stored.bytes.count),
                                  annotations: document.annotations, artifactType: document.artifactType)
        }
        let references: ManifestReferences
        switch document {
        case .manifest(let manifest):
            references = ManifestReferences(blobs: [manifest.config.digest] + manifest.layers.map(\.digest),
                                            subject: document.subject?.digest)
        case .index(let index):
            references = ManifestReferences(manifests: index.manifests.map(\.digest), subject: document.subject?.digest)
        }
        return ManifestRecord(digest: stored.digest, mediaType: stored.mediaType, bytes: stored.bytes,
                              subject: document.subject?.digest, referrer: referrer, references: references)
    }

    /// The manifests' digests with every index after the children it names (those of the same set), otherwise in
    /// digest order; a child outside the set does not hold its index back (the target then refuses the index,
    /// which is reported).
    static func dependencyOrder(_ records: [Digest: ManifestRecord]) -> [Digest] {
        var order: [Digest] = []
        var state: [Digest: Bool] = [:]  // false: in progress, true: done
        func visit(_ digest: Digest) {
            guard state[digest] == nil, let record = records[digest] else { return }
            state[digest] = false
            for child in record.references.manifests.sorted(by: { $0.description < $1.description }) { visit(child) }
            state[digest] = true
            order.append(digest)
        }
        for digest in records.keys.sorted(by: { $0.description < $1.description }) { visit(digest) }
        return order
    }
}
