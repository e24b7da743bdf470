import Foundation
import PostgresMetadata
import Testing
import TestSupport

@Suite(.offCooperativePool, .enabled(if: TestPostgres.enabled), .serialized)
struct PGMigrationsTests {
    // Neither migration is idempotent on its own (CREATE TABLE without IF NOT EXISTS, an INSERT): applying one
    // twice fails or shows in the count.
    static let migrations = PGMigrations([
        .init(version: 2, name: "count", sql: "INSERT INTO runs VALUES ('second'); ALTER TABLE runs ADD note text"),
        .init(version: 1, name: "runs", sql: "CREATE TABLE runs (what text NOT NULL); INSERT INTO runs VALUES ('first')"),
    ], lockKey: 0x5357_5445_5354)

    @Test func appliesEachVersionOnceInOrder() throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            #expect(try Self.migrations.recordedVersions(on: connection) == [])
            #expect(try Self.migrations.apply(on: connection) == .init(applied: [1, 2], unknown: []))
            #expect(try Self.migrations.apply(on: connection) == .init(applied: [], unknown: []))
            #expect(try connection.query("SELECT count(*) FROM runs").first?.int(0) == 2)
            #expect(try Self.migrations.recordedVersions(on: connection) == [1, 2])
        }
    }

    @Test func replicasStartingTogetherApplyEachMigrationOnce() throws {
        try withTestDatabase { database in
            let failures = Attempts()
            let applied = Attempts()
            DispatchQueue.concurrentPerform(iterations: 6) { _ in
                do {
                    let outcome = try Self.migrations.apply(on: database.connect())
                    for _ in outcome.applied { applied.add() }
                } catch {
                    failures.fail()
                }
            }
            #expect(failures.failures == 0)
            #expect(applied.count == 2)
            let connection = try database.connect()
            #expect(try connection.query("SELECT count(*) FROM runs").first?.int(0) == 2)
        }
    }

    @Test func aFailingMigrationLeavesNothingBehind() throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            let broken = PGMigrations([
                .init(version: 1, name: "ok", sql: "CREATE TABLE a (x int)"),
                .init(version: 2, name: "broken", sql: "CREATE TABLE b (x int); SELECT no_such_function()"),
                .init(version: 3, name: "after", sql: "CREATE TABLE c (x int)"),
            ], lockKey: 1)
            let error = #expect(throws: PGError.self) { try broken.apply(on: connection) }
            #expect(error?.sqlState == "42883")
            #expect(try broken.recordedVersions(on: connection) == [1])
            #expect(try connection.query("SELECT to_regclass('b') IS NULL AND to_regclass('c') IS NULL")
                .first?.bool(0) == true)
            // The advisory lock was let go: another session can migrate.
            let other = try database.connect()
            #expect(try Self.migrations.recordedVersions(on: other) == [1])
            #expect(try other.query("SELECT pg_try_advisory_lock(1)").first?.bool(0) == true)
        }
    }

    @Test func versionsFromANewerReplicaAreReported() throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            try Self.migrations.apply(on: connection)
            try connection.query("INSERT INTO schema_migrations (version, name) VALUES (9, 'future')")
            #expect(try Self.migrations.apply(on: connection) == .init(applied: [], unknown: [9]))
        }
    }
}
