import ArgumentParser

/// `swregistry`: a private OCI registry server.
@main
struct SwRegistry: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swregistry",
        abstract: "A private OCI image registry (distribution-spec v1.1).",
        discussion: "Run `swregistry serve` to start the registry with defaults: 127.0.0.1:5000, storing under ./registry-data.",
        version: "0.1.0",
        subcommands: [Serve.self],
        defaultSubcommand: Serve.self
    )
}
