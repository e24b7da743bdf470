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
/// Each removal is one unlink that leaves nothing dangling, in this order, with the directories synced
/// (`syncRemovals`) between phases so that a machine crash cannot revive an earlier phase's victim after a
/// later phase's removal: retention's tags; per repository unkept revisions — a referrer entry before its
/// revision link, and a manifest before the manifests it names (index children, subject) — then unkept links;
/// after every repository, blobs; then expired upload sessions. Nothing kept is ever removed, so a crash at any
/// point leaves every kept image whole; what is left is garbage the next collection finds again.
///
/// Deletions run in batches of `batchSize` per hold of the exclusive lock, so a push waits one batch at most.
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
            logger?.info("\(report.summary)")
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
            cutoff = startTime - Int64(options.graceSeconds * 1e9)
            let repositories = try store.repositoryNames()
            report.repositories = repositories.count
            for (done, name) in repositories.enumerated() {
                collector.output.progress(done: done, total: repositories.count, what: "repositories")
                try collect(name)
            }
            collector.output.progress(done: repositories.count, total: repositories.count, what: "repositories")
            try sweepBlobs()
            for session in store.expireUploads(dryRun: options.dryRun) {
                record(GCReport.Removal(kind: .upload, item: "upload \(session.id)", bytes: session.bytes))
            }
        } catch {
            throw .store(error)
        }
    }

    // MARK: - One repository

    private mutating func collect(_ name: RepositoryName) throws(StoreError) {
        let ruleIndex = options.retention.firstIndex { $0.applies(to: name.value) }
        let rule = ruleIndex.map { options.retention[$0] }
        var tags = try store.tagEntries(name)
        if let rule, let ruleIndex, rule.limitsTags {
            tags = try applyRetention(rule, patterns: patterns[ruleIndex], name, tags)
        }
        let revisions = try store.revisionEntries(name)
        let present = Set(revisions.map(\.digest))
        let tagged = Set(tags.map(\.digest))
        // Untagged manifests older than this are not roots.
        let untaggedCutoff: Int64? =
            if let age = rule?.deleteUntaggedAfter { startTime - Int64(age * 1e9) }
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
            let references = try self.references(of: digest)
            keptBlobs.formUnion(references.blobs)
            queue += references.manifests.filter { present.contains($0) && !keptManifests.contains($0) }
            queue += (referrers[digest] ?? []).filter { present.contains($0) && !keptManifests.contains($0) }
        }

        // Sweep revisions, each before what it names.
        var removedRevisions: Set<Digest> = []
        let doomed = revisions.filter { !keptManifests.contains($0.digest) && $0.modified < cutoff }.map(\.digest)
        for digest in try namersFirst(doomed) {
            let subject = try references(of: digest).subject
            let cutoff = cutoff
            pending.append(Pending(kind: .manifest, item: "\(name.value)@\(digest)", digest: digest, bytes: 0) { [store] () throws(StoreError) in
                try store.removeRevision(name, digest, subject: subject, modifiedBefore: cutoff) ? 0 : nil
            })
        }
        for removal in try flush() { removedRevisions.insert(removal.digest) }

        // Sweep links.
        let links = try store.layerLinkEntries(name)
        var removedLinks: Set<Digest> = []
        for link in links where !keptBlobs.contains(link.digest) && link.modified < cutoff {
            let cutoff = cutoff, digest = link.digest
            pending.append(Pending(kind: .link, item: "\(name.value) link \(digest)", digest: digest, bytes: 0) { [store] () throws(StoreError) in
                try store.removeLayerLink(name, digest, modifiedBefore: cutoff) ? 0 : nil
            })
        }
        for removal in try flush() { removedLinks.insert(removal.digest) }

        // What survives names its blobs (a young unkept link or revision keeps its blob).
        for revision in revisions where !removedRevisions.contains(revision.digest) { named.insert(revision.digest) }
        for link in links where !removedLinks.contains(link.digest) { named.insert(link.digest) }
        named.formUnion(keptBlobs)
        // Only shared manifests are worth remembering across repositories.
        if referencesByDigest.count > 100_000 { referencesByDigest = [:] }
    }

    /// Deletes the tags `rule` does not keep; returns the tags left (those it keeps, and any that moved since
    /// the collection started).
    private mutating func applyRetention(_ rule: RetentionRule, patterns: [Regex<AnyRegexOutput>],
                                         _ name: RepositoryName, _ tags: [TagEntry]) throws(StoreError) -> [TagEntry] {
        let newestFirst = tags.sorted { ($0.modified, $0.tag.value) > ($1.modified, $1.tag.value) }
        var left: [TagEntry] = []
        for (position, entry) in newestFirst.enumerated() {
            let recent = rule.keepMostRecent.map { position < $0 } ?? false
            let matching = patterns.contains { (try? $0.firstMatch(in: entry.tag.value)) != nil }
            if recent || matching {
                left.append(entry)
                continue
            }
            let startTime = startTime
            pending.append(Pending(kind: .tag, item: "\(name.value):\(entry.tag.value)", digest: entry.digest, bytes: 0) { [store] () throws(StoreError) in
                try store.removeTag(name, entry.tag, pointingTo: entry.digest, modifiedBefore: startTime) ? 0 : nil
            })
        }
        let removed = Set(try flush().map(\.item))
        // A tag that was not removed (it moved or was pushed again since the start) stays a root.
        return left + newestFirst.filter { entry in
            !left.contains(entry) && !removed.contains("\(name.value):\(entry.tag.value)")
        }
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

    /// Runs the pending removals in batches, each batch holding the exclusive lock, then syncs the changed
    /// directories; in a dry run only reports them (the same decisions, nothing changed).
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
                start = batch.endIndex
                let pause = options.pauseAfterRemovalNanos
                done += try store.exclusively { () throws(StoreError) -> [Pending] in
                    var removed: [Pending] = []
                    for item in batch {
                        if let bytes = try item.perform() {
                            removed.append(Pending(kind: item.kind, item: item.item, digest: item.digest, bytes: bytes, perform: item.perform))
                        }
                        if pause > 0 { Self.sleep(nanos: pause) }
                    }
                    return removed
                }
            }
            try store.syncRemovals()
        }
        for item in done { record(GCReport.Removal(kind: item.kind, item: item.item, bytes: item.bytes)) }
        return done
    }

    private mutating func record(_ removal: GCReport.Removal) {
        report.removals.append(removal)
        collector.output.line(GCReport.line(removal, dryRun: options.dryRun))
    }

    // MARK: - Manifests

    /// What a stored manifest names (read once per collection).
    private mutating func references(of digest: Digest) throws(StoreError) -> ManifestReferences {
        if let known = referencesByDigest[digest] { return known }
        let bytes = (try? store.manifestBytes(digest, maxBytes: options.maxManifestBytes)) ?? nil
        let references = bytes.map { ManifestReferences(bytes: $0) } ?? ManifestReferences()
        referencesByDigest[digest] = references
        return references
    }

    /// `digests` ordered so that a manifest comes before every manifest of the set it names (index children,
    /// subject): a crash between two removals never leaves a manifest naming one already gone.
    private mutating func namersFirst(_ digests: [Digest]) throws(StoreError) -> [Digest] {
        let set = Set(digests)
        var namedBy: [Digest: Int] = [:]
        var edges: [Digest: [Digest]] = [:]
        for digest in digests {
            let references = try self.references(of: digest)
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
