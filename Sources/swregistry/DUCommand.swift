import ArgumentParser
import Foundation
import OCIModel
import RegistryConfig
import StoreMaintenance

/// `swregistry du [--json] [REPO…]`: bytes per repository, shared and exclusive, and for the whole store.
struct DUCommand: StoreCommand {
    static let configuration = CommandConfiguration(
        commandName: "du",
        abstract: "Show the bytes each repository takes: total, shared with others, and its alone.",
        discussion: """
            TOTAL counts every blob and manifest a repository links, each once; SHARED those another repository \
            links too; EXCLUSIVE the rest, what deleting the repository would free (after garbage collection). \
            The last line counts the whole store, each blob once, and the blobs no repository links. While a \
            server serves the store, the command runs inside it through its control socket.
            """
    )

    @OptionGroup var location: StoreLocation
    var config: String? { location.config }
    var storage: String? { location.storage }

    @Flag(help: "Print JSON (exact byte counts) instead of the table.")
    var json = false

    @Argument(help: "Repositories to show (default: all); sharing is judged against every repository.")
    var repositories: [String] = []

    func validate() throws {
        for name in repositories {
            do { _ = try RepositoryName(validating: name) } catch {
                throw ValidationError("\(name): not a repository name: \(error)")
            }
        }
    }

    func execute(_ context: StoreCommandContext) throws -> Int32 {
        let names = try repositories.map { try RepositoryName(validating: $0) }
        let report = try Usage.measure(context.store, repositories: names, output: context.output)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            context.output.line(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            for line in report.tableLines { context.output.line(line) }
        }
        return 0
    }
}
