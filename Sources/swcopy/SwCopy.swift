import ArgumentParser

/// `swcopy`: copies container images between registries and local layouts.
@main
struct SwCopy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swcopy",
        abstract: "Copy, inspect and unpack OCI container images.",
        discussion: """
            swcopy moves images between registries (docker://host/name:tag) and local layouts \
            (oci:DIR, dir:PATH, oci-archive:FILE). Every blob is verified against its digest.
            """,
        version: "0.1.0",
        subcommands: []
    )
}
