import Foundation
import PostgresMetadata
import Testing

/// The test PostgreSQL server from `SWREGISTRY_TEST_POSTGRES` (a conninfo string), and a fresh database on it per
/// test. Tests are skipped when the variable is absent, unless `CI` is set: there its absence fails them.
// Stands in for `TestServices.postgres` until that helper is on this branch.
enum TestPostgres {
    static var conninfo: String? {
        ProcessInfo.processInfo.environment["SWREGISTRY_TEST_POSTGRES"].flatMap { $0.isEmpty ? nil : $0 }
    }

    static var enabled: Bool { conninfo != nil || ProcessInfo.processInfo.environment["CI"] != nil }

    static var settings: PGConnectionSettings {
        get throws {
            guard let conninfo else {
                throw PGError(.connection, message: "SWREGISTRY_TEST_POSTGRES is not set (required under CI)")
            }
            return PGConnectionSettings(conninfo: conninfo)
        }
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
