import ArgumentParser

/// `swcopy`: copies container images between registries and local layouts, and prepares them for a runtime.
@main
struct SwCopy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swcopy",
        abstract: "Copy, inspect and unpack OCI container images.",
        discussion: """
            swcopy moves images between registries (docker://host/name:tag) and local layouts \
            (oci:DIR[:ref], dir:PATH, oci-archive:FILE[:ref]). Every blob is verified against its digest; \
            broken transfers are resumed.
            """,
        version: "0.1.0",
        subcommands: [
            CopyCommand.self, InspectCommand.self, ListTagsCommand.self, DeleteCommand.self, SyncCommand.self,
            LoginCommand.self, LogoutCommand.self, PrepareCommand.self, CacheCommand.self, AppendCommand.self,
        ]
    )
}
