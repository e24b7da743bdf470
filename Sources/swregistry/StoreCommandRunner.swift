import ArgumentParser
import BlobStore
import Glibc
import Logging
import RegistryConfig
import StoreMaintenance
import SystemIO

/// Runs a store command where the store is: here, when no server holds the store (this process takes the store's
/// lock for the run, so no server starts meanwhile), or inside the server that holds it, through the control socket
/// in the store's folder; the server then runs the same command line (without `--config` and `--storage`) with its
/// own configuration and open store, and its report comes back here line by line.
enum StoreCommandRunner {
    /// - Parameter arguments: this process's command line, to forward to a server.
    /// - Returns: the exit status: the command's, or 2 when it could not run.
    static func run(_ command: some StoreCommand, arguments: [String] = CommandLine.arguments) -> Int32 {
        let name = type(of: command)._commandName
        let flags = command.storage.map { [(name: ConfigKey.storageRoot.flag!, value: $0)] } ?? []
        let configuration: Configuration
        do {
            configuration = try ConfigurationSource(file: command.config, flags: flags).load()
        } catch {
            for problem in error.errors { printError("swregistry: \(problem)") }
            return 2
        }
        if case .scaleOut = configuration.storageBackend {
            return runOnSharedStorage(command, configuration)
        }
        let layout = Layout(root: configuration.storagePath)
        // Only a folder that is a store: opening one would create the store's folders (and take a lock) anywhere.
        guard FileSystem.isDirectory(layout.blobsDirectory) && FileSystem.isDirectory(layout.repositoriesDirectory) else {
            printError("swregistry \(name): there is no store under \(layout.root) (storage.filesystem.rootdirectory)")
            return 2
        }
        let lock: StoreLock
        do {
            lock = try StoreLock(layout: layout)
        } catch {
            // A switch, not `catch .held`: pattern catches over typed errors have hung this compiler.
            switch error {
            case .held(_, let pid): return delegate(name, arguments: arguments, layout: layout, holder: pid)
            case .io: break
            }
            printError("swregistry \(name): \(error)")
            return 2
        }
        return withExtendedLifetime(lock) { runHere(command, configuration) }
    }

    /// Runs the command in this process, which holds the store's lock.
    private static func runHere(_ command: some StoreCommand, _ configuration: Configuration) -> Int32 {
        let name = type(of: command)._commandName
        let store: BlobStore
        do {
            store = try BlobStore(root: configuration.storagePath,
                                  uploadLimits: configuration.registryConfiguration().uploadLimits)
        } catch {
            printError("swregistry \(name): cannot open the store under \(configuration.storagePath): \(error)")
            return 2
        }
        let context = StoreCommandContext(store: store, configuration: configuration, output: StandardOutput(),
                                          insideServer: false, isCancelled: { false },
                                          logger: Logger(label: "swregistry.\(name)"))
        do {
            return try command.execute(context)
        } catch {
            printError("swregistry \(name): \(describeStoreCommandError(error))")
            return 2
        }
    }

    /// Runs the command against S3 + PostgreSQL, from this process: replicas have no control socket, and need
    /// none, since the database keeps a collection apart from every replica's writes (`MetadataStore.exclusively`).
    /// Only `gc` works there: `verify` and `du` read the filesystem store's tree.
    private static func runOnSharedStorage(_ command: some StoreCommand, _ configuration: Configuration) -> Int32 {
        let name = type(of: command)._commandName
        guard let gc = command as? GCCommand else {
            printError("swregistry \(name): works on the filesystem store only (the configuration names S3 + PostgreSQL)")
            return 2
        }
        let logger = Logger(label: "swregistry.\(name)")
        let storage: any RegistryStorage
        do {
            storage = try makeStorage(configuration, registry: configuration.registryConfiguration(), logger: logger)
        } catch {
            printError("swregistry \(name): cannot open the storage: \(describeStoreCommandError(error))")
            return 2
        }
        guard let collectable = storage as? any CollectableStore else {
            printError("swregistry \(name): this storage cannot be collected")
            return 2
        }
        return gc.collect(collectable, configuration: configuration, output: StandardOutput(), logger: logger)
    }

    /// Has the server that holds the store run the command.
    private static func delegate(_ name: String, arguments: [String], layout: Layout, holder pid: Int32?) -> Int32 {
        let forwarded = forwardedArguments(arguments, commandName: name)
        do {
            return try ControlSocketClient.run(forwarded, socket: layout.controlSocket, output: StandardOutput())
        } catch {
            let holder = pid.map { "pid \($0)" } ?? "a process"
            printError("swregistry \(name): the store under \(layout.root) is in use by \(holder), and its control "
                + "socket cannot be used: \(error)")
            return 2
        }
    }

    /// The command line a server runs: from the command's name on, without the options that locate the store
    /// (`--config`, `--storage`: the server's configuration applies), up to a `--`, after which nothing is an option.
    static func forwardedArguments(_ arguments: [String], commandName: String) -> [String] {
        let tail = arguments.dropFirst()
        guard let start = tail.firstIndex(of: commandName) else { return [commandName] }
        var result = [commandName]
        var rest = tail[tail.index(after: start)...]
        let local = ["--config", "--storage"]
        while let argument = rest.popFirst() {
            if argument == "--" {
                result.append(argument)
                result.append(contentsOf: rest)
                break
            }
            if local.contains(argument) {
                _ = rest.popFirst()
                continue
            }
            if local.contains(where: { argument.hasPrefix($0 + "=") }) { continue }
            result.append(argument)
        }
        return result
    }
}

/// An error of a store command, in words (the store's errors print as their case names otherwise).
func describeStoreCommandError(_ error: any Error) -> String {
    guard let error = error as? StoreError else { return "\(error)" }
    switch error {
    case .nameUnknown(let name): return "no repository named \(name) in the store"
    case .io(let systemError): return "\(systemError)"
    default: return "\(error)"
    }
}
