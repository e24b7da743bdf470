import BlobStore
import Glibc
import OCIModel
import Synchronization
import SystemIO

/// `swregistry verify`: re-hashes blobs and checks every repository's links, manifests, tags and referrer entries;
/// with `repair`, quarantines damaged blobs and removes what points at nothing (see `BlobStore+Repair`).
///
/// Blobs come first, so that the repository checks see the store as the repairs left it: a manifest whose blob
/// was quarantined is then a dangling manifest, and the tags pointing at it dangling tags, each reported once.
/// Each problem is reported on a line as soon as it is found (`VerifyProblem.description`), then the summary.
///
/// Safe while a server serves the store: it only reads, and each repair checks again, under the store's metadata
/// lock, that what it found is still so. What a server adds during the run may not be checked; what it removes
/// (a delete, a garbage collection) is skipped, not reported.
public final class Verifier: Sendable {
    let store: BlobStore
    let options: VerifyOptions
    let output: any MaintenanceOutput
    /// The report so far; problems are appended by the hashing threads too.
    let report = Mutex(VerifyReport())
    /// Blobs found damaged and left in place (no repair): their manifests are not checked again, once is enough.
    let damaged = Mutex<Set<Digest>>([])

    public init(store: BlobStore, options: VerifyOptions, output: any MaintenanceOutput) {
        self.store = store
        self.options = options
        self.output = output
    }

    /// Runs the checks and prints the report.
    /// - Returns: the report (its `exitStatus` is the command's).
    /// - Throws: `StoreError` when a repository named in the options does not exist or a folder cannot be
    ///   listed: the run could not check what it was asked to.
    public func run() throws -> VerifyReport {
        let names = try repositoriesToCheck()
        try checkBlobs(try blobsToCheck(names))
        for (index, name) in names.enumerated() {
            if options.shouldStop() { break }
            output.progress(done: index, total: names.count, what: "repositories")
            try checkRepository(name)
            report.withLock { $0.repositories += 1 }
        }
        output.progress(done: names.count, total: names.count, what: "repositories")
        var final = report.withLock { $0 }
        final.stopped = options.shouldStop()
        for line in final.summary { output.line(line) }
        return final
    }

    /// Records and prints a problem, after repairing it when the options ask for repairs and `repair` is given.
    /// - Parameter repair: does the repair and says what it did; nil when it found nothing left to do (the entry
    ///   changed since it was checked: a server repaired it, or removed it).
    func found(_ problem: VerifyProblem, repair: (() throws(StoreError) -> String?)? = nil) {
        var problem = problem
        if options.repair, let repair {
            do throws(StoreError) {
                problem.repair = try repair().map { .done($0) } ?? .notDone("it changed since it was checked")
            } catch {
                problem.repair = .notDone("\(error)")
            }
        }
        output.line(problem.description)
        report.withLock { $0.problems.append(problem) }
    }

    /// The repositories named in the options (each must exist), or every repository of the store; folders under
    /// `repositories/` whose path is no repository name are reported as stray entries.
    private func repositoriesToCheck() throws(StoreError) -> [RepositoryName] {
        if !options.repositories.isEmpty {
            for name in options.repositories where !store.repositoryExists(name) {
                throw StoreError.nameUnknown(name.value)
            }
            return options.repositories
        }
        var names: [RepositoryName] = []
        for path in try store.repositories() {
            guard let name = try? RepositoryName(validating: path) else {
                found(VerifyProblem(.strayEntry, repository: nil, subject: "repositories/\(path)",
                                    detail: "not a valid repository name; never served"))
                continue
            }
            names.append(name)
        }
        return names
    }
}
