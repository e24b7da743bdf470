import Glibc
import OCIModel
import Synchronization
import SystemIO

/// How many blobs the store holds and their bytes, for `swregistry_store_blobs` / `swregistry_store_blob_bytes`,
/// kept current without walking the store per scrape (a store may hold 200,000 blobs).
///
/// The store is walked once, in the background, when `startCounting` is called (by `serve`); from then on every
/// blob that appears (an upload committed, a manifest stored) calls `blobAdded`, and whatever deletes a blob (the
/// garbage collector) calls `blobRemoved`. Blobs added or removed while the walk runs are remembered by digest and
/// skipped by the walk, so that each is counted once whichever of the walk and the event sees it first.
///
/// Not counted twice: a blob committed again while present (deduplication: the callers report only a new file).
/// Two uploads of the same new blob committed at the same instant may both report it (the second rename replaces
/// the first file): the figure can drift by such a blob until the next start.
public final class StoreStatistics: Sendable {
    public struct Totals: Sendable, Equatable {
        public var blobs: Int
        public var bytes: Int64

        public init(blobs: Int, bytes: Int64) {
            self.blobs = blobs
            self.bytes = bytes
        }
    }

    /// What events said about one digest while the walk ran.
    private struct Change {
        /// The walk had counted the blob before its first event (a removal of a blob it had passed).
        var countedByWalk: Bool
        var walkedSize: Int64
        /// Its size if the blob is there after the last event, nil if not.
        var present: Int64?
    }

    private struct Counting {
        var changes: [Digest: Change] = [:]
        /// The last blob the walk dealt with (it goes in digest order): an event at or before it comes after the
        /// walk saw the blob, one after it before.
        var cursor: (algorithm: Int, encoded: String)?

        func walkPassed(_ digest: Digest) -> Bool {
            guard let cursor else { return false }
            let algorithm = Digest.Algorithm.allCases.firstIndex(of: digest.algorithm)!
            return algorithm < cursor.algorithm || (algorithm == cursor.algorithm && digest.encoded <= cursor.encoded)
        }

        mutating func record(_ digest: Digest, size: Int64, added: Bool) {
            if changes[digest] == nil {
                // The first event: a removal of a blob the walk passed took one the walk counted (an addition is of a
                // blob that was not there, so not counted).
                let counted = !added && walkPassed(digest)
                changes[digest] = Change(countedByWalk: counted, walkedSize: counted ? size : 0, present: nil)
            }
            changes[digest]!.present = added ? size : nil
        }
    }

    private enum State {
        /// Nobody asked for the figures (the maintenance commands): events are ignored.
        case idle
        /// The walk runs.
        case counting(Counting)
        case live(Totals)
    }

    private let state = Mutex(State.idle)

    public init() {}

    /// The figures, or nil before the first walk finished.
    public var totals: Totals? {
        state.withLock { s in
            if case .live(let totals) = s { return totals }
            return nil
        }
    }

    /// A new blob file appeared under `digest` (not one that was there already).
    public func blobAdded(_ digest: Digest, size: Int64) {
        record(digest, size: size, added: true)
    }

    /// The blob file of `digest`, of `size` bytes, was deleted (garbage collection).
    public func blobRemoved(_ digest: Digest, size: Int64) {
        record(digest, size: size, added: false)
    }

    private func record(_ digest: Digest, size: Int64, added: Bool) {
        state.withLock { s in
            switch s {
            case .idle: break
            case .counting(var counting):
                s = .idle  // so that `counting` holds the only reference to its table (no copy on write)
                counting.record(digest, size: size, added: added)
                s = .counting(counting)
            case .live(var totals):
                totals.blobs = max(0, totals.blobs + (added ? 1 : -1))
                totals.bytes = max(0, totals.bytes + (added ? size : -size))
                s = .live(totals)
            }
        }
    }

    /// Walks the store's blobs on a thread of its own; `totals` is nil until it finishes. Once only.
    public func startCounting(_ layout: Layout) {
        guard begin() else { return }
        _ = Thread.start(name: "swr-blob-count") { [self] in finishCounting(walk(layout)) }
    }

    /// Walks the store's blobs on the calling thread, then keeps the figures current (for tests).
    /// - Parameter afterEach: called after the walk dealt with each blob (tests change the store there).
    public func count(_ layout: Layout, afterEach: (Digest) -> Void = { _ in }) {
        guard begin() else { return }
        finishCounting(walk(layout, afterEach: afterEach))
    }

    private func begin() -> Bool {
        state.withLock { s in
            guard case .idle = s else { return false }
            s = .counting(Counting())
            return true
        }
    }

    /// Every blob file under `blobs/<algorithm>/<two hex>/`, in digest order, except those an event reported
    /// before the walk reached them.
    private func walk(_ layout: Layout, afterEach: (Digest) -> Void = { _ in }) -> Totals {
        var totals = Totals(blobs: 0, bytes: 0)
        for (index, algorithm) in Digest.Algorithm.allCases.enumerated() {
            let top = "\(layout.blobsDirectory)/\(algorithm.rawValue)"
            for prefix in ((try? FileSystem.list(top)) ?? []).sorted() {
                let directory = "\(top)/\(prefix)"
                for name in ((try? FileSystem.list(directory)) ?? []).sorted() {
                    guard let digest = try? Digest(algorithm: algorithm, encoded: name) else { continue }
                    var st = stat()
                    let size: Int64? = lstat("\(directory)/\(name)", &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
                        ? Int64(st.st_size) : nil
                    // Looked up and the cursor moved under one lock, so that an event is either before or after.
                    let counts = state.withLock { s -> Bool in
                        guard case .counting(var counting) = s else { return false }
                        counting.cursor = (index, name)
                        let reported = counting.changes[digest] != nil
                        s = .counting(counting)
                        return !reported
                    }
                    if counts, let size {
                        totals.blobs += 1
                        totals.bytes += size
                    }
                    afterEach(digest)
                }
            }
        }
        return totals
    }

    private func finishCounting(_ walked: Totals) {
        state.withLock { s in
            guard case .counting(let counting) = s else { return }
            var totals = walked
            for change in counting.changes.values {
                if change.countedByWalk {
                    totals.blobs -= 1
                    totals.bytes -= change.walkedSize
                }
                if let size = change.present {
                    totals.blobs += 1
                    totals.bytes += size
                }
            }
            s = .live(Totals(blobs: max(0, totals.blobs), bytes: max(0, totals.bytes)))
        }
    }
}
