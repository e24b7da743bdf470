import Foundation
import PostgresMetadata
import Testing
import TestSupport

/// The test PostgreSQL server (`TestServices`: `SWREGISTRY_TEST_POSTGRES`, a conninfo string). Tests are skipped
/// when it is absent, unless `CI` is set: there its absence fails them.
enum TestPostgres {
    static var conninfo: String? { TestServices.postgres }

    static var enabled: Bool { TestServices.postgresEnabled }

    static var settings: PGConnectionSettings {
        get throws { PGConnectionSettings(conninfo: try TestServices.requirePostgres()) }
    }
}

/// A database of its own (`swtest_<hex>`), dropped by `drop()`.
final class TestDatabase: @unchecked Sendable {
    let name: String
    let settings: PGConnectionSettings
    private let admin: PGConnectionSettings

    init() throws {
        admin = try TestPostgres.settings
        name = "swtest_" + (0..<8).map { _ in String(UInt8.random(in: 0...255), radix: 16) }
            .map { $0.count == 1 ? "0" + $0 : $0 }.joined()
        try PGConnection(settings: admin).query("CREATE DATABASE \(name)")
        settings = admin.with(dbname: name)
    }

    /// Drops the database, ending the sessions still connected to it.
    func drop() {
        _ = try? PGConnection(settings: admin).query("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }

    func connect() throws -> PGConnection {
        try PGConnection(settings: settings)
    }

    /// Ends one server session from outside, as a restart or an administrator would (`pg_terminate_backend`).
    func terminate(pid: Int32) throws {
        let result = try PGConnection(settings: settings).query("SELECT pg_terminate_backend($1)", [.int(pid)])
        #expect(try result.first?.bool(0) == true)
    }
}

/// Runs `body` with a fresh database, dropped afterwards whatever happens.
func withTestDatabase<T>(_ body: (TestDatabase) throws -> T) throws -> T {
    let database = try TestDatabase()
    defer { database.drop() }
    return try body(database)
}
