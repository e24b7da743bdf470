/// Versioned schema migrations, recorded in `schema_migrations` and applied once each, whatever the number of
/// replicas starting at the same moment.
///
/// Each migration runs in its own transaction together with the row recording it, so a crash leaves it either wholly
/// applied and recorded or not at all. The whole run holds a session-level `pg_advisory_lock` on one key: a second
/// replica blocks until the first has finished, then finds every version recorded and applies nothing. (PostgreSQL
/// DDL is transactional, so a migration may create tables and indexes and fill them in one step.)
public struct PGMigrations: Sendable {
    public struct Migration: Sendable {
        public let version: Int
        public let name: String
        /// One or more statements separated by `;`.
        public let sql: String

        public init(version: Int, name: String, sql: String) {
            self.version = version
            self.name = name
            self.sql = sql
        }
    }

    /// What `apply` found and did.
    public struct Outcome: Sendable, Equatable {
        /// Versions this run applied, in order.
        public var applied: [Int]
        /// Versions recorded in the database that this program does not know: a newer replica migrated ahead.
        public var unknown: [Int]

        public init(applied: [Int], unknown: [Int]) {
            self.applied = applied
            self.unknown = unknown
        }
    }

    public let migrations: [Migration]
    /// The advisory lock key: any 64-bit number the application reserves for this purpose.
    public let lockKey: Int64

    public init(_ migrations: [Migration], lockKey: Int64) {
        precondition(Set(migrations.map(\.version)).count == migrations.count, "duplicate migration version")
        self.migrations = migrations.sorted { $0.version < $1.version }
        self.lockKey = lockKey
    }

    /// Applies the migrations the database has not recorded yet, in version order.
    /// - Throws: `PGError`; a failed migration is rolled back and the ones after it are not tried.
    @discardableResult
    public func apply(on connection: PGConnection) throws -> Outcome {
        // Session-level: held across the transactions below, released by the unlock (or by the session's end if
        // this process dies). Waits for a replica that is migrating now.
        try connection.query("SELECT pg_advisory_lock($1)", [.int(lockKey)])
        defer { _ = try? connection.query("SELECT pg_advisory_unlock($1)", [.int(lockKey)]) }
        try connection.execute(script: """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version bigint PRIMARY KEY,
                name text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """)
        let recorded = Set(try connection.query("SELECT version FROM schema_migrations").rows.map {
            row throws(PGError) in try row.required(row.int, 0)
        })
        var outcome = Outcome(applied: [], unknown: recorded.subtracting(migrations.map { Int64($0.version) })
            .map { Int($0) }.sorted())
        for migration in migrations where !recorded.contains(Int64(migration.version)) {
            try connection.transaction { connection in
                try connection.execute(script: migration.sql)
                try connection.query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                                     [.int(migration.version), .text(migration.name)])
            }
            outcome.applied.append(migration.version)
        }
        return outcome
    }

    /// Applies them on a connection of `pool`.
    @discardableResult
    public func apply(on pool: PGPool) throws -> Outcome {
        try pool.withConnection { connection in try apply(on: connection) }
    }

    /// The versions recorded in the database, without applying anything (for `swregistry migrate --status`).
    public func recordedVersions(on connection: PGConnection) throws -> [Int] {
        let exists = try connection.query("SELECT to_regclass('schema_migrations') IS NOT NULL")
        guard try exists.first?.bool(0) == true else { return [] }
        return try connection.query("SELECT version FROM schema_migrations ORDER BY version").rows.map {
            row throws(PGError) in Int(try row.required(row.int, 0))
        }
    }
}
