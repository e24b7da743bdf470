import ArgumentParser
import BlobStore
import Glibc
import HTTPServer
import Logging
import Registry
import RegistryConfig
import RegistryNotifications
import SystemIO

/// `swregistry serve`: binds, serves until SIGTERM or SIGINT, then shuts down gracefully and exits 0; SIGHUP
/// re-reads the configuration.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the registry API.",
        discussion: """
            Settings come from the table of keys in the README: a YAML file (--config or $SWREGISTRY_CONFIG), then \
            $SWREGISTRY_<KEY> variables (for example SWREGISTRY_HTTP_TLS_CERTIFICATE), then the flags below; a \
            later source wins. On SIGTERM or SIGINT the server stops accepting, lets requests in flight finish \
            within the grace period, and exits 0. On SIGHUP it re-reads the configuration: a valid one is applied \
            (log level, credentials, policies, certificates), an invalid one is logged and the running one kept.
            """
    )

    @Option(help: "YAML configuration file ($SWREGISTRY_CONFIG).")
    var config: String?

    // Each flag sets one key of the table; its default, variables and help live there (see `ConfigKey`).
    @Option(help: flagHelp(.httpAddr)) var address: String?
    @Option(help: flagHelp(.storageRoot)) var storage: String?
    @Option(help: flagHelp(.httpThreads)) var threads: String?
    @Option(help: flagHelp(.logLevel)) var logLevel: String?
    @Option(help: flagHelp(.logFormatter)) var logFormatter: String?
    @Option(help: flagHelp(.httpMaxConnections)) var maxConnections: String?
    @Option(help: flagHelp(.httpHeaderTimeout)) var headerTimeout: String?
    @Option(help: flagHelp(.httpIdleTimeout)) var idleTimeout: String?
    @Option(help: flagHelp(.httpBodyTimeout)) var bodyTimeout: String?
    @Option(help: flagHelp(.httpMinBodyRate)) var minBodyRate: String?
    @Option(help: flagHelp(.httpShutdownGrace)) var shutdownGrace: String?
    @Option(help: flagHelp(.httpMaxRequestLine)) var maxRequestLine: String?
    @Option(help: flagHelp(.httpMaxHeaderBytes)) var maxHeaderBytes: String?
    @Option(help: flagHelp(.httpMaxHeaderCount)) var maxHeaderCount: String?
    @Option(help: flagHelp(.uploadExpiry)) var uploadExpiry: String?
    @Option(help: flagHelp(.uploadIdleTimeout)) var uploadIdleTimeout: String?
    @Option(help: flagHelp(.uploadsMax)) var maxUploads: String?
    @Option(help: flagHelp(.uploadsMaxPerClient)) var maxUploadsPerClient: String?
    @Option(help: flagHelp(.maxManifestBytes)) var maxManifestBytes: String?
    @Option(help: flagHelp(.catalogMaxEntries)) var catalogMaxEntries: String?
    @Option(help: flagHelp(.httpDebugAddr)) var debugAddress: String?
    @Option(help: flagHelp(.metricsEnabled)) var metricsEnabled: String?

    /// The flags given, by the name the table knows them by.
    var givenFlags: [(name: String, value: String)] {
        let values: [(ConfigKey, String?)] = [
            (.httpAddr, address), (.storageRoot, storage), (.httpThreads, threads), (.logLevel, logLevel),
            (.logFormatter, logFormatter),
            (.httpMaxConnections, maxConnections), (.httpHeaderTimeout, headerTimeout), (.httpIdleTimeout, idleTimeout),
            (.httpBodyTimeout, bodyTimeout), (.httpMinBodyRate, minBodyRate), (.httpShutdownGrace, shutdownGrace),
            (.httpMaxRequestLine, maxRequestLine), (.httpMaxHeaderBytes, maxHeaderBytes),
            (.httpMaxHeaderCount, maxHeaderCount), (.uploadExpiry, uploadExpiry),
            (.uploadIdleTimeout, uploadIdleTimeout), (.uploadsMax, maxUploads),
            (.uploadsMaxPerClient, maxUploadsPerClient), (.maxManifestBytes, maxManifestBytes),
            (.catalogMaxEntries, catalogMaxEntries), (.httpDebugAddr, debugAddress), (.metricsEnabled, metricsEnabled),
        ]
        return values.compactMap { key, value in value.map { (key.flag!, $0) } }
    }

    func run() throws {
        // Block the stop signals and SIGHUP before any thread starts, so every thread inherits the mask and only
        // the signal thread below receives them.
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGTERM)
        sigaddset(&signals, SIGINT)
        sigaddset(&signals, SIGHUP)
        pthread_sigmask(SIG_BLOCK, &signals, nil)

        let source = ConfigurationSource(file: config, flags: givenFlags)
        let configuration = try source.loadOrExit()
        // From here on every log line, and the access log, goes through one writer thread to standard error;
        // `stop` at the end writes what is still queued, so no line of a finished exchange is lost at exit.
        let logWriter = LogLevelControl.bootstrap(level: configuration.logLevel, format: configuration.logFormat)
        defer { logWriter.stop() }
        let logger = Logger(label: "swregistry")
        let storage = Self.describe(configuration.storageBackend)

        // One server per filesystem store; replicas over S3 + PostgreSQL share their storage on purpose (the
        // database keeps their changes apart), so they take no lock.
        var storeLock: StoreLock?
        if case .filesystem(let path) = configuration.storageBackend {
            do {
                try Self.makeStorageFolder(path)
                storeLock = try StoreLock(layout: Layout(root: path))
            } catch {
                logger.critical("cannot open the store under \(path): \(error)")
                throw ExitCode(1)
            }
        }

        var serverConfig = try configuration.serverConfiguration()
        // distribution's answer when it cannot serve (503 UNAVAILABLE), with a Retry-After for clients that back off.
        serverConfig.overloadResponse = RegistryError(.unavailable, "too many connections", headers: ["Retry-After": "1"])
            .httpResponse
        if configuration.bool(.accessLogDisabled) != true {
            // Access lines are info lines: `log.level` above info (also after a SIGHUP) turns them off.
            serverConfig.observers.append(AccessLog(writer: logWriter) { LogLevelControl.shared.level <= .info })
        }
        var registryConfig = configuration.registryConfiguration()
        // One Prometheus registry for the process, bootstrapped before anything makes a swift-metrics handle.
        let metrics = configuration.bool(.metricsEnabled) == false ? nil : MetricsExporter()
        if let metrics {
            metrics.bootstrap()
            registryConfig.metricsExposition = { metrics.render() }
            serverConfig.observers.append(metrics.requests)
        }
        do {
            try Self.installSecurity(configuration, server: &serverConfig, registry: &registryConfig, logger: logger)
        } catch {
            throw Self.configurationFailure(error)
        }

        let notifier: Notifier?
        do {
            notifier = try Self.makeNotifier(configuration)
        } catch {
            logger.critical("cannot open the events' queues under \(configuration.notificationQueueSettings.directory): \(error)")
            throw ExitCode(1)
        }
        registryConfig.events = notifier

        let responder: RegistryResponder
        do {
            let store = try makeStorage(configuration, registry: registryConfig, logger: logger)
            if let removed = (store as? BlobStore)?.uploads.removedAtStart, removed > 0 {
                logger.info("removed \(removed) abandoned or expired upload sessions")
            }
            responder = RegistryResponder(configuration: registryConfig, storage: store, logger: logger)
        } catch {
            logger.critical("cannot open the storage (\(storage)): \(error)")
            throw ExitCode(1)
        }
        if let metrics, let store = responder.fileStore {
            metrics.attach(store: store)
            store.statistics.startCounting(store.layout)
        }
        let address = configuration.string(.httpAddr)!
        let server: HTTPServer
        do {
            server = try HTTPServer(configuration: serverConfig, responder: responder, logger: logger)
        } catch let error as SystemError where error.errno == EADDRINUSE {
            logger.critical("cannot listen on \(address): another process listens there")
            throw ExitCode(1)
        } catch {
            logger.critical("cannot listen on \(address): \(error)")
            throw ExitCode(1)
        }
        // Store commands (`swregistry verify`, `du`, `gc`) run in this process while it holds the store.
        let control = ControlSocket.startForServer(responder: responder, configuration: configuration, logger: logger)
        if !configuration.security.authenticationConfigured && !Self.isLoopback(server.localAddress) {
            logger.warning("""
                LISTENING ON \(server.localAddress) WITHOUT AUTHENTICATION: anyone who can reach this address may \
                pull, push and delete every image. Set auth.htpasswd or auth.token (see the README).
                """)
        }
        metrics?.attach(connectionCount: { server.connectionCount })
        let debugServer: HTTPServer?
        do {
            debugServer = try Self.startDebugListener(configuration, metrics: metrics, readiness: responder.readiness,
                                                     logger: logger)
        } catch {
            logger.critical("cannot listen on \(configuration.string(.httpDebugAddr) ?? "") (http.debug.addr): \(error)")
            server.shutdown(grace: 0)
            server.wait()
            throw ExitCode(1)
        }
        notifier?.start(source: EventSource(addr: Self.hostName() + ":\(server.localAddress.port)"))
        // The bound address on stdout, so scripts that asked for port 0 learn the port.
        print("swregistry listening on \(server.localAddress) storing \(storage)")
        if let debugServer { print("swregistry debug listener on \(debugServer.localAddress)") }
        fflush(nil)

        if let store = responder.fileStore {
            GCScheduler.start(store: store, setLinkRefresh: { store.linkRefreshSeconds.store($0, ordering: .relaxed) },
                              options: configuration.gcOptions, intervalSeconds: configuration.gcIntervalSeconds,
                              logger: Logger(label: "swregistry.gc"))
        } else {
            ScaleOut.startCollection(responder.store, options: configuration.gcOptions,
                                     intervalSeconds: configuration.gcIntervalSeconds, logger: Logger(label: "swregistry.gc"))
        }

        let reloader = Reloader(source: source, running: configuration, server: server, responder: responder, logger: logger)
        Thread.start(name: "swr-signals") {
            while true {
                var received: Int32 = 0
                sigwait(&signals, &received)
                if received == SIGHUP {
                    reloader.reload()
                    continue
                }
                logger.notice("signal \(received): shutting down")
                // Not ready from now on, so that a load balancer stops sending while requests in flight finish.
                responder.readiness.beginShutdown()
                server.shutdown()
                return
            }
        }
        server.wait()
        control?.stop()
        // The debug listener answers until the main one has stopped: /readyz says 503 during the grace period.
        debugServer?.shutdown(grace: 0)
        debugServer?.wait()
        // After the last request: every event is in its queue on disk before the process ends.
        notifier?.stop()
        // The metadata log's changes into the tree for good: the next start has nothing to replay.
        if let store = responder.fileStore {
            do { try store.checkpoint() } catch { logger.error("checkpoint of the store's metadata log: \(error)") }
        }
        withExtendedLifetime(storeLock) {}
        logger.notice("stopped")
    }

    /// Where the registry stores, for the start-up line and errors (no credentials).
    static func describe(_ backend: StorageBackend) -> String {
        switch backend {
        case .filesystem(let path):
            return "under \(path)"
        case .scaleOut(let s3, let database):
            let prefix = s3.rootDirectory.isEmpty ? "" : "/" + s3.rootDirectory
            return "in s3 \(s3.endpoint) bucket \(s3.bucket)\(prefix) and postgresql \(database.host):\(database.port)/\(database.dbname)"
        }
    }

    /// Prints what is wrong with the configuration (each problem on a line of its own) and gives the exit status.
    static func configurationFailure(_ error: any Error) -> ExitCode {
        if let errors = error as? ConfigErrors {
            for problem in errors.errors { printError("swregistry: \(problem)") }
        } else {
            printError("swregistry: \(error)")
        }
        return ExitCode(1)
    }

    /// The events' notifier, when an endpoint is configured and enabled; nil leaves events off entirely.
    static func makeNotifier(_ configuration: Configuration) throws(SystemError) -> Notifier? {
        let endpoints = configuration.notificationEndpoints.filter { !$0.disabled }
        guard !endpoints.isEmpty else { return nil }
        return try Notifier(endpoints: endpoints, settings: configuration.notificationQueueSettings,
                            logger: Logger(label: "swregistry.events"))
    }

    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func isLoopback(_ address: SocketAddress) -> Bool {
        let host = address.host
        return host.hasPrefix("127.") || host == "::1" || host == "localhost"
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

/// A flag's help: the key's help, the key it sets and its variables (the default is in the README and in
/// `swregistry config print`).
func flagHelp(_ key: ConfigKey) -> ArgumentHelp {
    let variables = key.variables.map { "$" + $0 }.joined(separator: ", ")
    let fallback = key.defaultValue.map { "\($0)" } ?? key.defaultText ?? "none"
    return ArgumentHelp("\(key.help) Key \(key.path), \(variables); default \(fallback).")
}
