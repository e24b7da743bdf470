import Foundation
import PostgresMetadata
import Testing
import TestSupport

@Suite(.offCooperativePool, .enabled(if: TestPostgres.enabled), .serialized)
struct PGPoolTests {
    @Test func neverOpensMoreThanMaxOpenAndTimesOutInsteadOfHanging() throws {
        try withTestDatabase { database in
            let pool = PGPool(settings: database.settings,
                              limits: .init(maxOpen: 3, maxIdle: 2, acquireTimeout: .milliseconds(300),
                                            surplusIdleTime: .seconds(1)))
            defer { pool.close() }
            let held = try (0..<3).map { _ in try pool.acquire() }
            #expect(pool.statistics.open == 3)
            let started = ContinuousClock.now
            let error = #expect(throws: PGError.self) { try pool.acquire() }
            #expect(error?.kind == .poolTimeout)
            let waited = ContinuousClock.now - started
            #expect(waited >= .milliseconds(280) && waited < .seconds(2))

            // A waiter gets the connection given back.
            let handedOver = Attempts()
            let waiter = Thread {
                if let connection = try? pool.acquire() {
                    handedOver.add()
                    pool.release(connection)
                }
            }
            waiter.start()
            usleep(50_000)
            pool.release(held[0])
            for _ in 0..<100 where handedOver.count == 0 { usleep(10_000) }
            #expect(handedOver.count == 1)
            for connection in held.dropFirst() { pool.release(connection) }
            // The surplus over maxIdle stays for surplusIdleTime (a burst reuses it), then only maxIdle stay open.
            #expect(pool.statistics == .init(open: 3, idle: 3, waiting: 0))
            usleep(1_200_000)
            pool.release(try pool.acquire())
            #expect(pool.statistics == .init(open: 2, idle: 2, waiting: 0))
        }
    }

    @Test func manyThreadsShareABoundedPool() throws {
        try withTestDatabase { database in
            let pool = PGPool(settings: database.settings, limits: .init(maxOpen: 4, maxIdle: 4))
            defer { pool.close() }
            try pool.query("CREATE TABLE hits (n int)")
            let failures = Attempts()
            DispatchQueue.concurrentPerform(iterations: 16) { index in
                for _ in 0..<20 {
                    do { try pool.query("INSERT INTO hits VALUES ($1)", [.int(index)]) } catch { failures.fail() }
                }
            }
            #expect(failures.failures == 0)
            #expect(try pool.query("SELECT count(*) FROM hits").first?.int(0) == 320)
            #expect(pool.statistics.open <= 4)
            // Connections were reused, not opened per query.
            let sessions = try pool.query("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
            #expect(try sessions.first!.int(0)! <= 4)
        }
    }

    @Test func aDatabaseThatIsDownGivesAnErrorQuickly() throws {
        var settings = PGConnectionSettings(host: "127.0.0.1", port: 1, user: "x", dbname: "x")
        settings.connectTimeout = .seconds(2)
        let pool = PGPool(settings: settings, limits: .init(maxOpen: 2, acquireTimeout: .seconds(1)))
        let started = ContinuousClock.now
        let error = #expect(throws: PGError.self) { try pool.check() }
        #expect(error?.isConnectionFailure == true)
        #expect(ContinuousClock.now - started < .seconds(3))
        // A failed open gives its slot back.
        #expect(pool.statistics.open == 0)
    }

    @Test func aConnectionTheServerEndedIsReplaced() throws {
        try withTestDatabase { database in
            let pool = PGPool(settings: database.settings, limits: .init(maxOpen: 2, maxIdle: 2))
            defer { pool.close() }
            let first = try pool.acquire()
            let pid = first.backendPID
            pool.release(first)
            try database.terminate(pid: pid)
            usleep(100_000)
            // The next caller gets a fresh session instead of an error.
            let backend = try pool.query("SELECT pg_backend_pid()").first?.int(0)
            #expect(backend != nil && backend != Int64(pid))
            #expect(pool.statistics.open == 1)
        }
    }

    @Test func aConnectionThatBrokeInUseIsNotPooled() throws {
        try withTestDatabase { database in
            let pool = PGPool(settings: database.settings, limits: .init(maxOpen: 2, maxIdle: 2))
            defer { pool.close() }
            let error = #expect(throws: PGError.self) {
                try pool.withConnection { connection in
                    try database.terminate(pid: connection.backendPID)
                    try connection.query("SELECT 1")
                }
            }
            #expect(error?.isConnectionFailure == true)
            #expect(pool.statistics.open == 0)
            try pool.check()
        }
    }

    @Test func connectionsOlderThanMaxLifetimeAreRetired() throws {
        try withTestDatabase { database in
            let pool = PGPool(settings: database.settings,
                              limits: .init(maxOpen: 2, maxIdle: 2, maxLifetime: .milliseconds(100)))
            defer { pool.close() }
            let first = try pool.query("SELECT pg_backend_pid()").first?.int(0)
            usleep(150_000)
            let second = try pool.query("SELECT pg_backend_pid()").first?.int(0)
            #expect(first != second)
            #expect(pool.statistics.open == 1)
        }
    }

    @Test func transactionsThroughThePoolRollBackOnError() throws {
        try withTestDatabase { database in
            let pool = PGPool(settings: database.settings, limits: .init(maxOpen: 1, maxIdle: 1))
            defer { pool.close() }
            try pool.query("CREATE TABLE t (v int)")
            struct Abort: Error {}
            #expect(throws: Abort.self) {
                try pool.transaction { c in
                    try c.query("INSERT INTO t VALUES (1)")
                    throw Abort()
                }
            }
            // The same (only) connection is idle again, outside any transaction.
            #expect(try pool.query("SELECT count(*) FROM t").first?.int(0) == 0)
        }
    }
}
