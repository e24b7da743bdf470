import ArgumentParser
import BlobStore
import Glibc
import RegistryConfig
import StoreMaintenance
import SystemIO

/// `swregistry gc`: garbage collection and retention on a stopped store (see `GarbageCollector`). A running
/// server collects on its own schedule (`gc.interval`); while one holds the store, this command says so and
/// exits 1.
struct GCCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "Remove what no tag reaches, apply retention rules, free space.",
        discussion: """
            Removes tags that gc.retention drops, manifests no tag reaches (untagged ones only with \
            --delete-untagged or a retention rule), repository links and blobs nothing kept names, and expired \
            upload sessions; nothing changed or used within the grace period goes. Prints one line per removed \
            item and a summary. The store is the one the configuration names (storage.filesystem.rootdirectory, \
            --storage); it must not be in use by a running server, which collects every gc.interval by itself.
            """
    )

    @Flag(help: "Change nothing; list what would be removed.")
    var dryRun = false
    @Flag(help: "Remove manifests no tag reaches (gc.deleteuntagged, $SWREGISTRY_GC_DELETEUNTAGGED).")
    var deleteUntagged = false
    @Option(help: "Keep what was made or used more recently than this (gc.grace, $SWREGISTRY_GC_GRACE; default 1h).")
    var grace: String?
    @Option(help: "YAML configuration file ($SWREGISTRY_CONFIG).")
    var config: String?
    @Option(help: flagHelp(.storageRoot))
    var storage: String?

    /// Seconds slept after each removal, from `$SWREGISTRY_TEST_GC_PAUSE` (tests kill a collection mid-sweep).
    static let pauseVariable = "SWREGISTRY_TEST_GC_PAUSE"

    func run() throws {
        let source = ConfigurationSource(file: config, flags: storage.map { [(ConfigKey.storageRoot.flag!, $0)] } ?? [])
        let configuration = try source.loadOrExit()
        var options = configuration.gcOptions
        options.dryRun = dryRun
        if deleteUntagged { options.deleteUntagged = true }
        if let grace {
            guard let seconds = ConfigKey.gcGrace.duration(parsing: grace) else {
                printError("swregistry gc: --grace: \"\(grace)\" is not a duration (accepted: \(ConfigKey.gcGrace.kind.accepted))")
                throw ExitCode(1)
            }
            options.graceSeconds = seconds
        }
        if let pause = source.environment[Self.pauseVariable].flatMap(Double.init), pause > 0 {
            options.pauseAfterRemovalNanos = UInt64(pause * 1e9)
        }

        let root = configuration.storagePath
        guard FileSystem.isRealDirectory(root) else {
            printError("swregistry gc: no store under \(root)")
            throw ExitCode(1)
        }
        let lock: StoreLock
        do {
            lock = try StoreLock(layout: Layout(root: root))
        } catch .held(_, let pid) {
            printError("""
                swregistry gc: the store under \(root) is in use by a running swregistry server \
                (\(pid.map { "pid \($0)" } ?? "pid unknown")); it collects garbage itself every gc.interval. \
                Stop it to collect now.
                """)
            throw ExitCode(1)
        } catch {
            printError("swregistry gc: \(error)")
            throw ExitCode(1)
        }
        let limits = configuration.registryConfiguration().uploadLimits
        let store: BlobStore
        do { store = try BlobStore(root: root, uploadLimits: limits) } catch {
            printError("swregistry gc: cannot open the store under \(root): \(error)")
            throw ExitCode(1)
        }
        let collector = GarbageCollector(store: store, options: options, output: StandardOutput())
        do {
            _ = try collector.run()
        } catch {
            printError("swregistry gc: \(error)")
            throw ExitCode(1)
        }
        withExtendedLifetime(lock) {}
    }
}
