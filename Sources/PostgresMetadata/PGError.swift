/// A failure talking to PostgreSQL: the server's SQLSTATE when it sent one, and its message.
///
/// Connection-level failures (refused, timed out, reset, the pool's own acquire timeout) carry no SQLSTATE from the
/// server; they are `kind == .connection` (or `.poolTimeout`) and `isConnectionFailure` is true, like SQLSTATE class
/// 08 and the shutdown codes of class 57, so callers have one test for "the database is unreachable".
public struct PGError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// The server answered with an error (see `sqlState`).
        case server
        /// Connecting failed, or the connection broke during a call.
        case connection
        /// No connection became free within the pool's acquire timeout.
        case poolTimeout
        /// The server's answer was not what the caller expected (wrong column type, bad binary value).
        case protocolViolation
    }

    public let kind: Kind
    /// The five-character SQLSTATE (`23505`), when the server sent one.
    public let sqlState: String?
    /// The server's primary message, or libpq's connection message.
    public let message: String
    /// The server's DETAIL line, if any.
    public let detail: String?

    public init(_ kind: Kind, sqlState: String? = nil, message: String, detail: String? = nil) {
        self.kind = kind
        self.sqlState = sqlState
        self.message = message
        self.detail = detail
    }

    public var description: String {
        var text = "PostgreSQL: "
        if let sqlState { text += "[\(sqlState)] " }
        text += message
        if let detail { text += " (\(detail))" }
        return text
    }

    // SQLSTATE values the metadata store reacts to (PostgreSQL documentation, appendix A).
    public static let uniqueViolation = "23505"
    public static let foreignKeyViolation = "23503"
    public static let serializationFailure = "40001"
    public static let deadlockDetected = "40P01"
    public static let queryCanceled = "57014"  // statement_timeout
    public static let lockNotAvailable = "55P03"  // lock_timeout, NOWAIT
    public static let adminShutdown = "57P01"
    public static let crashShutdown = "57P02"
    public static let cannotConnectNow = "57P03"

    public var isUniqueViolation: Bool { sqlState == Self.uniqueViolation }

    /// A transaction that lost a race and may simply be run again (40001, 40P01).
    public var isRetryableTransactionFailure: Bool {
        sqlState == Self.serializationFailure || sqlState == Self.deadlockDetected
    }

    /// The database is unreachable or going away: class 08 (connection exception), the 57P0x shutdown codes, or a
    /// failure libpq saw on the socket itself.
    public var isConnectionFailure: Bool {
        switch kind {
        case .connection, .poolTimeout: return true
        case .server:
            guard let sqlState else { return false }
            return sqlState.hasPrefix("08") || [Self.adminShutdown, Self.crashShutdown, Self.cannotConnectNow]
                .contains(sqlState)
        case .protocolViolation: return false
        }
    }
}
