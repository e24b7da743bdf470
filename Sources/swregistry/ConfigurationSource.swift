import ArgumentParser
import Glibc
import RegistryConfig
import SystemIO

/// Where `serve` and `config` read the configuration from: the file (flag or `$SWREGISTRY_CONFIG`), the process
/// environment and the flags. Kept whole so that a SIGHUP reload reads the same sources again.
struct ConfigurationSource: Sendable {
    var file: String?
    var flags: [(name: String, value: String)]
    var environment: [String: String]

    init(file: String?, flags: [(name: String, value: String)] = [], environment: [String: String] = processEnvironment()) {
        self.environment = environment
        self.file = Configuration.filePath(flag: file, environment: environment)
        self.flags = flags
    }

    func load() throws(ConfigErrors) -> Configuration {
        try Configuration.load(file: file, environment: environment, flags: flags)
    }

    /// Loads, or prints every error on stderr (one line each) and exits 1.
    func loadOrExit() throws -> Configuration {
        do { return try load() } catch {
            for problem in error.errors { printError("swregistry: \(problem)") }
            throw ExitCode(1)
        }
    }
}

/// The process environment as a dictionary.
func processEnvironment() -> [String: String] {
    var result: [String: String] = [:]
    var pointer = environ
    while let entry = pointer.pointee {
        let text = String(cString: entry)
        if let equals = text.firstIndex(of: "=") {
            result[String(text[..<equals])] = String(text[text.index(after: equals)...])
        }
        pointer += 1
    }
    return result
}

/// Writes `line` and a newline on standard error, unbuffered.
func printError(_ line: String) {
    let bytes = Array((line + "\n").utf8)
    _ = try? FileSystem.writeAll(2, bytes)
}
