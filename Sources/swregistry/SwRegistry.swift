import ArgumentParser
import RegistryConfig

/// `swregistry`: a private OCI registry server.
@main
struct SwRegistry: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swregistry",
        abstract: "A private OCI image registry (distribution-spec v1.1).",
        discussion: """
            Run `swregistry serve` to start the registry with defaults: \(ConfigKey.httpAddr.defaultValue!), storing \
            under \(ConfigKey.storageRoot.defaultValue!). `swregistry config print` shows every setting and its source.
            """,
        version: "0.1.0",
        subcommands: [Serve.self, ConfigCommand.self, GCCommand.self, VerifyCommand.self, DUCommand.self,
                      MigrateCommand.self, ImportCommand.self],
        defaultSubcommand: Serve.self
    )
}
