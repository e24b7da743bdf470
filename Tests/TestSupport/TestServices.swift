import Foundation
import Glibc

/// Where the tests find the S3 store (Ceph RGW) and the PostgreSQL server that `scripts/services/*.sh` start and
/// `scripts/test` announces through the environment.
///
/// A test that needs a service is skipped when its variable is absent — unless `CI` is set: CI must never skip them
/// silently, so there the `…Enabled` flags are true and `requireS3()` / `requirePostgres()` throw, naming the missing
/// variables. Use both together:
///
///     @Suite(.enabled(if: TestServices.s3Enabled, "needs S3: scripts/services/ceph-rgw.sh start; eval \"$(… env)\""))
///     struct S3Tests {
///         @Test func roundTrip() throws { let s3 = try TestServices.requireS3() … }
///     }
public enum TestServices {
    /// The S3 settings from `SWREGISTRY_TEST_S3_*`, or nil when the endpoint, keys or bucket are missing.
    public static var s3: S3Settings? { try? requireS3() }

    /// The libpq connection string from `SWREGISTRY_TEST_POSTGRES`, or nil.
    public static var postgres: String? { try? requirePostgres() }

    /// Whether S3 tests run: the settings are there, or this is CI (where their absence must fail the tests).
    public static var s3Enabled: Bool { s3 != nil || isCI }

    /// Whether PostgreSQL tests run: the connection string is there, or this is CI.
    public static var postgresEnabled: Bool { postgres != nil || isCI }

    /// `CI` is set (to anything but empty, `0` or `false`), as CI services and `.ci/run` set it.
    public static var isCI: Bool {
        guard let value = environment("CI") else { return false }
        return !["0", "false"].contains(value.lowercased())
    }

    /// The S3 settings. - Throws: ``MissingTestService`` naming each missing variable.
    public static func requireS3() throws(MissingTestService) -> S3Settings {
        let names = ["ENDPOINT", "ACCESS_KEY", "SECRET_KEY", "BUCKET"].map { "SWREGISTRY_TEST_S3_\($0)" }
        let values = names.map(environment)
        let missing = zip(names, values).filter { $0.1 == nil }.map(\.0)
        guard missing.isEmpty else {
            throw MissingTestService(service: "S3", variables: missing, start: "scripts/services/ceph-rgw.sh", onCI: isCI)
        }
        return S3Settings(endpoint: values[0]!, region: environment("SWREGISTRY_TEST_S3_REGION") ?? "us-east-1",
                          accessKey: values[1]!, secretKey: values[2]!, bucket: values[3]!)
    }

    /// The PostgreSQL connection string. - Throws: ``MissingTestService`` when `SWREGISTRY_TEST_POSTGRES` is missing.
    public static func requirePostgres() throws(MissingTestService) -> String {
        guard let conninfo = environment("SWREGISTRY_TEST_POSTGRES") else {
            throw MissingTestService(service: "PostgreSQL", variables: ["SWREGISTRY_TEST_POSTGRES"],
                                     start: "scripts/services/postgres.sh", onCI: isCI)
        }
        return conninfo
    }

    /// A fresh key prefix (a `rootdirectory`) inside the shared test bucket, e.g. `swtest/blobs-3f9c0a1e77d24b65`,
    /// so that tests running at the same time, or again on the same bucket, never see each other's objects.
    public static func randomS3Prefix(_ label: String = "t") -> String {
        "swtest/\(label)-\(randomHex())"
    }

    /// Runs `body` with the connection string of a new, empty database `swtest_<random hex>` (created by the test
    /// user, who may CREATE DATABASE), and drops it afterwards whatever `body` did. Uses the `psql` client, not the
    /// project's libpq binding, so that a fault there cannot hide behind its own fixture.
    public static func withDatabase<T>(_ body: (String) throws -> T) throws -> T {
        let (name, conninfo) = try createDatabase()
        let result: T
        do {
            result = try body(conninfo)
        } catch {
            try? dropDatabase(name)
            throw error
        }
        try dropDatabase(name)
        return result
    }

    /// The same, for an async `body`.
    public static func withDatabase<T>(_ body: (String) async throws -> T) async throws -> T {
        let (name, conninfo) = try createDatabase()
        let result: T
        do {
            result = try await body(conninfo)
        } catch {
            try? dropDatabase(name)
            throw error
        }
        try dropDatabase(name)
        return result
    }

    // MARK: - Databases through psql

    private static func createDatabase() throws -> (name: String, conninfo: String) {
        let base = try requirePostgres()
        let name = "swtest_\(randomHex())"
        try psql(base, "CREATE DATABASE \(name)")
        return (name, try Conninfo.replacingDatabase(in: base, with: name))
    }

    private static func dropDatabase(_ name: String) throws {
        // FORCE (PostgreSQL 13+): a pool the test left open must not keep its database alive.
        try psql(try requirePostgres(), "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }

    /// Runs one SQL command with `psql`. - Throws: ``ShellError`` with psql's message when it fails.
    private static func psql(_ conninfo: String, _ sql: String) throws {
        let candidates = ["/usr/lib/postgresql/15/bin/psql", "/usr/bin/psql"]
        guard let path = candidates.first(where: { access($0, X_OK) == 0 }) else {
            throw ShellError(description: "psql not found (\(candidates.joined(separator: ", "))): "
                + "install postgresql-client-15 (scripts/install-deps test)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", conninfo, "-c", sql]
        var env = ProcessInfo.processInfo.environment
        env["PGCONNECT_TIMEOUT"] = "10"
        process.environment = env
        // One pipe for both streams: psql says little, and a single reader cannot deadlock on a full second pipe.
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let printed = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ShellError(description: "psql `\(sql)` exited \(process.terminationStatus): "
                + String(decoding: printed, as: UTF8.self))
        }
    }

    private static func randomHex() -> String {
        let value = UInt64.random(in: .min ... .max)
        let hex = String(value, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    private static func environment(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        let string = String(cString: value)
        return string.isEmpty ? nil : string
    }
}

extension TestServices {
    /// What a test needs to reach the S3 store: path-style addressing at `endpoint`, SigV4 with these keys.
    public struct S3Settings: Sendable, Equatable {
        public let endpoint: String
        public let region: String
        public let accessKey: String
        public let secretKey: String
        /// A bucket that exists; tests work under their own ``TestServices/randomS3Prefix(_:)`` inside it.
        public let bucket: String

        public init(endpoint: String, region: String, accessKey: String, secretKey: String, bucket: String) {
            self.endpoint = endpoint
            self.region = region
            self.accessKey = accessKey
            self.secretKey = secretKey
            self.bucket = bucket
        }
    }
}

/// A service the test needs is not configured (on CI, where that must fail rather than skip, or in a test that asked
/// for it without `.enabled(if:)`).
public struct MissingTestService: Error, CustomStringConvertible {
    public let service: String
    public let variables: [String]
    public let start: String
    public let onCI: Bool

    public var description: String {
        "\(service) is required" + (onCI ? " (CI is set: its tests fail instead of being skipped)" : "") + " but "
            + variables.joined(separator: ", ") + (variables.count == 1 ? " is" : " are") + " not set: start it with `"
            + start + " start` and export what `" + start + " env` prints (scripts/test does both)"
    }
}

/// libpq's `key=value` connection strings (and `postgresql://` URIs), as far as the tests need them.
enum Conninfo {
    /// `conninfo` with its database replaced by `database` (a plain identifier: no quoting needed).
    static func replacingDatabase(in conninfo: String, with database: String) throws -> String {
        if conninfo.hasPrefix("postgresql://") || conninfo.hasPrefix("postgres://") {
            guard var components = URLComponents(string: conninfo) else {
                throw ShellError(description: "not a PostgreSQL URI: \(conninfo)")
            }
            components.path = "/" + database
            guard let uri = components.string else { throw ShellError(description: "cannot rebuild \(conninfo)") }
            return uri
        }
        let pairs = try parse(conninfo).filter { $0.key != "dbname" }
        return (pairs.map { "\($0.key)=\(quote($0.value))" } + ["dbname=\(database)"]).joined(separator: " ")
    }

    /// The pairs of a `key=value …` string: values may be single-quoted, with `\'` and `\\` escapes (libpq's rules).
    static func parse(_ conninfo: String) throws -> [(key: String, value: String)] {
        var pairs: [(key: String, value: String)] = []
        var chars = Substring(conninfo)
        func skipSpaces() { chars = chars.drop { $0 == " " || $0 == "\t" || $0 == "\n" } }
        skipSpaces()
        while !chars.isEmpty {
            let key = chars.prefix { $0 != "=" && $0 != " " && $0 != "\t" }
            chars = chars.dropFirst(key.count)
            skipSpaces()
            guard !key.isEmpty, chars.first == "=" else {
                throw ShellError(description: "malformed connection string (expected key=value): \(conninfo)")
            }
            chars = chars.dropFirst()
            skipSpaces()
            var value = ""
            if chars.first == "'" {
                chars = chars.dropFirst()
                var closed = false
                while let c = chars.popFirst() {
                    if c == "\\", let next = chars.popFirst() {
                        value.append(next)
                    } else if c == "'" {
                        closed = true
                        break
                    } else {
                        value.append(c)
                    }
                }
                guard closed else { throw ShellError(description: "unterminated quote in connection string") }
            } else {
                while let c = chars.first, c != " ", c != "\t", c != "\n" {
                    chars = chars.dropFirst()
                    if c == "\\", let next = chars.popFirst() { value.append(next) } else { value.append(c) }
                }
            }
            pairs.append((String(key), value))
            skipSpaces()
        }
        return pairs
    }

    static func quote(_ value: String) -> String {
        let plain = !value.isEmpty && !value.contains { $0 == " " || $0 == "'" || $0 == "\\" || $0 == "\t" }
        if plain { return value }
        return "'" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'"
    }
}
