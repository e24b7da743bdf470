/// How to reach PostgreSQL: libpq connection keywords, plus the session settings every connection of the registry
/// starts with.
///
/// The `database.*` configuration keys (GitLab container registry's names: `host`, `port`, `user`, `password`,
/// `dbname`, `sslmode`, `connecttimeout`, `sslcert`, `sslkey`, `sslrootcert`) map one to one onto libpq keywords;
/// a conninfo string (`host=… dbname=…` or a `postgresql://` URI) may be given instead and overrides them.
public struct PGConnectionSettings: Sendable, Equatable {
    public var host: String?
    public var port: Int?
    public var user: String?
    public var password: String?
    public var dbname: String?
    /// libpq's `sslmode`: disable, allow, prefer (libpq's default), require, verify-ca, verify-full.
    public var sslmode: String?
    public var sslcert: String?
    public var sslkey: String?
    public var sslrootcert: String?
    /// A conninfo string or URI; its keywords win over the fields above.
    public var conninfo: String?
    /// Bound on establishing a connection, so that a pool never waits without end for a database that is down
    /// (libpq's own default is to wait forever). Whole seconds; libpq rounds values below 2 up to 2.
    public var connectTimeout: Duration = .seconds(5)
    /// `statement_timeout` for every statement of these connections; nil leaves the server's setting.
    public var statementTimeout: Duration? = .seconds(30)
    /// How much longer than `statementTimeout` the client waits for a statement's answer before it gives the
    /// connection up (see `answerTimeout`).
    public static let answerMargin: Duration = .seconds(5)
    /// `lock_timeout`: a statement waiting this long for a row or table lock fails with 55P03 instead of queueing on.
    public var lockTimeout: Duration? = .seconds(10)
    /// `idle_in_transaction_session_timeout`: the server ends a session that holds a transaction open and idle this
    /// long (a replica stopped with SIGSTOP, say), releasing its locks.
    public var idleInTransactionTimeout: Duration? = .seconds(60)
    /// TCP keepalives and `tcp_user_timeout`, so that a peer that vanished without a FIN (cable pulled, host frozen)
    /// is noticed in about this long instead of the kernel's two hours.
    public var keepaliveIdle: Duration = .seconds(10)
    public var tcpUserTimeout: Duration = .seconds(20)
    public var applicationName = "swregistry"
    var dbnameOverride: String?

    public init() {}

    public init(conninfo: String) {
        self.conninfo = conninfo
    }

    public init(host: String?, port: Int? = nil, user: String? = nil, password: String? = nil, dbname: String? = nil,
                sslmode: String? = nil) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.dbname = dbname
        self.sslmode = sslmode
    }

    /// The keyword/value pairs of the fields for `PQconnectdbParams`. libpq keeps the last value of a repeated
    /// keyword: `PGConnection` appends the parsed conninfo after these, then `dbnameOverride`.
    var keywords: [(String, String)] {
        var pairs: [(String, String)] = []
        func add(_ key: String, _ value: String?) {
            if let value, !value.isEmpty { pairs.append((key, value)) }
        }
        add("host", host)
        add("port", port.map(String.init))
        add("user", user)
        add("password", password)
        add("dbname", dbname)
        add("sslmode", sslmode)
        add("sslcert", sslcert)
        add("sslkey", sslkey)
        add("sslrootcert", sslrootcert)
        add("connect_timeout", String(max(1, connectTimeout.components.seconds)))
        add("application_name", applicationName)
        add("keepalives", "1")
        add("keepalives_idle", String(max(1, keepaliveIdle.components.seconds)))
        add("keepalives_interval", String(max(1, keepaliveIdle.components.seconds / 3)))
        add("keepalives_count", "3")
        add("tcp_user_timeout", String(Self.milliseconds(tcpUserTimeout)))
        var options: [String] = []
        if let statementTimeout { options.append("-c statement_timeout=\(Self.milliseconds(statementTimeout))") }
        if let lockTimeout { options.append("-c lock_timeout=\(Self.milliseconds(lockTimeout))") }
        if let idleInTransactionTimeout {
            options.append("-c idle_in_transaction_session_timeout=\(Self.milliseconds(idleInTransactionTimeout))")
        }
        add("options", options.joined(separator: " "))
        return pairs
    }

    /// The longest the client waits for the answer to one statement: `statementTimeout` plus `answerMargin`, so
    /// that a server that is alive always answers first (with 57014 when the statement ran too long). Past it the
    /// server is not answering at all — stopped (SIGSTOP, a frozen VM), or a network that swallows the traffic
    /// while the kernel still acknowledges it (a proxy, a half-open connection through NAT) — and the connection
    /// is given up: neither keepalives nor `tcp_user_timeout` see that, so without this bound a request (and the
    /// pool thread running it) would wait as long as the server stays away. nil when `statementTimeout` is nil.
    public var answerTimeout: Duration? { statementTimeout.map { $0 + Self.answerMargin } }

    static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return max(0, seconds) * 1000 + max(0, attoseconds) / 1_000_000_000_000_000
    }

    /// These settings with another database name, winning over the conninfo's (tests connect to a fresh database
    /// beside the configured one).
    public func with(dbname: String) -> PGConnectionSettings {
        var copy = self
        copy.dbname = dbname
        copy.dbnameOverride = dbname
        return copy
    }
}
