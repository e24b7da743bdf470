import Glibc
import OCIModel

/// What `swregistry verify` checks and whether it repairs.
public struct VerifyOptions: Sendable {
    /// Quarantine damaged blobs and remove dangling links, tags and referrer entries.
    public var repair: Bool
    /// The repositories to check, with only the blobs they link; empty: every repository and every blob.
    public var repositories: [RepositoryName]
    /// Manifests larger than this are reported as damaged (the registry accepts none larger).
    public var maxManifestBytes: Int
    /// Blobs hashed at once. Hashing is mostly bound by the disk; a few readers keep a disk array busy without
    /// taking every core from a server that serves at the same time.
    public var jobs: Int
    /// Asked between units of work; true stops the run (the client of a server-side run went away).
    public var shouldStop: @Sendable () -> Bool

    public init(repair: Bool = false, repositories: [RepositoryName] = [], maxManifestBytes: Int = 4 << 20,
                jobs: Int = VerifyOptions.defaultJobs, shouldStop: @escaping @Sendable () -> Bool = { false }) {
        self.repair = repair
        self.repositories = repositories
        self.maxManifestBytes = maxManifestBytes
        self.jobs = max(1, jobs)
        self.shouldStop = shouldStop
    }

    /// Half the online processors, between 1 and 4.
    public static var defaultJobs: Int {
        min(4, max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)) / 2))
    }
}
