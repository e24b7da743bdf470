import Foundation
import PostgresMetadata
import Testing
import TestSupport

@Suite(.offCooperativePool, .enabled(if: TestPostgres.enabled), .serialized)
struct PGConnectionTests {
    @Test func connectsFromSettingsFieldsAndFromConninfo() throws {
        try withTestDatabase { database in
            let fromConninfo = try database.connect()
            #expect(try fromConninfo.query("SELECT current_database()").first?.string(0) == database.name)

            // The `database.*` fields, as the configuration gives them.
            var fields = PGConnectionSettings(host: "127.0.0.1", port: 55432, user: "swregistry",
                                              password: "swregistry", dbname: database.name, sslmode: "disable")
            fields.statementTimeout = .milliseconds(1500)
            fields.applicationName = "swregistry-test"
            let connection = try PGConnection(settings: fields)
            let row = try #require(try connection.query(
                "SELECT current_database(), current_setting('statement_timeout'), current_setting('application_name')"
            ).first)
            #expect(try row.string(0) == database.name)
            #expect(try row.string(1) == "1500ms")
            #expect(try row.string(2) == "swregistry-test")
        }
    }

    @Test func wrongPasswordIsAConnectionErrorWithTheServersMessage() throws {
        // The last keyword wins in a conninfo string.
        let settings = PGConnectionSettings(conninfo: try #require(TestPostgres.conninfo) + " password=not-it")
        let error = #expect(throws: PGError.self) { try PGConnection(settings: settings) }
        #expect(error?.kind == .connection)
        #expect(error?.isConnectionFailure == true)
        #expect(error?.message.contains("password authentication failed") == true)
    }

    @Test func nothingListeningIsAnErrorWithinTheConnectTimeout() throws {
        var settings = PGConnectionSettings(host: "127.0.0.1", port: 1, user: "x", dbname: "x")
        settings.connectTimeout = .seconds(2)
        let started = ContinuousClock.now
        let error = #expect(throws: PGError.self) { try PGConnection(settings: settings) }
        #expect(error?.isConnectionFailure == true)
        #expect(ContinuousClock.now - started < .seconds(3))
    }

    @Test func byteaTravelsInBinaryBothWays() throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            try connection.query("CREATE TABLE b (id int PRIMARY KEY, data bytea NOT NULL)")
            // Every byte value (NUL and `\` included), and a 4 MiB manifest-sized value.
            let allBytes = (0...255).map { UInt8($0) } + [0, 92, 120, 0]
            var big = [UInt8](repeating: 0, count: 4 << 20)
            for index in big.indices { big[index] = UInt8(truncatingIfNeeded: index &* 2_654_435_761 >> 13) }
            try connection.query("INSERT INTO b VALUES (1, $1), (2, $2), (3, $3)",
                                 [.bytes(allBytes), .bytes(big), .bytes([])])
            let rows = try connection.query("SELECT data, length(data) FROM b ORDER BY id").rows
            #expect(try rows[0].bytes(0) == allBytes)
            #expect(try rows[1].bytes(0) == big)
            #expect(try rows[1].int(1) == Int64(big.count))
            #expect(try rows[2].bytes(0) == [])
            // The server stored the bytes themselves, not their text form.
            #expect(try connection.query("SELECT get_byte(data, 1) FROM b WHERE id = 1").first?.int(0) == 1)
            // Text results (hex) decode to the same bytes.
            let text = try connection.query("SELECT data FROM b WHERE id = 1", binaryResult: false)
            #expect(try text.first?.bytes(0) == allBytes)
        }
    }

    @Test func typedRowsInBothFormats() throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            let sql = """
                SELECT 42::int2, -7::int4, 9007199254740993::int8, true, 'héllo'::text, NULL::text,
                       timestamptz '2024-02-29 12:34:56.789012+00', 'x'::varchar
                """
            for binary in [true, false] {
                let row = try #require(try connection.query(sql, binaryResult: binary).first)
                #expect(try row.int(0) == 42)
                #expect(try row.int(1) == -7)
                #expect(try row.int(2) == 9_007_199_254_740_993)
                #expect(try row.bool(3) == true)
                #expect(try row.string(4) == "héllo")
                #expect(row.isNull(5))
                #expect(try row.string(5) == nil)
                #expect(try row.string(7) == "x")
                if binary {
                    #expect(try row.timestampMicroseconds(6) == 1_709_210_096_789_012)
                }
            }
            // A parameter carries any text unharmed: no SQL is built from it.
            let hostile = "'; DROP TABLE x; --\u{0}".replacingOccurrences(of: "\u{0}", with: "")
            #expect(try connection.query("SELECT $1::text", [.text(hostile)]).first?.string(0) == hostile)
            #expect(try connection.query("SELECT $1::text IS NULL", [.null]).first?.bool(0) == true)
            let asText = #expect(throws: PGError.self) { try connection.query("SELECT 1::int8").first?.string(0) }
            #expect(asText?.kind == .protocolViolation)
        }
    }

    @Test func errorsCarryTheirSQLState() throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            try connection.query("CREATE TABLE u (name text PRIMARY KEY)")
            try connection.query("INSERT INTO u VALUES ($1)", ["a"])
            let duplicate = #expect(throws: PGError.self) { try connection.query("INSERT INTO u VALUES ($1)", ["a"]) }
            #expect(duplicate?.sqlState == PGError.uniqueViolation)
            #expect(duplicate?.isUniqueViolation == true)
            #expect(duplicate?.detail?.contains("already exists") == true)
            #expect(duplicate?.isConnectionFailure == false)
            let syntax = #expect(throws: PGError.self) { try connection.query("SELEKT 1") }
            #expect(syntax?.sqlState == "42601")
            // The connection stays usable after a failed statement.
            #expect(try connection.query("SELECT count(*) FROM u").first?.int(0) == 1)
        }
    }

    @Test func statementTimeoutCancelsWith57014() throws {
        try withTestDatabase { database in
            var settings = database.settings
            settings.statementTimeout = .milliseconds(200)
            let connection = try PGConnection(settings: settings)
            let started = ContinuousClock.now
            let error = #expect(throws: PGError.self) { try connection.query("SELECT pg_sleep(5)") }
            #expect(error?.sqlState == PGError.queryCanceled)
            #expect(ContinuousClock.now - started < .seconds(2))
            #expect(connection.checkIdle())
        }
    }

    /// A server that stops answering (its backend stopped with SIGSTOP, as a frozen machine or a network that
    /// swallows traffic would look): the statement fails within `answerTimeout` as a connection error, and the
    /// connection is given up, instead of waiting as long as the server stays away (found by Tests/e2e/faults_e2e.sh:
    /// a tag list through a proxy that held PostgreSQL's traffic waited 100 s and more).
    @Test func aServerThatStopsAnsweringFailsTheStatementWithinTheAnswerTimeout() throws {
        try withTestDatabase { database in
            var settings = database.settings
            settings.statementTimeout = .milliseconds(500)
            #expect(settings.answerTimeout == .milliseconds(500) + PGConnectionSettings.answerMargin)
            let connection = try PGConnection(settings: settings)
            let backend = connection.backendPID
            // Only where this process may signal the server's processes (the test cluster on this machine, run by
            // root or by the cluster's owner).
            guard kill(backend, 0) == 0 else { return }
            #expect(kill(backend, SIGSTOP) == 0)
            defer { kill(backend, SIGCONT) }
            let started = ContinuousClock.now
            let error = #expect(throws: PGError.self) { try connection.query("SELECT 1") }
            let waited = ContinuousClock.now - started
            #expect(error?.kind == .connection)
            #expect(error?.message.contains("no answer from the server") == true)
            #expect(waited >= .milliseconds(5400))
            #expect(waited < .seconds(15))
            // Given up: not reusable (a pool closes it), and the next statement fails at once.
            #expect(!connection.isOK)
            #expect(!connection.checkIdle())
            let again = ContinuousClock.now
            #expect(throws: PGError.self) { try connection.query("SELECT 1") }
            #expect(ContinuousClock.now - again < .seconds(1))
        }
    }

    @Test func transactionCommitsRollsBackAndRefusesAHiddenFailure() throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            try connection.query("CREATE TABLE t (v int PRIMARY KEY)")
            try connection.transaction { c in try c.query("INSERT INTO t VALUES (1)") }
            struct Abort: Error {}
            #expect(throws: Abort.self) {
                try connection.transaction { c in
                    try c.query("INSERT INTO t VALUES (2)")
                    throw Abort()
                }
            }
            // A failed statement swallowed by the body: COMMIT turns into ROLLBACK, which must be an error.
            #expect(throws: PGError.self) {
                try connection.transaction { c in
                    try c.query("INSERT INTO t VALUES (3)")
                    _ = try? c.query("INSERT INTO t VALUES (1)")
                }
            }
            #expect(try connection.query("SELECT array_agg(v ORDER BY v)::text FROM t").first?.string(0) == "{1}")
            #expect(connection.checkIdle())
        }
    }

    @Test func serializationFailuresAreRetried() throws {
        try withTestDatabase { database in
            let setup = try database.connect()
            try setup.query("CREATE TABLE counter (id int PRIMARY KEY, n int NOT NULL)")
            try setup.query("INSERT INTO counter VALUES (1, 0)")
            // Eight threads increment one row under SERIALIZABLE with a read-then-write: concurrent ones fail with
            // 40001 and are run again, so the count ends exact.
            let threads = 8, increments = 25
            let attempts = Attempts()
            DispatchQueue.concurrentPerform(iterations: threads) { _ in
                guard let connection = try? database.connect() else { return attempts.fail() }
                for _ in 0..<increments {
                    do {
                        try connection.transaction(.serializable, attempts: 100) { c in
                            attempts.add()
                            let n = try c.query("SELECT n FROM counter WHERE id = 1").first!.int(0)!
                            usleep(200)
                            try c.query("UPDATE counter SET n = $1 WHERE id = 1", [.int(n + 1)])
                        }
                    } catch {
                        attempts.fail()
                    }
                }
            }
            #expect(attempts.failures == 0)
            #expect(try setup.query("SELECT n FROM counter").first?.int(0) == Int64(threads * increments))
            #expect(attempts.count > threads * increments, "no transaction was ever retried")
        }
    }

    @Test func aTerminatedSessionIsDetectedWithoutARoundTrip() throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            #expect(connection.checkIdle())
            try database.terminate(pid: connection.backendPID)
            var dead = false
            for _ in 0..<50 where !dead {
                dead = !connection.checkIdle()
                if !dead { usleep(20_000) }
            }
            #expect(dead)
            let error = #expect(throws: PGError.self) { try connection.query("SELECT 1") }
            #expect(error?.isConnectionFailure == true)
        }
    }
}

/// Counts from several threads.
final class Attempts: @unchecked Sendable {
    private let lock = NSLock()
    private var attempts = 0
    private var failed = 0
    func add() { lock.withLock { attempts += 1 } }
    func fail() { lock.withLock { failed += 1 } }
    var count: Int { lock.withLock { attempts } }
    var failures: Int { lock.withLock { failed } }
}
