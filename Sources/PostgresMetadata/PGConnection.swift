import CPostgres
import Glibc

/// One libpq connection. Blocking: every call waits for the server, so it runs on a blocking-pool thread, never on an
/// event loop. Not for concurrent use: one thread at a time (the pool hands each connection to one caller).
public final class PGConnection: @unchecked Sendable {
    let handle: OpaquePointer
    /// When the connection was opened (the pool retires connections older than its `maxLifetime`).
    public let openedAt: ContinuousClock.Instant
    /// When the connection was last given back to the pool.
    var idleSince: ContinuousClock.Instant
    /// The longest a statement's answer is awaited (`PGConnectionSettings.answerTimeout`); nil: without end.
    public let answerTimeout: Duration?
    /// Set when an answer did not come within `answerTimeout`: the connection's protocol state is unknown (the
    /// answer may still come), so it is never used again (`isOK` is false from then on).
    private var abandoned = false

    /// Connects, waiting at most `settings.connectTimeout`.
    /// - Throws: `PGError` of kind `.connection` with libpq's message (refused, timed out, authentication failed).
    public init(settings: PGConnectionSettings) throws(PGError) {
        var pairs = settings.keywords
        if let conninfo = settings.conninfo {
            pairs += try Self.parse(conninfo: conninfo)
        }
        if let dbname = settings.dbnameOverride { pairs.append(("dbname", dbname)) }
        let connection = Self.connect(pairs)
        guard let connection else { throw PGError(.connection, message: "out of memory connecting") }
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = Self.trimmed(PQerrorMessage(connection))
            PQfinish(connection)
            throw PGError(.connection, message: message)
        }
        handle = connection
        answerTimeout = settings.answerTimeout
        openedAt = .now
        idleSince = openedAt
        // Server notices (WARNING, NOTICE) go to stderr by default; the registry's log is not stderr's business.
        PQsetNoticeProcessor(handle, { _, _ in }, nil)
    }

    /// Connects with a conninfo string (`host=… port=… dbname=…`) or a `postgresql://` URI.
    public convenience init(conninfo: String) throws(PGError) {
        try self.init(settings: PGConnectionSettings(conninfo: conninfo))
    }

    deinit {
        PQfinish(handle)
    }

    private static func connect(_ pairs: [(String, String)]) -> OpaquePointer? {
        let keys = pairs.map { strdup($0.0) } + [nil]
        let values = pairs.map { strdup($0.1) } + [nil]
        defer {
            for pointer in keys { free(pointer) }
            for pointer in values { free(pointer) }
        }
        return keys.map { UnsafePointer($0) }.withUnsafeBufferPointer { k in
            values.map { UnsafePointer($0) }.withUnsafeBufferPointer { v in
                PQconnectdbParams(k.baseAddress, v.baseAddress, 0)
            }
        }
    }

    /// The keywords of a conninfo string or URI (`PQconninfoParse`), so that they can follow the settings' own.
    private static func parse(conninfo: String) throws(PGError) -> [(String, String)] {
        var error: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(conninfo, &error) else {
            let message = error.map { Self.trimmed($0) } ?? "invalid connection string"
            if let error { PQfreemem(error) }
            throw PGError(.connection, message: message)
        }
        defer { PQconninfoFree(options) }
        var pairs: [(String, String)] = []
        var option = options
        while let keyword = option.pointee.keyword {
            if let value = option.pointee.val { pairs.append((String(cString: keyword), String(cString: value))) }
            option += 1
        }
        return pairs
    }

    static func trimmed(_ message: UnsafePointer<CChar>?) -> String {
        guard let message else { return "unknown error" }
        var text = String(cString: message)
        while text.last?.isWhitespace == true { text.removeLast() }
        return text
    }

    /// The socket (for `poll`), -1 when there is none.
    public var socket: Int32 { PQsocket(handle) }

    /// The server's process id (for `pg_terminate_backend` in tests, and for logs).
    public var backendPID: Int32 { PQbackendPID(handle) }

    /// False once libpq has seen the connection break.
    public var isOK: Bool { !abandoned && PQstatus(handle) == CONNECTION_OK }

    /// True when the connection is usable for a new statement: open, not inside a transaction, and the server has not
    /// closed it meanwhile. A server that ended the session (restart, `pg_terminate_backend`, idle timeout) has sent
    /// a FATAL message and closed the socket; reading what is pending sees that without a round trip.
    public func checkIdle() -> Bool {
        guard isOK else { return false }
        var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
        // Each PQconsumeInput reads what one recv returns: the first may take the FATAL message, the next the EOF.
        var rounds = 0
        while rounds < 4, poll(&descriptor, 1, 0) > 0 {
            if PQconsumeInput(handle) == 0 { return false }
            rounds += 1
        }
        return isOK && PQtransactionStatus(handle) == PQTRANS_IDLE
    }

    // MARK: Statements

    /// Runs one statement with parameters (`PQexecParams`): `$1`, `$2`… are bound from `parameters`, text ones in
    /// text format, `.bytes` ones in binary as `bytea` (no escaping, no hex).
    /// - Parameters:
    ///   - binaryResult: results in binary format (the default): `bytea` arrives as stored, integers and timestamps
    ///     need no parsing.
    /// - Throws: `PGError`: `.server` with the SQLSTATE, or `.connection` when the connection broke.
    ///   - answerWithin: the longest the answer is awaited, instead of `answerTimeout` (a heartbeat's).
    @discardableResult
    public func query(_ sql: String, _ parameters: [PGValue] = [], binaryResult: Bool = true,
                      answerWithin: Duration? = nil) throws(PGError) -> PGResult
    {
        let count = parameters.count
        var values = [UnsafePointer<CChar>?](repeating: nil, count: count)
        var lengths = [Int32](repeating: 0, count: count)
        var formats = [Int32](repeating: 0, count: count)
        var types = [Oid](repeating: 0, count: count)
        var owned: [UnsafeMutableRawPointer] = []
        defer { for pointer in owned { pointer.deallocate() } }
        for (index, parameter) in parameters.enumerated() {
            switch parameter {
            case .null:
                break
            case .text(let text):
                let utf8 = Array(text.utf8CString)
                let buffer = UnsafeMutableRawPointer.allocate(byteCount: utf8.count, alignment: 1)
                utf8.withUnsafeBytes { buffer.copyMemory(from: $0.baseAddress!, byteCount: utf8.count) }
                owned.append(buffer)
                values[index] = UnsafePointer(buffer.assumingMemoryBound(to: CChar.self))
            case .bytes(let bytes):
                let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(1, bytes.count), alignment: 1)
                bytes.withUnsafeBytes { if let base = $0.baseAddress { buffer.copyMemory(from: base, byteCount: bytes.count) } }
                owned.append(buffer)
                values[index] = UnsafePointer(buffer.assumingMemoryBound(to: CChar.self))
                lengths[index] = Int32(bytes.count)
                formats[index] = 1
                types[index] = PGType.bytea
            }
        }
        guard !abandoned else { throw PGError(.connection, message: "connection given up after an unanswered statement") }
        // PQsendQueryParams, then the answer awaited with a deadline (`awaitResult`), rather than PQexecParams,
        // which waits without end for a server that does not answer.
        guard PQsendQueryParams(handle, sql, Int32(count), types, values, lengths, formats, binaryResult ? 1 : 0) == 1
        else {
            throw PGError(isOK ? .server : .connection, message: Self.trimmed(PQerrorMessage(handle)))
        }
        return try check(try awaitResult(sql, within: answerWithin ?? answerTimeout))
    }

    /// Waits for the answer to the statement just sent, at most `answerTimeout`, and returns its result as
    /// PQexecParams would (the first error, else the last result; nil when the connection broke without one).
    /// - Throws: `.connection` when no answer came in time: the connection is then abandoned (shut down, so that
    ///   libpq sees it broken and the pool closes it) — the statement may still run, or have run, on the server;
    ///   a transaction it was part of is rolled back by the server when the connection's end reaches it.
    private func awaitResult(_ sql: String, within answerTimeout: Duration?) throws(PGError) -> OpaquePointer? {
        let deadline = answerTimeout.map { ContinuousClock.now + $0 }
        var kept: OpaquePointer?
        while true {
            while PQisBusy(handle) == 1 {
                do throws(PGError) { try waitReadable(until: deadline, sql) } catch {
                    if let kept { PQclear(kept) }
                    throw error
                }
                if PQconsumeInput(handle) == 0 { break }  // broken: PQgetResult now reports it
            }
            guard let result = PQgetResult(handle) else { return kept }
            if let previous = kept {
                if PQresultStatus(previous) == PGRES_FATAL_ERROR {
                    PQclear(result)
                    continue
                }
                PQclear(previous)
            }
            kept = result
            // A connection that broke may not end the result sequence: nothing more will come.
            if PQstatus(handle) != CONNECTION_OK { return kept }
        }
    }

    /// Polls the socket for input until `deadline` (nil: without end).
    private func waitReadable(until deadline: ContinuousClock.Instant?, _ sql: String) throws(PGError) {
        var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
        while true {
            var milliseconds: Int32 = -1
            if let deadline {
                let left = deadline - ContinuousClock.now
                if left <= .zero { break }
                milliseconds = Int32(clamping: max(1, PGConnectionSettings.milliseconds(left)))
            }
            let ready = poll(&descriptor, 1, milliseconds)
            if ready > 0 { return }
            if ready < 0 && errno != EINTR {
                throw PGError(.connection, message: "poll: errno \(errno)")
            }
            if ready == 0 && deadline != nil && ContinuousClock.now >= deadline! { break }
        }
        abandon()
        let statement = sql.split(separator: " ", maxSplits: 1).first.map(String.init) ?? sql
        throw PGError(.connection, message:
            "no answer from the server within \(answerTimeout!) (\(statement)); connection given up")
    }

    /// Gives the connection up: shut down, so that nothing more is read or sent on it and libpq sees it broken.
    private func abandon() {
        abandoned = true
        if socket >= 0 { _ = shutdown(socket, Int32(SHUT_RDWR)) }
    }

    /// Runs one or more statements separated by `;` with the simple query protocol (`PQexec`), for migrations.
    @discardableResult
    public func execute(script sql: String) throws(PGError) -> PGResult {
        try check(PQexec(handle, sql))
    }

    private func check(_ raw: OpaquePointer?) throws(PGError) -> PGResult {
        guard let raw else {
            throw PGError(.connection, message: Self.trimmed(PQerrorMessage(handle)))
        }
        let result = PGResult(raw)
        switch PQresultStatus(raw) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            return result
        default:
            let sqlState = swpq_sqlstate(raw).map { String(cString: $0) }
            let primary = swpq_primary_message(raw).map { String(cString: $0) }
            let detail = swpq_detail(raw).map { String(cString: $0) }
            let message = primary ?? Self.trimmed(PQresultErrorMessage(raw))
            // A lost connection shows as a result without SQLSTATE ("server closed the connection unexpectedly").
            let kind: PGError.Kind = (sqlState == nil && !isOK) ? .connection : .server
            throw PGError(kind, sqlState: sqlState, message: message, detail: detail)
        }
    }

    // MARK: Transactions

    public enum Isolation: String, Sendable {
        case readCommitted = "READ COMMITTED"
        case repeatableRead = "REPEATABLE READ"
        case serializable = "SERIALIZABLE"
    }

    /// Runs `body` inside `BEGIN … COMMIT`, rolling back when it throws, and running it again (after a short random
    /// pause) when PostgreSQL aborted the transaction as the loser of a race: serialization failure (40001) or
    /// deadlock (40P01), at most `attempts` times in all. `body` must therefore do nothing but database work.
    /// - Throws: what `body` threw, or `PGError` (a COMMIT that the server turned into a ROLLBACK is an error too).
    @discardableResult
    public func transaction<T>(_ isolation: Isolation = .readCommitted, attempts: Int = 8,
                               _ body: (PGConnection) throws -> T) throws -> T {
        var attempt = 1
        while true {
            do {
                try query("BEGIN ISOLATION LEVEL \(isolation.rawValue)")
                let value = try body(self)
                let commit = try query("COMMIT")
                // COMMIT in a transaction that already failed (an error `body` caught) ends it with ROLLBACK and
                // no error: that must not look like success.
                guard commit.commandTag == "COMMIT" else {
                    throw PGError(.server, message: "transaction was rolled back (a statement inside it failed)")
                }
                return value
            } catch {
                if isOK && PQtransactionStatus(handle) != PQTRANS_IDLE { _ = try? query("ROLLBACK") }
                guard let failure = error as? PGError, failure.isRetryableTransactionFailure, attempt < attempts else {
                    throw error
                }
                attempt += 1
                // Jitter keeps two losers from colliding again in lockstep.
                usleep(UInt32.random(in: 1_000...5_000) * UInt32(min(attempt, 8)))
            }
        }
    }

    // MARK: Notifications

    /// Reads what the server has sent (`PQconsumeInput`). - Throws: `.connection` when the connection broke.
    func consumeInput() throws(PGError) {
        if PQconsumeInput(handle) == 0 || !isOK {
            throw PGError(.connection, message: Self.trimmed(PQerrorMessage(handle)))
        }
    }

    /// The next notification received, if any (`PQnotifies`): its channel and payload.
    func nextNotification() -> (channel: String, payload: String)? {
        guard let notify = PQnotifies(handle) else { return nil }
        defer { PQfreemem(notify) }
        return (String(cString: notify.pointee.relname), String(cString: notify.pointee.extra))
    }

    /// `name` as a quoted SQL identifier (`PQescapeIdentifier`), for LISTEN and NOTIFY, which take no parameters.
    public func quotedIdentifier(_ name: String) throws(PGError) -> String {
        let utf8 = Array(name.utf8)
        guard let escaped = PQescapeIdentifier(handle, name, utf8.count) else {
            throw PGError(.connection, message: Self.trimmed(PQerrorMessage(handle)))
        }
        defer { PQfreemem(escaped) }
        return String(cString: escaped)
    }
}
