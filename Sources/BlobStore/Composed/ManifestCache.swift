import OCIModel
import Synchronization

/// Tags and manifests read from a metadata store, valid at one `generation` of it: a lookup at another
/// generation misses, and a fill at another generation starts the cache over. Callers read the generation
/// before loading and fill only when it is unchanged after, so that nothing older than a change is kept past it.
final class ManifestCache: Sendable {
    private struct ManifestKey: Hashable {
        let name: String
        let digest: Digest
    }

    private struct State {
        var generation: UInt64 = 0
        var tags: [String: Digest] = [:]
        var manifests: [ManifestKey: StoredManifest] = [:]
        var manifestBytes = 0

        mutating func moveTo(_ generation: UInt64) {
            guard self.generation != generation else { return }
            self = State(generation: generation)
        }
    }

    /// Bounds: past them the cache starts over (a miss is one query).
    static let maxTags = 100_000
    static let maxManifestBytes = 64 << 20
    private let state = Mutex(State())

    func tag(_ name: RepositoryName, _ tag: Tag, at generation: UInt64) -> Digest? {
        state.withLock { $0.generation == generation ? $0.tags[Self.key(name, tag)] : nil }
    }

    func fill(_ name: RepositoryName, _ tag: Tag, _ digest: Digest, at generation: UInt64) {
        state.withLock { s in
            s.moveTo(generation)
            if s.tags.count >= Self.maxTags { s.tags = [:] }
            s.tags[Self.key(name, tag)] = digest
        }
    }

    func manifest(_ name: RepositoryName, _ digest: Digest, at generation: UInt64) -> StoredManifest? {
        state.withLock { $0.generation == generation ? $0.manifests[ManifestKey(name: name.value, digest: digest)] : nil }
    }

    func fill(_ name: RepositoryName, _ manifest: StoredManifest, at generation: UInt64) {
        state.withLock { s in
            s.moveTo(generation)
            if s.manifestBytes + manifest.bytes.count > Self.maxManifestBytes {
                s.manifests = [:]
                s.manifestBytes = 0
            }
            let key = ManifestKey(name: name.value, digest: manifest.digest)
            if s.manifests.updateValue(manifest, forKey: key) == nil { s.manifestBytes += manifest.bytes.count }
        }
    }

    /// `name:tag` cannot collide: a repository name holds no `:`.
    private static func key(_ name: RepositoryName, _ tag: Tag) -> String {
        "\(name.value):\(tag.value)"
    }
}
