import ArgumentParser
import Foundation
import ImageTransport
import RegistryClient
import SystemIO

/// Transfer options every command that talks to registries shares (TLS and credentials are in
/// ``RegistryOptions`` and ``SourceDestinationOptions``).
struct TransferOptions: ParsableArguments {
    @Option(name: .customLong("retry-times"), help: "Attempts for a request that failed with a retryable error.")
    var retryTimes: Int = 3

    @Option(name: .customLong("retry-delay"), help: "Fixed delay between retries (e.g. 500ms, 2s); exponential backoff when unset.")
    var retryDelay: String?

    @Option(name: .customLong("jobs"), help: "Blobs transferred at once.")
    var jobs: Int = 6

    @Option(name: .customLong("chunk-size"), help: "Upload blobs in chunks of this many bytes (suffixes k, M, G); one streamed request when 0.")
    var chunkSize: String = "0"

    @Flag(name: [.customShort("q"), .customLong("quiet")], help: "Print only errors.")
    var quiet = false

    func validate() throws {
        guard jobs >= 1 && jobs <= 64 else { throw ValidationError("--jobs must be between 1 and 64") }
        guard retryTimes >= 0 && retryTimes <= 100 else { throw ValidationError("--retry-times must be between 0 and 100") }
        _ = try parsedChunkSize()
        _ = try parsedRetryDelay()
    }

    func parsedChunkSize() throws -> Int64 {
        guard let value = ByteCount.parse(chunkSize), value >= 0 else {
            throw ValidationError("--chunk-size: \"\(chunkSize)\" is not a size (e.g. 0, 5242880, 8M)")
        }
        return value
    }

    func parsedRetryDelay() throws -> Duration? {
        guard let retryDelay else { return nil }
        guard let value = DurationText.parse(retryDelay) else {
            throw ValidationError("--retry-delay: \"\(retryDelay)\" is not a duration (e.g. 500ms, 2s, 1m)")
        }
        return value
    }

    /// Client options for a one-registry command.
    func clientOptions(_ registry: RegistryOptions) throws -> ClientOptions {
        try clientOptions(registry.access())
    }

    /// Runs `body` with a client for `host` (one connection at a time), shutting its engine down after.
    func withClient<T>(_ registry: RegistryOptions, host: String, _ body: (RegistryClient) async throws -> T)
        async throws -> T
    {
        let engine = TransferEngine(maxParallel: 1)
        defer { engine.shutdown() }
        return try await body(RegistryClient(registry: host, options: try clientOptions(registry), engine: engine))
    }

    /// Client options for one registry role.
    func clientOptions(_ access: RegistryAccess) throws -> ClientOptions {
        var options = ClientOptions()
        access.apply(to: &options)
        options.retryTimes = retryTimes
        options.retryDelay = try parsedRetryDelay()
        options.chunkSize = try parsedChunkSize()
        return options
    }
}

/// Parses sizes such as `8M`.
enum ByteCount {
    static func parse(_ text: String) -> Int64? {
        let units: [Character: Int64] = ["k": 1 << 10, "K": 1 << 10, "m": 1 << 20, "M": 1 << 20, "g": 1 << 30, "G": 1 << 30]
        var digits = Substring(text)
        var multiplier: Int64 = 1
        if digits.hasSuffix("iB") || digits.hasSuffix("B") { digits = digits.dropLast(digits.hasSuffix("iB") ? 2 : 1) }
        if let last = digits.last, let unit = units[last] {
            multiplier = unit
            digits = digits.dropLast()
        }
        guard let value = Int64(digits), value >= 0 else { return nil }
        let (product, overflow) = value.multipliedReportingOverflow(by: multiplier)
        return overflow ? nil : product
    }
}

/// Parses durations such as `500ms`, `2s`, `1m`, or plain seconds.
enum DurationText {
    static func parse(_ text: String) -> Duration? {
        let suffixes: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        for (suffix, scale) in suffixes where text.hasSuffix(suffix) {
            guard let value = Double(text.dropLast(suffix.count)), value >= 0, value < 86_400 else { return nil }
            return .milliseconds(Int64(value * scale * 1000))
        }
        guard let value = Double(text), value >= 0, value < 86_400 else { return nil }
        return .milliseconds(Int64(value * 1000))
    }
}

/// Prints one line on standard error.
func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// Runs a command body: any error becomes one line on standard error and exit status 1.
func runReportingErrors(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as ExitCode {
        throw error
    } catch let error as ValidationError {
        throw error
    } catch {
        printError("swcopy: \(error)")
        throw ExitCode.failure
    }
}

/// A staging directory for blobs moving between registries, removed at the end of the command. Its name is
/// unguessable and it is made private when first used (`FileSystem.makePrivateDirectory`): in a shared `/var/tmp`,
/// a name another user can predict could be made first, by them, to read or swap a blob after it was verified.
func makeStagingDirectory() -> String {
    let base = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/var/tmp"
    return "\(base)/swcopy-\(getpid())-\(FileSystem.randomName())"
}

/// A command as a Dockerfile writes one: a JSON array of strings (exec form), or a string for `/bin/sh -c`
/// (shell form).
enum CommandLineForm {
    static func parse(_ text: String) throws -> [String] {
        let trimmed = text.drop { $0 == " " }
        guard trimmed.hasPrefix("[") else { return ["/bin/sh", "-c", text] }
        guard let list = try? JSONSerialization.jsonObject(with: Data(trimmed.utf8)) as? [String], !list.isEmpty else {
            throw ValidationError("\(text): expected a JSON array of strings, e.g. [\"/bin/sh\", \"-c\", \"echo hi\"]")
        }
        return list
    }
}
