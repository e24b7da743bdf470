import ArgumentParser
import OCIModel
import RegistryConfig
import StoreMaintenance

/// `swregistry verify [--repair] [REPO…]`: re-hashes blobs and checks links, manifests, tags and referrers.
struct VerifyCommand: StoreCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check the store: re-hash every blob, check every link, manifest, tag and referrer.",
        discussion: """
            Prints each problem on a line (kind, repository, digest or path, what is wrong), then a summary. \
            Exit status: 0 when nothing is damaged, 1 when something is (even when repaired), 2 on error. With \
            --repair, a blob whose content does not match its digest is moved to <storage>/quarantine/ and no \
            longer served (clients get 404 and push it again), and links, manifests, tags and referrer entries \
            that point at nothing are removed. While a server serves the store, the command runs inside it \
            through its control socket, with the server's configuration (--config and --storage only locate the \
            store).
            """
    )

    @OptionGroup var location: StoreLocation
    var config: String? { location.config }
    var storage: String? { location.storage }

    @Flag(help: "Quarantine damaged blobs and remove dangling links, manifests, tags and referrer entries.")
    var repair = false

    @Option(help: "Blobs hashed at once (default: half the processors, 1 to 4).")
    var jobs: Int?

    @Argument(help: "Repositories to check, with only the blobs they link (default: the whole store).")
    var repositories: [String] = []

    func validate() throws {
        for name in repositories {
            do { _ = try RepositoryName(validating: name) } catch {
                throw ValidationError("\(name): not a repository name: \(error)")
            }
        }
        if let jobs, jobs < 1 || jobs > 64 { throw ValidationError("--jobs must be between 1 and 64") }
    }

    func execute(_ context: StoreCommandContext) throws -> Int32 {
        let options = VerifyOptions(
            repair: repair, repositories: try repositories.map { try RepositoryName(validating: $0) },
            maxManifestBytes: context.configuration.registryConfiguration().maxManifestBytes,
            jobs: jobs ?? VerifyOptions.defaultJobs, shouldStop: context.isCancelled)
        return try Verifier(store: context.store, options: options, output: context.output).run().exitStatus
    }
}
