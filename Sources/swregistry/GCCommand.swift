import ArgumentParser
import BlobStore
import Glibc
import Logging
import RegistryConfig
import StoreMaintenance
import SystemIO

/// `swregistry gc`: garbage collection and retention (see `GarbageCollector`): in this process on a stopped store,
/// or inside the server that serves it, over its control socket (see `StoreCommand`). A running server also
/// collects on its own schedule (`gc.interval`).
struct GCCommand: StoreCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "Remove what no tag reaches, apply retention rules, free space.",
        discussion: """
            Removes tags that gc.retention drops, manifests no tag reaches (untagged ones only with \
            --delete-untagged or a retention rule), repository links and blobs nothing kept names, and expired \
            upload sessions; nothing changed or used within the grace period goes. Prints one line per removed \
            item and a summary. The store is the one the configuration names (storage.filesystem.rootdirectory, \
            --storage). While a server serves the store, the collection runs inside it through its control socket, \
            with the server's gc.* settings and the flags given here; the server goes on serving meanwhile.
            """
    )

    @Flag(help: "Change nothing; list what would be removed.")
    var dryRun = false
    @Flag(help: "Remove manifests no tag reaches (gc.deleteuntagged, $SWREGISTRY_GC_DELETEUNTAGGED).")
    var deleteUntagged = false
    @Option(help: "Keep what was made or used more recently than this (gc.grace, $SWREGISTRY_GC_GRACE; default 1h).")
    var grace: String?
    @OptionGroup var location: StoreLocation
    var config: String? { location.config }
    var storage: String? { location.storage }

    /// Seconds slept after each removal, from `$SWREGISTRY_TEST_GC_PAUSE` (tests kill a collection mid-sweep).
    static let pauseVariable = "SWREGISTRY_TEST_GC_PAUSE"

    func validate() throws {
        if let grace, ConfigKey.gcGrace.duration(parsing: grace) == nil {
            throw ValidationError("--grace: \"\(grace)\" is not a duration (accepted: \(ConfigKey.gcGrace.kind.accepted))")
        }
    }

    func execute(_ context: StoreCommandContext) throws -> Int32 {
        collect(context.store, configuration: context.configuration, output: context.output, logger: context.logger)
    }

    /// Collects `store` with the configuration's `gc.*` and this command's flags. - Returns: the exit status.
    func collect(_ store: any CollectableStore, configuration: Configuration, output: any MaintenanceOutput,
                 logger: Logger) -> Int32 {
        var options = configuration.gcOptions
        options.dryRun = dryRun
        if deleteUntagged { options.deleteUntagged = true }
        if let grace, let seconds = ConfigKey.gcGrace.duration(parsing: grace) { options.graceSeconds = seconds }
        if let pause = processEnvironment()[Self.pauseVariable].flatMap(Double.init), pause > 0 {
            options.pauseAfterRemovalNanos = UInt64(pause * 1e9)
        }
        let collector = GarbageCollector(store: store, options: options, output: output, logger: logger)
        do {
            _ = try collector.run()
        } catch {
            output.line("swregistry gc: \(error)")
            return 1
        }
        return 0
    }
}
