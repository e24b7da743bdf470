import ArgumentParser
import BlobStore
import Logging
import RegistryConfig
import StoreMaintenance

/// A command that works on the store (`verify`, `du`, `gc`): it runs in this process on a stopped store, or inside
/// the server that holds the store, over its control socket (see `StoreCommandRunner`, `ControlSocket`). Its
/// `run()` is the runner's; it implements `execute` and reports through the context's output only.
protocol StoreCommand: ParsableCommand {
    /// `--config FILE`: where the store is (`storage.filesystem.rootdirectory`) and the settings of a local run.
    /// Not sent to a server, which runs the command with its own configuration.
    var config: String? { get }
    /// `--storage DIR`, when the command offers it: the store's folder, over the configuration's.
    var storage: String? { get }
    /// Does the work against `context.store` and reports through `context.output`.
    /// - Returns: the exit status.
    /// - Throws: when the command could not run at all (reported as an error, exit 2).
    func execute(_ context: StoreCommandContext) throws -> Int32
}

/// `--config` and `--storage`, which every store command takes to find the store (see `StoreCommand`).
struct StoreLocation: ParsableArguments {
    @Option(help: "YAML configuration file ($SWREGISTRY_CONFIG): where the store is.")
    var config: String?

    @Option(help: "The store's folder (storage.filesystem.rootdirectory, $SWREGISTRY_STORAGE).")
    var storage: String?
}

extension StoreCommand {
    var storage: String? { nil }

    func run() throws {
        let status = StoreCommandRunner.run(self)
        if status != 0 { throw ExitCode(status) }
    }
}

/// What a store command runs with.
struct StoreCommandContext: Sendable {
    /// The open store: the server's own `BlobStore` (its caches included) inside the server.
    let store: BlobStore
    /// The configuration the store was opened with: inside the server, the server's.
    let configuration: Configuration
    /// Where the report goes: standard output, or the control socket back to the CLI.
    let output: any MaintenanceOutput
    /// Whether the command runs inside the live server (which serves while it runs).
    let insideServer: Bool
    /// True once the command should stop early: the client of a server-side run went away, or the server is
    /// stopping. Long commands ask it between units of work.
    let isCancelled: @Sendable () -> Bool
    let logger: Logger
}

/// The store commands a server runs for the CLI, by command name. Nothing else can be run over the socket.
enum StoreCommands {
    static var all: [any StoreCommand.Type] { [GCCommand.self, VerifyCommand.self, DUCommand.self] }

    static func named(_ name: String) -> (any StoreCommand.Type)? {
        all.first { $0._commandName == name }
    }
}
