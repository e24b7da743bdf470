import BlobStore
import Glibc
import Logging
import OCIModel

/// Online garbage collection: removes tags that retention rules drop, manifests no root reaches, repository
/// links no kept manifest names, blobs nothing names, and upload sessions past expiry, while the registry
/// serves.
///
/// ## What is kept (mark, per repository)
/// Roots are the tags (after retention), every manifest unless untagged ones are garbage (`deleteUntagged`, or
/// the matching retention rule's `deleteuntagged` age), and every manifest younger than the cutoff. From the
/// roots: children of indexes, the config and layers of image manifests, and the referrers of every kept
/// manifest (a signature or SBOM lives as long as its subject), recursively. A blob is kept when a surviving
/// revision or link names it.
///
/// ## Why it is safe while clients push (the protocol)
/// 1. One store-wide reader-writer lock (`BlobStore.references`). Every mutation that makes something
///    reachable holds it shared — manifest PUT (with its check that every reference is present, in the same
///    critical section), tag set (part of PUT), mount, upload commit — and, inside it, after finding them
///    present, *touches* (sets the modification time of) everything it makes reachable: a PUT the manifest's
///    blob, its revision link, its config and layer links and blobs, for an index its children transitively; a
///    mount the blob and then the link; a commit the blob and then the link. A blob `HEAD` touches an old link
///    (see `BlobStore.linkedBlobSize`). The collector deletes only holding the lock exclusively.
/// 2. T0 is the store's clock read holding the lock exclusively (`collectionClock`): every mutation that
///    started before has finished (the mark sees it), and every later one touches with a time ≥ T0. The
///    cutoff is T0 − grace. Nothing is deleted unless its modification time, read again under the exclusive
///    lock immediately before the unlink, is below the cutoff. So whatever a mutation after T0 made reachable
///    survives (its touch is ≥ T0 ≥ cutoff) even though the mark did not see it, and a mutation that comes
///    after a deletion does not find the item present and fails cleanly (MANIFEST_BLOB_UNKNOWN, or a mount
///    that falls back to an upload) instead of referring to it. A young revision is a root, so what it names
///    is kept too, even if the touches of the PUT that made it straddle the cutoff. With grace 0 only the lock
///    and the touches protect; the grace period also covers clients between steps (an uploaded blob whose
///    manifest comes later, a HEAD before skipping an upload), which hold no lock.
/// 3. One collection at a time per store in a process (`asOnlyCollection`; a second one fails at once with
///    `alreadyRunning` rather than queueing behind a long run); between processes `StoreLock` admits one owner.
///
/// ## Why a crash (kill -9) at any instant is safe (the sweep)
/// Each removal is one unlink that leaves nothing dangling, in passes over the whole store, each made durable
/// (`syncRemovals`) before the next, so that a machine crash cannot revive an earlier pass's victim after a
/// later pass removed what it names: (1) the tags retention drops; (2) per repository, mark, then the unkept
/// manifests — a referrer entry before its revision link, a manifest before the manifests it names (index
/// children, subject); (3) the links no kept manifest names; (4) the blobs nothing surviving names; then the
/// expired upload sessions. Nothing kept is ever removed, so a crash at any point leaves every kept image whole;
/// what is left is garbage the next collection finds again.
///
/// Deletions run in batches of at most `batchSize` (64) and about 5 ms per hold of the exclusive lock, so a push
/// waits one batch at most; the lock prefers the collector's wait over new pushes, so pushes cannot starve it.
public struct GarbageCollector: Sendable {
    public enum Failure: Error, CustomStringConvertible, Sendable {
        /// Another collection of this store is running in this process.
        case alreadyRunning
        case store(StoreError)
        case invalidPattern(String, problem: String)

        public var description: String {
            switch self {
            case .alreadyRunning: "a garbage collection of this store is already running"
            case .store(let error): "\(error)"
            case .invalidPattern(let pattern, let problem): "invalid retention pattern \(pattern): \(problem)"
            }
        }
    }

    public let store: any CollectableStore
    public let options: GCOptions
    public let output: any MaintenanceOutput
    /// Where the summary and failures are logged (the server's log); nil when `output` is all (the CLI).
    public let logger: Logger?

    public init(store: any CollectableStore, options: GCOptions, output: any MaintenanceOutput, logger: Logger? = nil) {
        self.store = store
        self.options = options
        self.output = output
        self.logger = logger
    }

    /// Runs one collection (see the type's comment), reporting each removal and a summary to `output`, the
    /// summary to the logger, and the figures to the metrics.
    /// - Throws: `alreadyRunning`, or what the store failed with (what was removed until then stays removed).
    public func run() throws(Failure) -> GCReport {
        let started = Self.monotonicNanos()
        do throws(Failure) {
            let result = try store.asOnlyCollection { () throws(Failure) -> GCReport in
                var run = try Run(self)
                try run.collect()
                return run.report
            }
            guard var report = result else { throw Failure.alreadyRunning }
            report.seconds = Double(Self.monotonicNanos() - started) / 1e9
            output.line(report.summary)
            // The server's scheduled collections report to the log itself: the summary once, not twice.
            if !output.isLog { logger?.info("\(report.summary)") }
            GCMetrics.record(report)
            return report
        } catch {
            if case .alreadyRunning = error {
                logger?.notice("gc not started: \(error)")
            } else {
                GCMetrics.failed()
                logger?.error("gc failed: \(error)")
            }
            throw error
        }
    }

    /// Monotonic seconds (for deadlines).
    public static func nowSeconds() -> Double {
        Double(monotonicNanos()) / 1e9
    }

    /// A period in nanoseconds, at most about 73 years (a quarter of `Int64`'s range): subtracted from a time of
    /// this century it cannot overflow, whatever the configuration said (which bounds durations too).
    static func nanoseconds(_ seconds: Double) -> Int64 {
        let limit = Int64.max / 4
        guard seconds.isFinite, seconds * 1e9 < Double(limit) else { return limit }
        return Int64(max(0, seconds * 1e9))
    }

    static func monotonicNanos() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }
}

/// One collection's state.
private struct Run {
    let collector: GarbageCollector
    var store: any CollectableStore { collector.store }
    var options: GCOptions { collector.options }
    let patterns: [[Regex<AnyRegexOutput>]]
    /// The store's clock at the start, and the cutoff below which things may go (nanoseconds).
    var startTime: Int64 = 0
    var cutoff: Int64 = 0
    var report: GCReport
    /// Blobs that a surviving revision or link names, over every repository.
    var named: Set<Digest> = []
    /// What each manifest read names (a manifest shared by repositories is read once).
    var referencesByDigest: [Digest: ManifestReferences] = [:]
    /// Removals waiting for the next exclusive section.
    var pending: [Pending] = []
    /// Longest hold of the exclusive lock the collector aims at (a push waits at most about this long).
    static let maxHoldNanos: UInt64 = 5_000_000
    /// Tags the retention pass removed (or, in a dry run, would remove), as `repo:tag`.
    var retentionRemoved: Set<String> = []
    /// Links no kept manifest names, older than the cutoff when noted: removed in the links pass.
    var linkCandidates: [(RepositoryName, Digest)] = []

    /// A removal decided on: what it is, and the store call that does it if the item is still old enough
    /// (returning the bytes freed, or nil when it did not remove).
    struct Pending {
        let kind: GCReport.Kind
        let item: String
        let digest: Digest
        let bytes: Int64
        let perform: () throws(StoreError) -> Int64?
    }

    init(_ collector: GarbageCollector) throws(GarbageCollector.Failure) {
        self.collector = collector
        report = GCReport(dryRun: collector.options.dryRun)
        var compiled: [[Regex<AnyRegexOutput>]] = []
        for rule in collector.options.retention {
            var regexes: [Regex<AnyRegexOutput>] = []
            for pattern in rule.keepPatterns {
                do { regexes.append(try Regex(pattern)) } catch {
                    throw .invalidPattern(pattern, problem: "\(error)")
                }
            }
            compiled.append(regexes)
        }
        patterns = compiled
    }

    mutating func collect() throws(GarbageCollector.Failure) {
        do {
            startTime = try store.collectionClock()
            cutoff = startTime - GarbageCollector.nanoseconds(options.graceSeconds)
            let repositories = try store.repositoryNames()
            report.repositories = repositories.count
            // Each pass's removals are made durable before the next pass removes what they referred to.
            for name in repositories { try applyRetention(name) }
            try syncRemovals()
            for (done, name) in repositories.enumerated() {
                collector.output.progress(done: done, total: repositories.count, what: "repositories")
                try markAndSweepManifests(name)
            }
            collector.output.progress(done: repositories.count, total: repositories.count, what: "repositories")
            try syncRemovals()
            try sweepLinks()
            try syncRemovals()
            try sweepBlobs()
            try syncRemovals()
            for session in store.expireUploads(dryRun: options.dryRun) {
                record(GCReport.Removal(kind: .upload, item: "upload \(session.id)", bytes: session.bytes))
            }
        } catch {
            throw .store(error)
        }
    }

    private func syncRemovals() throws(StoreError) {
        if !options.dryRun { try store.syncRemovals() }
    }

    // MARK: - Retention

    /// The retention rule for a repository (the first that applies) and its index.
    private func rule(for name: RepositoryName) -> (RetentionRule, Int)? {
        options.retention.firstIndex { $0.applies(to: name.value) }.map { (options.retention[$0], $0) }
    }

    /// Deletes the tags of `name` its retention rule does not keep. A tag pushed again since the collection
    /// started (or moved) stays.
    private mutating func applyRetention(_ name: RepositoryName) throws(StoreError) {
        guard let (rule, index) = rule(for: name), rule.limitsTags else { return }
        let newestFirst = try store.tagEntries(name).sorted { ($0.modified, $0.tag.value) > ($1.modified, $1.tag.value) }
        for (position, entry) in newestFirst.enumerated() {
            let recent = rule.keepMostRecent.map { position < $0 } ?? false
            let matching = patterns[index].contains { (try? $0.firstMatch(in: entry.tag.value)) != nil }
            // A tag pushed within the grace period stays too, as everything else made within it.
            if recent || matching || entry.modified >= cutoff { continue }
            let cutoff = cutoff
            pending.append(Pending(kind: .tag, item: "\(name.value):\(entry.tag.value)", digest: entry.digest, bytes: 0) { [store] () throws(StoreError) in
                try store.removeTag(name, entry.tag, pointingTo: entry.digest, modifiedBefore: cutoff) ? 0 : nil
            })
        }
        for removal in try flush() { retentionRemoved.insert(removal.item) }
    }

    // MARK: - Manifests, per repository

    /// Marks what `name` keeps, removes the manifests it does not, and notes the links it does not keep.
    private mutating func markAndSweepManifests(_ name: RepositoryName) throws(StoreError) {
        // A dry run's tags are as the retention pass would have left them.
        let tags = try store.tagEntries(name).filter { !retentionRemoved.contains("\(name.value):\($0.tag.value)") }
        let revisions = try store.revisionEntries(name)
        let present = Set(revisions.map(\.digest))
        let tagged = Set(tags.map(\.digest))
        // Untagged manifests older than this are not roots.
        let untaggedCutoff: Int64? =
            if let age = rule(for: name)?.0.deleteUntaggedAfter { startTime - GarbageCollector.nanoseconds(age) }
            else if options.deleteUntagged { Int64.max }
            else { nil }
        var queue = tags.map(\.digest).filter { present.contains($0) }
        for revision in revisions where !tagged.contains(revision.digest) {
            if revision.modified >= cutoff || untaggedCutoff.map({ revision.modified >= $0 }) ?? true {
                queue.append(revision.digest)
            }
        }

        // Mark.
        let referrers = try store.referrerEntries(name)
        var keptManifests: Set<Digest> = []
        var keptBlobs: Set<Digest> = []
        while let digest = queue.popLast() {
            guard keptManifests.insert(digest).inserted else { continue }
            guard let references = readReferences(of: digest) else {
                // What a kept manifest names is unknown: nothing of this repository may go (a larger
                // storage.maxmanifestbytes than the collector reads with, a damaged blob: `verify` tells).
                collector.output.line("kept all of \(name.value): its manifest \(digest) cannot be read")
                collector.logger?.warning("gc: kept all of \(name.value): its manifest \(digest) cannot be read")
                for revision in revisions { named.insert(revision.digest) }
                for link in try store.layerLinkEntries(name) { named.insert(link.digest) }
                return
            }
            keptBlobs.formUnion(references.blobs)
            queue += references.manifests.filter { present.contains($0) && !keptManifests.contains($0) }
            queue += (referrers[digest] ?? []).filter { present.contains($0) && !keptManifests.contains($0) }
        }

        // Sweep manifests, each before what it names.
        let doomed = revisions.filter { !keptManifests.contains($0.digest) && $0.modified < cutoff }.map(\.digest)
        for digest in namersFirst(doomed) {
            let subject = references(of: digest).subject
            let cutoff = cutoff
            pending.append(Pending(kind: .manifest, item: "\(name.value)@\(digest)", digest: digest, bytes: 0) { [store] () throws(StoreError) in
                try store.removeRevision(name, digest, subject: subject, modifiedBefore: cutoff) ? 0 : nil
            })
        }
        let removedRevisions = Set(try flush().map(\.digest))

        // What survives names its blobs (a young unkept revision keeps its blob); links not kept are swept in
        // the next pass, once these removals are durable.
        for revision in revisions where !removedRevisions.contains(revision.digest) { named.insert(revision.digest) }
        named.formUnion(keptBlobs)
        for link in try store.layerLinkEntries(name) {
            if !keptBlobs.contains(link.digest) && link.modified < cutoff {
                linkCandidates.append((name, link.digest))
            } else {
                named.insert(link.digest)
            }
        }
        // Only shared manifests are worth remembering across repositories.
        if referencesByDigest.count > 100_000 { referencesByDigest = [:] }
    }

    // MARK: - Links

    /// Removes the links no kept manifest names; one that was touched since it was noted stays, with its blob.
    private mutating func sweepLinks() throws(StoreError) {
        var removed: Set<String> = []
        for (done, (name, digest)) in linkCandidates.enumerated() {
            let cutoff = cutoff
            pending.append(Pending(kind: .link, item: "\(name.value) link \(digest)", digest: digest, bytes: 0) { [store] () throws(StoreError) in
                try store.removeLayerLink(name, digest, modifiedBefore: cutoff) ? 0 : nil
            })
            if pending.count >= options.batchSize || done == linkCandidates.count - 1 {
                collector.output.progress(done: done + 1, total: linkCandidates.count, what: "links")
                for removal in try flush() { removed.insert(removal.item) }
            }
        }
        for (name, digest) in linkCandidates where !removed.contains("\(name.value) link \(digest)") { named.insert(digest) }
        linkCandidates = []
    }

    // MARK: - Blobs

    private mutating func sweepBlobs() throws(StoreError) {
        let blobs = try store.blobEntries()
        for (done, blob) in blobs.enumerated() where !named.contains(blob.digest) && blob.modified < cutoff {
            collector.output.progress(done: done, total: blobs.count, what: "blobs")
            let cutoff = cutoff, digest = blob.digest, size = blob.size
            pending.append(Pending(kind: .blob, item: digest.description, digest: digest, bytes: size) { [store] () throws(StoreError) in
                try store.removeBlob(digest, modifiedBefore: cutoff)
            })
            if pending.count >= options.batchSize { _ = try flush() }
        }
        _ = try flush()
        collector.output.progress(done: blobs.count, total: blobs.count, what: "blobs")
    }

    // MARK: - Removing

    /// Runs the pending removals in batches, each batch holding the exclusive lock; in a dry run only reports
    /// them (the same decisions, nothing changed). The caller syncs at the end of its pass.
    /// - Returns: the removals done.
    private mutating func flush() throws(StoreError) -> [Pending] {
        let work = pending
        pending = []
        var done: [Pending] = []
        if options.dryRun {
            done = work
        } else {
            var start = 0
            while start < work.count {
                let batch = work[start..<min(start + max(options.batchSize, 1), work.count)]
                let pause = options.pauseAfterRemovalNanos
                let (count, removed) = try store.exclusively { () throws(StoreError) -> (Int, [Pending]) in
                    // At most `batchSize` removals and about `maxHoldNanos` per hold (a slow disk makes each
                    // unlink cost more), at least one.
                    let holdStart = GarbageCollector.monotonicNanos()
                    var removed: [Pending] = []
                    var count = 0
                    for item in batch {
                        if count > 0 && GarbageCollector.monotonicNanos() - holdStart > Self.maxHoldNanos { break }
                        count += 1
                        if let bytes = try item.perform() {
                            removed.append(Pending(kind: item.kind, item: item.item, digest: item.digest, bytes: bytes, perform: item.perform))
                        }
                        if pause > 0 { Self.sleep(nanos: pause) }
                    }
                    return (count, removed)
                }
                start += count
                done += removed
            }
        }
        for item in done { record(GCReport.Removal(kind: item.kind, item: item.item, bytes: item.bytes)) }
        return done
    }

    private mutating func record(_ removal: GCReport.Removal) {
        report.removals.append(removal)
        collector.output.line(GCReport.line(removal, dryRun: options.dryRun))
    }

    // MARK: - Manifests

    /// What a stored manifest names (read once per collection); nil when it cannot be read (absent, too large,
    /// an I/O error, not a manifest's JSON).
    private mutating func readReferences(of digest: Digest) -> ManifestReferences? {
        if let known = referencesByDigest[digest] { return known }
        let bytes = (try? store.manifestBytes(digest, maxBytes: options.maxManifestBytes)) ?? nil
        guard let references = bytes.flatMap(ManifestReferences.init(parsing:)) else { return nil }
        referencesByDigest[digest] = references
        return references
    }

    /// What a manifest names, or nothing when it cannot be read (for manifests that go: only their order and
    /// referrer entry depend on it).
    private mutating func references(of digest: Digest) -> ManifestReferences {
        readReferences(of: digest) ?? ManifestReferences()
    }

    /// `digests` ordered so that a manifest comes before every manifest of the set it names (index children,
    /// subject): a crash between two removals never leaves a manifest naming one already gone.
    private mutating func namersFirst(_ digests: [Digest]) -> [Digest] {
        let set = Set(digests)
        var namedBy: [Digest: Int] = [:]
        var edges: [Digest: [Digest]] = [:]
        for digest in digests {
            let references = self.references(of: digest)
            let targets = Set(references.manifests + (references.subject.map { [$0] } ?? [])).filter { set.contains($0) && $0 != digest }
            edges[digest] = Array(targets)
            for target in targets { namedBy[target, default: 0] += 1 }
        }
        var ready = digests.filter { namedBy[$0, default: 0] == 0 }
        var ordered: [Digest] = []
        while let digest = ready.popLast() {
            ordered.append(digest)
            for target in edges[digest] ?? [] {
                namedBy[target]! -= 1
                if namedBy[target] == 0 { ready.append(target) }
            }
        }
        // A cycle (impossible with content addressing, but the bytes are not trusted): the rest in any order.
        let placed = Set(ordered)
        return ordered + digests.filter { !placed.contains($0) }
    }

    private static func sleep(nanos: UInt64) {
        var request = timespec(tv_sec: Int(nanos / 1_000_000_000), tv_nsec: Int(nanos % 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }
}
