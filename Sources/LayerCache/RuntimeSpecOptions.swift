/// The caller's overrides of what an image config says (conversion.md: "externally provided inputs").
public struct RuntimeSpecOptions: Sendable, Equatable {
    /// Replaces the image's `Cmd` (the arguments after the entrypoint).
    public var command: [String]?
    /// Replaces the image's `Entrypoint`; an empty array removes it.
    public var entrypoint: [String]?
    /// `NAME=value` entries added to the image's environment, replacing entries with the same name.
    public var environment: [String]
    /// Replaces `WorkingDir`.
    public var workingDirectory: String?
    /// Replaces `User` (same syntax: `user`, `uid`, `user:group`, …).
    public var user: String?
    /// The container's hostname; by default the first 12 hex digits of the manifest digest, as Docker names
    /// containers.
    public var hostname: String?
    /// Allocate a pseudo-terminal for the process (and set `TERM=xterm` unless the image sets `TERM`).
    public var terminal: Bool
    /// Mount the rootfs read-only inside the container.
    public var readonlyRootfs: Bool
    /// Extra annotations; they win over those derived from the image.
    public var annotations: [String: String]

    public init(command: [String]? = nil, entrypoint: [String]? = nil, environment: [String] = [],
                workingDirectory: String? = nil, user: String? = nil, hostname: String? = nil, terminal: Bool = false,
                readonlyRootfs: Bool = false, annotations: [String: String] = [:])
    {
        self.command = command
        self.entrypoint = entrypoint
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.user = user
        self.hostname = hostname
        self.terminal = terminal
        self.readonlyRootfs = readonlyRootfs
        self.annotations = annotations
    }
}
