/// How a collection runs (`swregistry gc`, `gc.*` in the configuration).
public struct GCOptions: Sendable, Equatable {
    /// Decide as usual, change nothing, list what would go.
    public var dryRun = false
    /// Untagged manifests are garbage (`--delete-untagged`, `gc.deleteuntagged`); else they are kept.
    public var deleteUntagged = false
    /// Nothing made reachable or unreachable more recently than this many seconds ago is removed (`gc.grace`).
    public var graceSeconds: Double = 3600
    /// Retention rules (`gc.retention`); for each repository the first whose patterns match applies.
    public var retention: [RetentionRule] = []
    /// Largest manifest read while marking (larger ones name nothing, and are kept if they are roots).
    public var maxManifestBytes = 4 << 20
    /// Most removals per hold of the exclusive lock: pushes wait at most one batch.
    public var batchSize = 64
    /// Time spent after each removal (tests only: `SWREGISTRY_TEST_GC_PAUSE`, to kill a collection mid-sweep).
    public var pauseAfterRemovalNanos: UInt64 = 0

    public init(dryRun: Bool = false, deleteUntagged: Bool = false, graceSeconds: Double = 3600,
                retention: [RetentionRule] = []) {
        self.dryRun = dryRun
        self.deleteUntagged = deleteUntagged
        self.graceSeconds = graceSeconds
        self.retention = retention
    }
}
