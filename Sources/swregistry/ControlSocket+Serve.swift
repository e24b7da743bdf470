import Logging
import Registry
import RegistryConfig

extension ControlSocket {
    /// The control socket of `serve`, running `StoreCommands.all` against the responder's store.
    /// - Returns: nil when it cannot be made (logged): the server serves without it, and store commands then
    ///   say they cannot reach it.
    static func startForServer(responder: RegistryResponder, configuration: Configuration,
                               logger: Logger) -> ControlSocket? {
        guard let store = responder.fileStore else { return nil }
        let path = store.layout.controlSocket
        do {
            return try ControlSocket(path: path, commands: StoreCommands.all, logger: logger) { output, isCancelled in
                StoreCommandContext(store: store, configuration: configuration, output: output,
                                    insideServer: true, isCancelled: isCancelled, logger: logger)
            }
        } catch {
            logger.error("no control socket (swregistry verify, du and gc cannot run while this server runs): \(error)")
            return nil
        }
    }
}
