/// The PostgreSQL database that holds the metadata (`database.*`, GitLab container registry's keys), typed and
/// checked. Plain data: `swregistry` hands it to the PostgreSQL module, so this module does not depend on it.
public struct DatabaseSettings: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var user: String
    /// "" for none (libpq then tries `~/.pgpass`, peer or trust authentication).
    public var password: String
    public var dbname: String
    /// One of `sslModes`.
    public var sslmode: String
    /// Longest wait for a connection to open, in whole seconds (libpq's `connect_timeout`).
    public var connectTimeoutSeconds: Int
    /// Connections open at most, and idle ones kept, per replica.
    public var maxOpen: Int
    public var maxIdle: Int
    /// A connection older than this is closed instead of going back to the pool; 0 = no limit.
    public var maxLifetimeSeconds: Int
    /// The server's `statement_timeout` for the registry's sessions; the registry waits 5 s more for an answer,
    /// then takes the server for gone (see `PGConnectionSettings.answerTimeout`).
    public var statementTimeoutSeconds: Double

    public init(host: String, port: Int, user: String, password: String, dbname: String, sslmode: String,
                connectTimeoutSeconds: Int, maxOpen: Int, maxIdle: Int, maxLifetimeSeconds: Int,
                statementTimeoutSeconds: Double = 30) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.dbname = dbname
        self.sslmode = sslmode
        self.connectTimeoutSeconds = connectTimeoutSeconds
        self.maxOpen = maxOpen
        self.maxIdle = maxIdle
        self.maxLifetimeSeconds = maxLifetimeSeconds
        self.statementTimeoutSeconds = statementTimeoutSeconds
    }

    /// libpq's `sslmode` values.
    public static let sslModes = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
}
