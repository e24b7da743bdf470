import ArgumentParser
import BlobStore
import Glibc
import HTTPServer
import Logging
import Registry
import SystemIO

/// `swregistry serve`: binds, serves until SIGTERM or SIGINT, then shuts down gracefully and exits 0.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the registry API.",
        discussion: """
            Every option can also be set with an environment variable, named in its help; a flag wins over the \
            variable. On SIGTERM or SIGINT the server stops accepting, lets requests in flight finish within the \
            grace period, and exits 0.
            """
    )

    @Option(help: "Address to listen on, host:port ($SWREGISTRY_ADDRESS).")
    var address: String = environment("SWREGISTRY_ADDRESS") ?? "127.0.0.1:5000"

    @Option(help: "Folder where the registry stores its data ($SWREGISTRY_STORAGE).")
    var storage: String = environment("SWREGISTRY_STORAGE") ?? "./registry-data"

    @Option(help: "Event-loop threads; default one per core ($SWREGISTRY_THREADS).")
    var threads: Int = environment("SWREGISTRY_THREADS").flatMap { Int($0) } ?? ServerConfiguration.coreCount

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical ($SWREGISTRY_LOG_LEVEL).")
    var logLevel: String = environment("SWREGISTRY_LOG_LEVEL") ?? "info"

    @Option(help: "Most open connections ($SWREGISTRY_MAX_CONNECTIONS).")
    var maxConnections: Int = environment("SWREGISTRY_MAX_CONNECTIONS").flatMap { Int($0) } ?? 16_384

    @Option(help: "Seconds for a whole request header section to arrive ($SWREGISTRY_HEADER_TIMEOUT).")
    var headerTimeout: Double = environment("SWREGISTRY_HEADER_TIMEOUT").flatMap { Double($0) } ?? 10

    @Option(help: "Seconds an idle keep-alive connection stays open ($SWREGISTRY_IDLE_TIMEOUT).")
    var idleTimeout: Double = environment("SWREGISTRY_IDLE_TIMEOUT").flatMap { Double($0) } ?? 75

    @Option(help: "Seconds a request body may stall ($SWREGISTRY_BODY_TIMEOUT).")
    var bodyTimeout: Double = environment("SWREGISTRY_BODY_TIMEOUT").flatMap { Double($0) } ?? 60

    @Option(help: """
        Least average request-body rate in bytes/s once the body timeout's worth of grace is used up; 0 for none \
        ($SWREGISTRY_MIN_BODY_RATE).
        """)
    var minBodyRate: Double = environment("SWREGISTRY_MIN_BODY_RATE").flatMap { Double($0) } ?? 500

    @Option(help: "Seconds in-flight requests get on shutdown ($SWREGISTRY_SHUTDOWN_GRACE).")
    var shutdownGrace: Double = environment("SWREGISTRY_SHUTDOWN_GRACE").flatMap { Double($0) } ?? 10

    @Option(help: "Longest request line in bytes ($SWREGISTRY_MAX_REQUEST_LINE).")
    var maxRequestLine: Int = environment("SWREGISTRY_MAX_REQUEST_LINE").flatMap { Int($0) } ?? 8 * 1024

    @Option(help: "Largest header section in bytes ($SWREGISTRY_MAX_HEADER_BYTES).")
    var maxHeaderBytes: Int = environment("SWREGISTRY_MAX_HEADER_BYTES").flatMap { Int($0) } ?? 64 * 1024

    @Option(help: "Most header fields in a request ($SWREGISTRY_MAX_HEADER_COUNT).")
    var maxHeaderCount: Int = environment("SWREGISTRY_MAX_HEADER_COUNT").flatMap { Int($0) } ?? 128

    @Option(help: "Seconds after its start when an upload session is deleted, however active ($SWREGISTRY_UPLOAD_EXPIRY).")
    var uploadExpiry: Int = environment("SWREGISTRY_UPLOAD_EXPIRY").flatMap { Int($0) } ?? 24 * 3600

    @Option(help: "Seconds an upload session may receive nothing before it is deleted ($SWREGISTRY_UPLOAD_IDLE_TIMEOUT).")
    var uploadIdleTimeout: Int = environment("SWREGISTRY_UPLOAD_IDLE_TIMEOUT").flatMap { Int($0) } ?? 15 * 60

    @Option(help: "Most upload sessions open at once ($SWREGISTRY_MAX_UPLOADS).")
    var maxUploads: Int = environment("SWREGISTRY_MAX_UPLOADS").flatMap { Int($0) } ?? 1000

    // Optional, without a default of its own: the default follows --max-uploads.
    @Option(help: "Most upload sessions open at once per client address; default a tenth of --max-uploads ($SWREGISTRY_MAX_UPLOADS_PER_CLIENT).")
    var maxUploadsPerClient: Int?

    /// The per-client cap from the flag, else from the environment; nil for the default.
    private var uploadsPerClient: Int? {
        maxUploadsPerClient ?? environment("SWREGISTRY_MAX_UPLOADS_PER_CLIENT").flatMap { Int($0) }
    }

    @Option(help: "Largest manifest accepted, in bytes ($SWREGISTRY_MAX_MANIFEST_BYTES).")
    var maxManifestBytes: Int = environment("SWREGISTRY_MAX_MANIFEST_BYTES").flatMap { Int($0) } ?? 4 * 1024 * 1024

    @Option(help: "Largest /v2/_catalog page; a larger n is refused ($SWREGISTRY_CATALOG_MAX_ENTRIES).")
    var catalogMaxEntries: Int = environment("SWREGISTRY_CATALOG_MAX_ENTRIES").flatMap { Int($0) } ?? 1000

    func validate() throws {
        for (name, value) in [("upload-expiry", uploadExpiry), ("upload-idle-timeout", uploadIdleTimeout),
                              ("max-uploads", maxUploads), ("max-uploads-per-client", uploadsPerClient ?? 1),
                              ("max-manifest-bytes", maxManifestBytes), ("catalog-max-entries", catalogMaxEntries)] where value <= 0 {
            throw ValidationError("--\(name) must be positive")
        }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown log level '\(logLevel)'") }
        guard threads > 0, threads <= 256 else { throw ValidationError("--threads must be between 1 and 256") }
        guard maxConnections > 0 else { throw ValidationError("--max-connections must be positive") }
        for (name, value) in [("header", headerTimeout), ("idle", idleTimeout), ("body", bodyTimeout)] where value <= 0 {
            throw ValidationError("--\(name)-timeout must be positive")
        }
        guard minBodyRate >= 0, minBodyRate.isFinite else { throw ValidationError("--min-body-rate must be 0 or more") }
        do { _ = try SocketAddress(parsing: address) } catch { throw ValidationError("--address: \(error)") }
    }

    func run() throws {
        // Block the stop signals before any thread starts, so every thread inherits the mask and only the
        // signal thread below receives them.
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGTERM)
        sigaddset(&signals, SIGINT)
        pthread_sigmask(SIG_BLOCK, &signals, nil)

        let level = Logger.Level(rawValue: logLevel)!
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "swregistry")

        let storeLock: StoreLock
        do {
            try Self.makeStorageFolder(storage)
            storeLock = try StoreLock(layout: Layout(root: storage))
        } catch {
            logger.critical("cannot open the store under \(storage): \(error)")
            throw ExitCode(1)
        }

        var config = ServerConfiguration(address: try SocketAddress(parsing: address), eventLoopCount: threads)
        config.maxConnections = maxConnections
        config.headerTimeout = headerTimeout
        config.idleTimeout = idleTimeout
        config.bodyTimeout = bodyTimeout
        config.minBodyRate = minBodyRate
        // distribution's answer when it cannot serve (503 UNAVAILABLE), with a Retry-After for clients that back off.
        config.overloadResponse = RegistryError(.unavailable, "too many connections", headers: ["Retry-After": "1"])
            .httpResponse
        config.shutdownGrace = shutdownGrace
        config.parser.maxRequestLine = maxRequestLine
        config.parser.maxHeaderBytes = maxHeaderBytes
        config.parser.maxHeaderCount = maxHeaderCount

        let responder: RegistryResponder
        do {
            var registryConfig = RegistryConfiguration(storagePath: storage)
            registryConfig.uploadExpirySeconds = uploadExpiry
            registryConfig.uploadIdleTimeoutSeconds = uploadIdleTimeout
            registryConfig.maxOpenUploads = maxUploads
            registryConfig.maxUploadsPerClient = uploadsPerClient
            registryConfig.maxManifestBytes = maxManifestBytes
            registryConfig.catalogMaxEntries = catalogMaxEntries
            responder = try RegistryResponder(configuration: registryConfig, logger: logger)
        } catch {
            logger.critical("cannot open the store under \(storage): \(error)")
            throw ExitCode(1)
        }
        let server: HTTPServer
        do {
            server = try HTTPServer(configuration: config, responder: responder, logger: logger)
        } catch let error as SystemError where error.errno == EADDRINUSE {
            logger.critical("cannot listen on \(address): another process listens there")
            throw ExitCode(1)
        } catch {
            logger.critical("cannot listen on \(address): \(error)")
            throw ExitCode(1)
        }
        // The bound address on stdout, so scripts that asked for port 0 learn the port.
        print("swregistry listening on \(server.localAddress) storing under \(storage)")
        fflush(nil)

        Thread.start(name: "swr-signals") {
            var received: Int32 = 0
            sigwait(&signals, &received)
            logger.notice("signal \(received): shutting down")
            server.shutdown()
        }
        server.wait()
        withExtendedLifetime(storeLock) {}
        logger.notice("stopped")
    }

    /// Creates the storage folder with its missing parents. The folder itself, when new, is private to the
    /// server's user (0700): it holds every pushed image, and access goes through the API, never the files.
    static func makeStorageFolder(_ path: String) throws(SystemError) {
        var path = path
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        if FileSystem.isDirectory(path) { return }
        try FileSystem.makeDirectories(FileSystem.parent(of: path))
        guard mkdir(path, 0o700) == 0 || errno == EEXIST else { throw SystemError("mkdir \(path)", errno: errno) }
    }
}

private func environment(_ name: String) -> String? {
    getenv(name).map { String(cString: $0) }
}
