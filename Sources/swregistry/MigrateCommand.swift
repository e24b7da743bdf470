import ArgumentParser
import Logging
import RegistryConfig

/// `swregistry migrate [--config FILE]`: applies the PostgreSQL schema migrations the binary knows and the
/// database lacks, and says which. Idempotent: a second run applies nothing. `serve` applies them too at start
/// (each replica; concurrent runs are serialised by the database), so this is for applying them ahead of a
/// rolling upgrade, or to see that the schema is current.
struct MigrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply the PostgreSQL schema migrations (database.*); idempotent."
    )

    @Option(help: "YAML configuration file ($SWREGISTRY_CONFIG).")
    var config: String?

    func run() throws {
        let configuration = try ConfigurationSource(file: config).loadOrExit()
        guard let database = configuration.databaseSettings else {
            printError("swregistry migrate: no database is configured (database.enabled: true, with storage.s3)")
            throw ExitCode(1)
        }
        let applied: [Int]
        do {
            applied = try ScaleOut.migrate(database: database, logger: Logger(label: "swregistry.migrate"))
        } catch {
            printError("swregistry migrate: \(database.user)@\(database.host):\(database.port)/\(database.dbname): \(error)")
            throw ExitCode(1)
        }
        if applied.isEmpty {
            print("the schema of \(database.dbname) is current: nothing to apply")
        } else {
            for version in applied { print("applied migration \(version)") }
            print("\(applied.count) migration\(applied.count == 1 ? "" : "s") applied to \(database.dbname)")
        }
    }
}
