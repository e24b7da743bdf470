import ArgumentParser
import BlobStore
import Dispatch
import Logging
import RegistryConfig
import Synchronization
import SystemIO

/// `swregistry import --from DIR [--config FILE]`: copies a filesystem store into the configured S3 + PostgreSQL
/// (see `StoreImporter`): resumable (run it again after a failure: what is there is skipped) and verified (every
/// blob's digest is checked by the target as it is committed).
struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Copy a filesystem store into the configured S3 + PostgreSQL; resumable.",
        discussion: """
            Streams every blob a repository links into the bucket (verified against its digest; blobs already \
            there with the right size are skipped), then the links, manifests (children before indexes), tags and \
            referrers into the database. Prints one line per item copied and a summary; exits 1 when anything \
            failed (run it again: it resumes). The source must not be served meanwhile (its lock is taken).
            """
    )

    @Option(help: "The filesystem store to copy (a storage.filesystem.rootdirectory).")
    var from: String

    @Option(help: "YAML configuration file ($SWREGISTRY_CONFIG) naming the S3 + PostgreSQL target.")
    var config: String?

    func run() throws {
        let configuration = try ConfigurationSource(file: config).loadOrExit()
        guard case .scaleOut(let s3, let database) = configuration.storageBackend else {
            printError("swregistry import: the configuration names no S3 + PostgreSQL target (storage.s3.*, database.*)")
            throw ExitCode(1)
        }
        let logger = Logger(label: "swregistry.import")
        let layout = Layout(root: from)
        guard FileSystem.isDirectory(layout.blobsDirectory) && FileSystem.isDirectory(layout.repositoriesDirectory) else {
            printError("swregistry import: there is no store under \(from)")
            throw ExitCode(1)
        }
        let summary: StoreImporter.Summary
        do {
            // A server writing the source meanwhile would leave the copy behind it: one at a time.
            let lock = try StoreLock(layout: layout)
            let source = try FilesystemSide.open(layout, uploadLimits: configuration.registryConfiguration().uploadLimits)
            let target = try ScaleOut.makeSide(s3: s3, database: database, logger: logger)
            let importer = StoreImporter(source: source, target: target, report: { print($0) })
            summary = try withExtendedLifetime(lock) { try waitFor { try await importer.run() } }
        } catch {
            printError("swregistry import: \(error)")
            throw ExitCode(1)
        }
        print(Self.summaryLine(summary))
        if !summary.failures.isEmpty {
            printError("swregistry import: \(summary.failures.count) item\(summary.failures.count == 1 ? "" : "s") failed (first: \(summary.failures[0])); run it again to resume")
            throw ExitCode(1)
        }
    }

    static func summaryLine(_ s: StoreImporter.Summary) -> String {
        "\(s.repositories) repositories: \(s.blobsCopied) blobs copied (\(s.bytesCopied) bytes), \(s.blobsPresent) already there; "
            + "\(s.links) links; \(s.manifestsPut) manifests put (\(s.tags) tags), \(s.manifestsPresent) already there; "
            + "\(s.failures.count) failed"
    }
}

/// Runs `body` to completion from synchronous code (a command's `run`), blocking this thread meanwhile.
func waitFor<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let result = Mutex<Result<T, any Error>?>(nil)
    let done = DispatchSemaphore(value: 0)
    Task {
        let outcome: Result<T, any Error>
        do { outcome = .success(try await body()) } catch { outcome = .failure(error) }
        result.withLock { $0 = outcome }
        done.signal()
    }
    done.wait()
    return try result.withLock { $0! }.get()
}
