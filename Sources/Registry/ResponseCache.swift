import HTTPServer
import Synchronization

/// Rendered answers to `GET` and `HEAD` of manifests, keyed by the request path as received, so that a hot
/// manifest is served without routing, validating, looking up or rendering anything again, and without leaving
/// the event loop.
///
/// - Entries are made only from answers the full path produced (a 200 for a manifest), so a hit stands for a
///   path that was routed and validated then; a path with another spelling (percent-encoding) is its own entry.
/// - Each entry is tied to the store's metadata generation read before its data were: any change of a tag or a
///   manifest moves the generation on, and from then on every older entry is a miss and is dropped.
/// - The answer depends on nothing else in the request (manifests are served as stored, whatever `Accept` says).
final class ResponseCache: Sendable {
    /// The two answers for one path.
    struct Entry: Sendable {
        let get: Response
        let head: Response
        /// The repository of the path, validated when the answer was made (for the access check of a cache hit).
        let repository: String
        /// The event a GET of this path records (without its URL), made only when events are on.
        var pulled: RegistryEvent.Target? = nil
    }

    private struct State {
        var generation: UInt64 = 0
        var entries: [Substring: Entry] = [:]
        var bodyBytes = 0
    }

    private let state = Mutex(State())
    /// Entries kept at most; past this, or past `maxBodyBytes`, the cache starts over (a miss costs one
    /// ordinary request).
    let maxEntries: Int
    /// Body bytes kept at most (manifests may be up to the registry's manifest limit each).
    let maxBodyBytes: Int

    init(maxEntries: Int = 4096, maxBodyBytes: Int = 64 << 20) {
        self.maxEntries = maxEntries
        self.maxBodyBytes = maxBodyBytes
    }

    /// The answer for `path`, if one was made at `generation` (the store's current one).
    func response(_ path: Substring, method: String, generation: UInt64) -> Response? {
        entry(path, generation: generation).map { method == "HEAD" ? $0.head : $0.get }
    }

    /// The entry for `path`, if it was made at `generation`.
    func entry(_ path: Substring, generation: UInt64) -> Entry? {
        state.withLock { s -> Entry? in
            guard s.generation == generation else { return nil }
            return s.entries[path]
        }
    }

    /// Remembers the answers for `path`, built from data read at `generation`.
    func insert(_ path: Substring, _ entry: Entry, generation: UInt64) {
        // The key gets a String of its own: `path` is a slice of the whole request target.
        let key = Substring(String(path))
        state.withLock { s in
            if s.generation != generation {
                // Data read before a change are stale already; a newer generation retires every older entry.
                guard generation > s.generation else { return }
                s.entries.removeAll()
                s.bodyBytes = 0
                s.generation = generation
            }
            let size = Int(entry.get.body.count)
            guard size <= maxBodyBytes else { return }
            if s.entries.count >= maxEntries || s.bodyBytes + size > maxBodyBytes {
                s.entries.removeAll(keepingCapacity: true)
                s.bodyBytes = 0
            }
            if let old = s.entries.updateValue(entry, forKey: key) { s.bodyBytes -= Int(old.get.body.count) }
            s.bodyBytes += size
        }
    }
}
