import ArgumentParser
import HTTPServer
import Registry
import RegistryConfig
import SystemIO

/// `swregistry config check|print`.
struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Check or print the configuration.",
        subcommands: [Check.self, Print.self]
    )

    /// `swregistry config check [FILE]`: exit 0 and "ok", or every error (key, source, what is accepted) and exit 1.
    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a configuration file with the SWREGISTRY_* environment, as serve would read it."
        )

        @Argument(help: "The YAML file; default $SWREGISTRY_CONFIG.")
        var file: String?

        func run() throws {
            let configuration = try ConfigurationSource(file: file).loadOrExit()
            do {
                var server = try configuration.serverConfiguration()
                var registry = configuration.registryConfiguration()
                try Serve.installSecurity(configuration, server: &server, registry: &registry, checkOnly: true)
            } catch {
                throw Serve.configurationFailure(error)
            }
            print("ok")
        }
    }

    /// `swregistry config print [--config FILE]`: the effective configuration with each value's source.
    struct Print: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the effective configuration (file, SWREGISTRY_* environment, defaults) with each value's source; secrets redacted."
        )

        @Option(help: "YAML configuration file ($SWREGISTRY_CONFIG).")
        var config: String?

        func run() throws {
            print(try ConfigurationSource(file: config).loadOrExit().rendered(), terminator: "")
        }
    }
}
