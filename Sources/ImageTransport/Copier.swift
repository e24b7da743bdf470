import Glibc
import OCIModel
import Synchronization

/// Copies one image (or a whole index with `all`) from a source to a destination: blobs first, in parallel
/// (`jobs` at once), then child manifests, then the top manifest, then `commit()`.
///
/// Blobs the destination has are skipped; a registry destination mounts from a source repository of the same
/// registry; otherwise bytes go through a verified staging file (or straight from the source's own file). A
/// failure aborts the destination's staged state, so nothing unverified is ever left under a digest name.
public final class Copier: Sendable {
    let source: any ImageSource
    let destination: any ImageDestination
    let options: CopyOptions
    let observer: CopyObserver?
    private let counters = Mutex<(copied: Int, skipped: Int, mounted: Int, bytes: Int64, manifests: Int)>((0, 0, 0, 0, 0))

    public init(source: any ImageSource, destination: any ImageDestination, options: CopyOptions,
                observer: CopyObserver? = nil) {
        self.source = source
        self.destination = destination
        self.options = options
        self.observer = observer
    }

    /// Runs the copy.
    public func run() async throws -> CopyReport {
        do {
            let top = try await source.topManifest()
            let written: ManifestData
            switch try top.parsed() {
            case .index(let index):
                if options.all {
                    written = try await copyIndex(top, index, isTop: true)
                } else {
                    let chosen = try options.platform.select(from: index, what: source.description)
                    let child = try await source.manifest(chosen)
                    observer?(.note("Selected \(options.platform) image \(chosen.digest) from index \(top.digest)"))
                    written = try await copyAny(child, isTop: true)
                }
            case .manifest:
                written = try await copyImage(top, isTop: true)
            }
            if !options.additionalTags.isEmpty { try await destination.addTags(options.additionalTags, to: written) }
            try await destination.commit()
            let totals = counters.withLock { $0 }
            var result = CopyReport(digest: written.digest, mediaType: written.mediaType)
            result.blobsCopied = totals.copied
            result.blobsSkipped = totals.skipped
            result.blobsMounted = totals.mounted
            result.bytesCopied = totals.bytes
            result.manifestsWritten = totals.manifests
            let topIsIndex = try top.parsed().isIndex
            if written.digest != top.digest && (options.all || !topIsIndex) {
                result.sourceDigest = top.digest
            }
            return result
        } catch {
            destination.abort()
            throw error
        }
    }

    private func copyAny(_ manifest: ManifestData, isTop: Bool) async throws -> ManifestData {
        switch try manifest.parsed() {
        case .index(let index): try await copyIndex(manifest, index, isTop: isTop)
        case .manifest: try await copyImage(manifest, isTop: isTop)
        }
    }

    /// Copies every child of the index, then the index (rewritten when children changed digest).
    private func copyIndex(_ manifest: ManifestData, _ index: ImageIndex, isTop: Bool) async throws -> ManifestData {
        var converted: [Digest: Descriptor] = [:]
        for child in index.manifests {
            guard child.mediaType.isManifestOrIndex else {
                // Not an image (e.g. an attestation blob listed in an index): copy it as a blob.
                try await copyBlobs([child])
                continue
            }
            let data = try await source.manifest(child)
            let written = try await copyAny(data, isTop: false)
            if written.digest != data.digest {
                converted[child.digest] = Descriptor(mediaType: written.mediaType, digest: written.digest,
                                                     size: Int64(written.bytes.count))
            }
        }
        let output = try convertIfAsked(manifest, children: converted)
        try await write(output, isTop: isTop)
        return output
    }

    /// Copies the config and layers, then the manifest.
    private func copyImage(_ manifest: ManifestData, isTop: Bool) async throws -> ManifestData {
        guard case .manifest(let image) = try manifest.parsed() else {
            throw TransportError.invalidImage("manifest \(manifest.digest)", reason: "expected an image manifest")
        }
        try await copyBlobs([image.config] + image.layers)
        let output = try convertIfAsked(manifest, children: [:])
        try await write(output, isTop: isTop)
        return output
    }

    private func convertIfAsked(_ manifest: ManifestData, children: [Digest: Descriptor]) throws -> ManifestData {
        let format = options.format ?? (children.isEmpty ? nil : ManifestFormat(manifest.mediaType))
        guard let format, let converted = try ManifestConversion.convert(manifest, to: format, children: children)
        else { return manifest }
        if options.preserveDigests {
            throw TransportError.unsupported(
                "manifest \(manifest.digest): converting to \(format.rawValue) would change its digest, and --preserve-digests is set")
        }
        observer?(.note("Converted \(manifest.mediaType) \(manifest.digest) to \(converted.mediaType) \(converted.digest): the digest changed"))
        return converted
    }

    private func write(_ manifest: ManifestData, isTop: Bool) async throws {
        try await destination.putManifest(manifest, top: isTop)
        counters.withLock { $0.manifests += 1 }
        observer?(.manifestWritten(manifest))
    }

    /// Copies blobs, `jobs` at a time, each digest once.
    private func copyBlobs(_ descriptors: [Descriptor]) async throws {
        var seen = Set<Digest>()
        let unique = descriptors.filter { seen.insert($0.digest).inserted }
        try await withThrowingTaskGroup(of: Void.self) { group in
            var pending = unique.makeIterator()
            for _ in 0..<max(1, options.jobs) {
                guard let descriptor = pending.next() else { break }
                group.addTask { try await self.copyBlob(descriptor) }
            }
            while try await group.next() != nil {
                if let descriptor = pending.next() { group.addTask { try await self.copyBlob(descriptor) } }
            }
        }
    }

    private func copyBlob(_ descriptor: Descriptor) async throws {
        observer?(.blobStarted(descriptor))
        let outcome = try await transferBlob(descriptor)
        counters.withLock {
            switch outcome {
            case .copied:
                $0.copied += 1
                $0.bytes += descriptor.size
            case .skipped: $0.skipped += 1
            case .mounted: $0.mounted += 1
            }
        }
        observer?(.blobFinished(descriptor, outcome))
    }

    private func transferBlob(_ descriptor: Descriptor) async throws -> BlobOutcome {
        if try await destination.hasBlob(descriptor) { return .skipped }
        if descriptor.isForeignLayer && source.localBlobPath(descriptor) == nil {
            observer?(.note("Skipping non-distributable layer \(descriptor.digest) (fetched from its URLs at run time)"))
            return .skipped
        }
        if try await destination.mountBlob(descriptor, from: source) { return .mounted }
        let observer = self.observer
        let progress: BlobProgress = { done, _ in observer?(.blobProgress(descriptor, transferred: done)) }
        if let local = source.localBlobPath(descriptor) {
            try await destination.putBlob(descriptor, from: local, staged: false, progress: progress)
            return .copied
        }
        let staging = try destination.stagingPath(for: descriptor)
        do {
            try await source.fetchBlob(descriptor, to: staging, progress: progress)
            try await destination.putBlob(descriptor, from: staging, staged: true, progress: nil)
        } catch {
            unlink(staging)
            throw error
        }
        return .copied
    }
}

extension ManifestDocument {
    var isIndex: Bool { if case .index = self { true } else { false } }
}
