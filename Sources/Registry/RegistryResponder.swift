import BlobStore
import Glibc
import HTTPServer
import Logging
import Metrics
import OCIModel
import RegistryAuth
import Synchronization
import SystemIO

/// The registry's HTTP face: routes distribution-spec v1.1 requests to the store and renders the answers.
///
/// Handlers run on the connection's event loop. Cheap reads (a stat, an open, a cached manifest) happen there;
/// anything that syncs, renames or walks directories goes to `pool`.
public final class RegistryResponder: HTTPResponder {
    public let configuration: RegistryConfiguration
    /// Where blobs and metadata live (see `RegistryStorage`): the embedded filesystem store or a composed one.
    public let store: any RegistryStorage
    let pool: BlockingPool
    /// Where credentials that need real work are checked (bcrypt, a token's signature): off the event loops, and
    /// apart from `pool` so that a burst of logins does not hold back store work. Made only for a registry that
    /// starts with security (one that gains it on a reload uses `pool`).
    let authenticationPool: BlockingPool?
    /// Bounds what waits for `authenticationPool` (see `AuthenticationGate`).
    let authenticationGate = AuthenticationGate()
    let logger: Logger
    /// Rendered manifest answers (see `ResponseCache`).
    let responses: ResponseCache
    let metrics: RegistryMetrics
    /// `/readyz`: storage writable, not shutting down (`beginShutdown()` on it when the server stops).
    public let readiness: ReadinessProbe
    /// The security snapshot in force (see `updateSecurity`); read once per request.
    private let securityState: Mutex<RegistrySecurity?>

    /// Opens the filesystem store at `configuration.storagePath` (creating it if needed), which removes the upload
    /// sessions that no client can continue or that expired while the server was down.
    /// - Throws: `SystemError` when the store folders cannot be created.
    public convenience init(configuration: RegistryConfiguration, logger: Logger = Logger(label: "swregistry.registry")) throws {
        let store = try BlobStore(root: configuration.storagePath, uploadLimits: configuration.uploadLimits)
        let removed = store.uploads.removedAtStart
        if removed > 0 { logger.info("removed \(removed) abandoned or expired upload sessions") }
        self.init(configuration: configuration, storage: store, logger: logger)
    }

    /// A registry over the storage it is handed.
    public init(configuration: RegistryConfiguration, storage: any RegistryStorage,
                logger: Logger = Logger(label: "swregistry.registry")) {
        self.configuration = configuration
        self.logger = logger
        securityState = Mutex(configuration.security)
        store = storage
        pool = BlockingPool(threadCount: configuration.blockingThreads)
        metrics = RegistryMetrics(factory: configuration.metricsFactory ?? MetricsSystem.factory)
        responses = ResponseCache()
        readiness = ReadinessProbe(storage: storage, pool: pool)
        authenticationPool = configuration.security == nil ? nil : BlockingPool(threadCount: 2)
        startExpiryTimer()
    }

    /// The embedded filesystem store, when that is the storage (its control socket, statistics, store lock).
    public var fileStore: BlobStore? { store as? BlobStore }

    /// The security in force: authenticators, policy, limits (see `RegistrySecurity`).
    public var security: RegistrySecurity? { securityState.withLock { $0 } }

    /// Puts new security settings in force (a SIGHUP reload): requests that already passed their check finish
    /// under the old ones, every later request is checked against these. nil opens the registry to everyone.
    public func updateSecurity(_ security: RegistrySecurity?) {
        securityState.withLock { $0 = security }
    }

    public func respond(to request: Request, body: RequestBody) async throws -> Response {
        // Open registry: nothing to check, and a cached answer needs no routing.
        guard let security else { return try await answer(request, nil, .open, body: body) }
        // The access check comes first, before the response cache: a cached answer is no less protected. A cached
        // manifest knows its repository, so its check needs no routing.
        let method = request.method
        if method == "GET" || method == "HEAD",
           let entry = responses.entry(request.path, generation: store.metadataGeneration) {
            switch await checkCachedAccess(request, repository: entry.repository, security) {
            case .answer(let response): return response
            case .proceed(let granted):
                metrics.manifestCacheHits.increment()
                var response = method == "HEAD" ? entry.head : entry.get
                response.authenticatedUser = granted.identity.user
                recordManifestPull(entry, request, user: granted.identity.user)
                return response
            }
        }
        let route = Route(path: request.path)
        let access: Access
        switch await checkAccess(request, route, security) {
        case .answer(var response):
            route.describe(into: &response.context)
            return response
        case .proceed(let granted): access = granted
        }
        if route == .token {
            var response = await token(request, body: body, security)
            route.describe(into: &response.context)
            return response
        }
        var response = try await answer(request, route, access, body: body)
        response.authenticatedUser = access.identity.user
        return response
    }

    /// The answer once access is granted: from the response cache, else from the handlers.
    /// - Parameter route: the request's route, when already known.
    private func answer(_ request: Request, _ route: Route?, _ access: Access, body: RequestBody) async throws -> Response {
        let method = request.method
        if method == "GET" || method == "HEAD",
           let entry = responses.entry(request.path, generation: store.metadataGeneration) {
            metrics.manifestCacheHits.increment()
            recordManifestPull(entry, request, user: access.identity.user)
            return method == "HEAD" ? entry.head : entry.get
        }
        let route = route ?? Route(path: request.path)
        var response: Response
        do {
            response = try await self.route(request, route, access, body: body)
        } catch let error as RegistryError {
            response = error.httpResponse
        } catch let error as StoreError {
            if case .io(let e) = error {
                logger.error("\(request.method) \(request.path): storage error: \(e)")
            }
            response = RegistryError(error).httpResponse
        } catch let error as BodyError {
            guard case .tooLarge = error else { throw error }
            response = RegistryError(.sizeInvalid, error.description, status: 413).httpResponse
        }
        route.describe(into: &response.context)
        return response
    }

    private func route(_ request: Request, _ route: Route, _ access: Access, body: RequestBody) async throws -> Response {
        switch route {
        case .health:
            try allow(request, "GET", "HEAD")
            return Response(status: .ok, headers: ["Content-Type": "application/json"], bytes: Array(#"{"status":"ok"}"#.utf8))
        case .ready:
            try allow(request, "GET", "HEAD")
            return await readiness.response()
        case .metrics:
            try allow(request, "GET", "HEAD")
            guard let render = configuration.metricsExposition else { return .text(.notFound, "404 page not found") }
            return Self.metricsResponse(render())
        case .base:
            try allow(request, "GET", "HEAD")
            return Response(status: .ok, headers: Self.apiHeaders, bytes: Array("{}".utf8))
        case .catalog:
            try allow(request, "GET")
            return try await catalog(request, access)
        case .blob(let name, let digest):
            let name = try repositoryName(name)
            let digest = try parseDigest(digest)
            switch request.method {
            case "GET", "HEAD": return try await lookup { try self.getBlob(request, name, digest, access) }
            case "DELETE": return try await deleteBlob(request, name, digest, access)
            default: throw methodNotAllowed(request, "GET, HEAD, DELETE")
            }
        case .uploads(let name):
            let name = try repositoryName(name)
            try allow(request, "POST")
            return try await startUpload(request, name, access, body: body)
        case .upload(let name, let id):
            let name = try repositoryName(name)
            switch request.method {
            case "PATCH": return try await patchUpload(request, name, id, body: body)
            case "PUT": return try await finishUpload(request, name, id, access, body: body)
            case "GET": return try await lookup { try self.uploadStatus(name, id) }
            case "DELETE": return try await lookup { try self.cancelUpload(name, id) }
            default: throw methodNotAllowed(request, "GET, PATCH, PUT, DELETE")
            }
        case .manifest(let name, let reference):
            let name = try repositoryName(name)
            switch request.method {
            case "GET", "HEAD": return try await lookup { try self.getManifest(request, name, reference, access) }
            case "PUT": return try await putManifest(request, name, reference, access, body: body)
            case "DELETE": return try await deleteManifest(request, name, reference, access)
            default: throw methodNotAllowed(request, "GET, HEAD, PUT, DELETE")
            }
        case .tags(let name):
            let name = try repositoryName(name)
            try allow(request, "GET")
            return try await tags(request, name)
        case .referrers(let name, let digest):
            let name = try repositoryName(name)
            let digest = try parseDigest(digest)
            try allow(request, "GET")
            return try await referrers(request, name, digest)
        case .notFound, .token:
            // As distribution does for paths outside the API: a plain 404 (`/token` without a token service too).
            return .text(.notFound, "404 page not found")
        }
    }

    // MARK: - Validation shared by the handlers

    func repositoryName(_ text: some StringProtocol) throws(RegistryError) -> RepositoryName {
        do {
            return try RepositoryName(validating: text)
        } catch {
            throw RegistryError(.nameInvalid, "\(error)")
        }
    }

    func parseDigest(_ text: some StringProtocol) throws(RegistryError) -> Digest {
        do {
            return try Digest(parsing: text)
        } catch {
            throw RegistryError(.digestInvalid, "\(error)")
        }
    }

    private func allow(_ request: Request, _ methods: String...) throws(RegistryError) {
        guard methods.contains(request.method) else {
            throw methodNotAllowed(request, methods.joined(separator: ", "))
        }
    }

    private func methodNotAllowed(_ request: Request, _ allow: String) -> RegistryError {
        RegistryError(.unsupported, "\(request.method) is not supported here", headers: ["Allow": allow])
    }

    /// Runs blocking store work on the pool.
    func blocking<T: Sendable>(_ body: @escaping @Sendable () throws(StoreError) -> T) async throws -> T {
        try await pool.run { () throws -> T in try body() }
    }

    /// Runs a handler whose storage lookups are cheap enough for the event loop when the storage says so (a
    /// `stat`, a cache hit), and on the blocking pool otherwise (a database over the network).
    func lookup<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        if store.isCheapOnEventLoop { return try body() }
        return try await pool.run(body)
    }

    /// Sweeps expired upload sessions from time to time, to give their space back. (A full registry does
    /// not wait for it: starting a session expires idle ones itself before refusing one.)
    private func startExpiryTimer() {
        let limits = store.uploadLimits
        let interval = UInt64(max(1, min(limits.idleTimeout / 4, limits.maxAge / 4, 300)))
        let uploads = store
        let logger = logger
        let pool = pool
        Task.detached { [weak self] in
            while self != nil {
                try? await Task.sleep(nanoseconds: interval * 1_000_000_000)
                guard self != nil else { return }
                let removed = (try? await pool.run { uploads.expireUploads() }) ?? 0
                if removed > 0 { logger.info("removed \(removed) expired upload sessions") }
            }
        }
    }

    /// The `/metrics` answer for an exposition in Prometheus' text format 0.0.4.
    public static func metricsResponse(_ exposition: [UInt8]) -> Response {
        Response(status: .ok, headers: metricsHeaders, body: .bytes(exposition))
    }

    private static let metricsHeaders = HTTPHeaders([
        ("Content-Type", "text/plain; version=0.0.4; charset=utf-8"), ("Cache-Control", "no-store"),
    ]).prepared()

    /// Headers of every API response.
    static let apiHeaders = HTTPHeaders([
        ("Content-Type", "application/json"),
        ("Docker-Distribution-API-Version", "registry/2.0"),
    ]).prepared()

    /// API headers plus more.
    static func headers(_ extra: (String, String)...) -> HTTPHeaders {
        var all = apiHeaders
        for (name, value) in extra { all.set(name, value) }
        return all
    }
}
