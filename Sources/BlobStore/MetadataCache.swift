import OCIModel
import Synchronization

/// Hot metadata in memory: tag → digest, manifest bytes with their media type, and which repositories hold
/// which manifests. Writers update the disk first and then the cache, under the store's metadata lock; a miss
/// falls back to the disk.
final class MetadataCache: Sendable {
    struct Manifest: Sendable {
        let bytes: [UInt8]
        let mediaType: String
    }

    private struct State {
        var tags: [String: Digest] = [:]
        var revisions: [String: String] = [:]  // "name@digest" → media type
        var manifests: [Digest: [UInt8]] = [:]
        var manifestBytes = 0
    }

    private let state = Mutex(State())
    /// Moves on after every change of what tags and manifests resolve to (not after a cache fill), so that views
    /// built from this cache, such as rendered responses, can tell they are out of date.
    let generation = Atomic<UInt64>(0)
    /// Manifest bytes kept at most; past this the manifest cache starts over (manifests are small, and a
    /// cold read is one file read).
    let maxManifestBytes: Int

    init(maxManifestBytes: Int = 64 << 20) {
        self.maxManifestBytes = maxManifestBytes
    }

    /// Records that metadata changed; call it after the disk and this cache show the change.
    func metadataChanged() {
        generation.add(1, ordering: .sequentiallyConsistent)
    }

    func tag(_ name: RepositoryName, _ tag: Tag) -> Digest? {
        state.withLock { $0.tags["\(name.value):\(tag.value)"] }
    }

    func setTag(_ name: RepositoryName, _ tag: Tag, _ digest: Digest?) {
        state.withLock { $0.tags["\(name.value):\(tag.value)"] = digest }
    }

    /// Forgets every tag of a repository (after a manifest delete, which may remove several).
    func dropTags(_ name: RepositoryName) {
        let prefix = name.value + ":"
        state.withLock { s in s.tags = s.tags.filter { !$0.key.hasPrefix(prefix) } }
    }

    func revision(_ name: RepositoryName, _ digest: Digest) -> String? {
        state.withLock { $0.revisions["\(name.value)@\(digest)"] }
    }

    func setRevision(_ name: RepositoryName, _ digest: Digest, mediaType: String?) {
        state.withLock { $0.revisions["\(name.value)@\(digest)"] = mediaType }
    }

    func manifest(_ digest: Digest) -> [UInt8]? {
        state.withLock { $0.manifests[digest] }
    }

    /// Forgets a manifest's bytes (its blob was collected, or found damaged and taken away: the bytes kept here may be the
    /// damaged ones, read from disk, and a re-push of the same digest must replace them).
    func dropManifest(_ digest: Digest) {
        state.withLock { s in
            if let old = s.manifests.removeValue(forKey: digest) { s.manifestBytes -= old.count }
        }
    }

    func setManifest(_ digest: Digest, _ bytes: [UInt8]) {
        state.withLock { s in
            if s.manifestBytes + bytes.count > maxManifestBytes {
                s.manifests = [:]
                s.manifestBytes = 0
            }
            if s.manifests[digest] == nil {
                s.manifests[digest] = bytes
                s.manifestBytes += bytes.count
            }
        }
    }
}
