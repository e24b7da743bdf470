import CCurl
import Foundation
import Logging
import OCIModel

/// Talks the distribution API to one registry over a shared ``TransferEngine``: manifests, blobs (verified,
/// resumable), uploads (streamed or chunked, resumable), mounts, tag and catalog listings.
///
/// Every request goes through the same layers: the base URL (https, or http for an insecure registry that has no
/// TLS), authentication (Bearer tokens per scope, or Basic) and retries with backoff. Errors are
/// ``RegistryClientError``s naming the registry, repository, object and the registry's OCI error codes.
public final class RegistryClient: Sendable {
    /// `host[:port]` as given (without a scheme).
    public let registry: String
    /// The host the API is served from: `registry`, except Docker Hub's `docker.io`, served by
    /// `registry-1.docker.io` (credentials are still looked up under `docker.io`).
    let endpoint: String
    let options: ClientOptions
    let engine: TransferEngine
    let state: AuthState
    let policy: RetryPolicy
    let settings: Result<TransferSettings, RegistryClientError>
    let credentialSource: CredentialSource

    /// Makes a client; nothing is sent until the first call.
    /// - Parameters:
    ///   - registry: `host[:port]`; an `https://` or `http://` prefix fixes the scheme.
    ///   - options: TLS, credentials, retries, chunking.
    ///   - engine: The engine that performs the transfers (one per process is enough).
    public init(registry: String, options: ClientOptions, engine: TransferEngine) {
        var host = registry
        var scheme: String?
        for prefix in ["https://", "http://"] where host.hasPrefix(prefix) {
            scheme = String(prefix.dropLast(3))
            host = String(host.dropFirst(prefix.count))
        }
        while host.hasSuffix("/") { host.removeLast() }
        if scheme == nil && options.tlsVerify { scheme = "https" }
        self.registry = host
        endpoint = host == "docker.io" || host == "index.docker.io" ? "registry-1.docker.io" : host
        self.options = options
        self.engine = engine
        state = AuthState(scheme: scheme)
        policy = RetryPolicy(options: options)
        let name = host
        settings = Result { () throws(RegistryClientError) -> TransferSettings in
            let files: TLSFiles
            do {
                files = try TLSFiles.load(directory: options.certDirectory)
            } catch {
                throw RegistryClientError(kind: .local, operation: "load TLS files", registry: name, message: "\(error)")
            }
            return TransferSettings(
                userAgent: options.userAgent, tlsVerify: options.tlsVerify, caBundle: files.caBundle,
                clientCertificate: files.clientCertificate, clientKey: files.clientKey,
                connectTimeoutMilliseconds: Int(options.connectTimeout.components.seconds * 1000
                    + options.connectTimeout.components.attoseconds / 1_000_000_000_000_000),
                stallSeconds: max(1, Int(options.stallTimeout.components.seconds)))
        }
        credentialSource = CredentialSource(registry: name, options: options)
    }

    // MARK: - Ping

    /// `GET /v2/`: finds the scheme (https, or http when TLS is not verified and https fails) and, if the registry
    /// asks for it, authenticates (so wrong credentials fail here).
    /// - Throws: ``RegistryClientError``: `.authentication` for refused credentials, `.transport` when the
    ///   registry cannot be reached.
    public func ping() async throws {
        let context = OperationContext("ping", object: "/v2/")
        let response = try await send("GET", "/v2/", scopes: [], context: context)
        guard response.status == 200 else { throw httpError(response, context) }
    }

    // MARK: - Request funnel

    /// The registry's origin, `scheme://host[:port]`.
    func origin() async throws -> String {
        let scheme = try await state.scheme { [self] in try await probeScheme() }
        return scheme + "://" + endpoint
    }

    /// For a client that does not verify TLS: https if a TLS connection can be made, else http (as skopeo does
    /// for insecure registries). A client that verifies TLS never gets here.
    private func probeScheme() async throws -> String {
        var retry = 0
        while true {
            do {
                return try await probeSchemeOnce()
            } catch let failure as RegistryClientError where failure.kind == .transport && retry < policy.retries {
                // Neither https nor http answered: the registry may be restarting.
                retry += 1
                let delay = policy.delay(retry: retry)
                note(OperationContext("ping", object: "/v2/"), "\(failure.message); retry \(retry)/\(policy.retries) in \(delay)")
                try await pause(delay, OperationContext("ping", object: "/v2/"))
            }
        }
    }

    private func probeSchemeOnce() async throws -> String {
        let settings = try settings.get()
        var probeSettings = settings
        // A plain-HTTP server may sit silent on a ClientHello; do not wait the whole connect timeout for it.
        probeSettings.connectTimeoutMilliseconds = min(settings.connectTimeoutMilliseconds, 10_000)
        let probe = ClientRequest(method: "GET", url: "https://\(endpoint)/v2/", settings: probeSettings)
        do {
            _ = try await engine.perform(probe)
            return "https"
        } catch let error as TransportError {
            if error.abort != nil { throw clientError(error, OperationContext("ping", object: "/v2/")) }
            let plain = ClientRequest(method: "GET", url: "http://\(endpoint)/v2/", settings: settings)
            do {
                _ = try await engine.perform(plain)
                return "http"
            } catch let plainError as TransportError {
                throw clientError(plainError, OperationContext("ping", object: "/v2/"), note: "https failed too: \(error)")
            }
        }
    }

    /// Makes a request for `target`: a path (`/v2/…`) on the registry, or an absolute URL (a `Location`).
    func makeRequest(_ method: String, _ target: String) async throws -> ClientRequest {
        let url = target.contains("://") ? target : try await origin() + target
        return ClientRequest(method: method, url: url, settings: try settings.get())
    }

    /// Sends a request with authentication and retries; returns the final answer whatever its status (the
    /// caller decides what is an error), after retrying connection failures, 408, 429 and 5xx.
    func send(_ method: String, _ target: String, headers: [(String, String)] = [], body: ClientRequest.Body = .none,
              scopes: [String], context: OperationContext, memoryLimit: Int = 1 << 20,
              uploadProgress: TransferProgress? = nil) async throws -> ClientResponse {
        var request = try await makeRequest(method, target)
        for (name, value) in headers { request.setHeader(name, value) }
        request.body = body
        request.memoryLimit = memoryLimit
        request.uploadProgress = uploadProgress
        return try await sendWithRetries(request, scopes: scopes, context: context)
    }

    /// The retry layer over ``exchange(_:scopes:sink:context:)``.
    func sendWithRetries(_ request: ClientRequest, scopes: [String], context: OperationContext,
                         authenticate: Bool = true) async throws -> ClientResponse {
        var retry = 0
        while true {
            do {
                let response = authenticate
                    ? try await exchange(request, scopes: scopes, sink: nil, context: context)
                    : try await engine.perform(request)
                if RetryPolicy.isRetryable(status: response.status), retry < policy.retries {
                    retry += 1
                    let delay = policy.delay(retry: retry, retryAfter: RetryPolicy.retryAfter(response))
                    note(context, "HTTP \(response.status); retry \(retry)/\(policy.retries) in \(delay)")
                    try await pause(delay, context)
                    continue
                }
                return response
            } catch let error as TransportError {
                if error.isRetryable, retry < policy.retries {
                    retry += 1
                    let delay = policy.delay(retry: retry)
                    note(context, "\(error); retry \(retry)/\(policy.retries) in \(delay)")
                    try await pause(delay, context)
                    continue
                }
                throw clientError(error, context)
            }
        }
    }

    /// Sleeps before a retry; a cancelled task stops waiting.
    func pause(_ delay: Duration, _ context: OperationContext) async throws {
        do {
            try await Task.sleep(for: delay)
        } catch {
            throw RegistryClientError(kind: .cancelled, operation: context.operation, registry: registry,
                                      repository: context.repository, object: context.object, message: "cancelled")
        }
    }

    // MARK: - Errors

    /// The error for an unexpected answer: its status and the OCI errors of its body, if it has them.
    func httpError(_ response: ClientResponse, _ context: OperationContext, note: String = "") -> RegistryClientError {
        let decoded = (try? OCIErrorResponse(decoding: response.body))?.errors ?? []
        var message = note
        if decoded.isEmpty, !response.body.isEmpty {
            // Not an OCI error body (a proxy's HTML page, plain text): show its start.
            let text = String(decoding: response.body.prefix(200), as: UTF8.self)
                .split(whereSeparator: \.isNewline).joined(separator: " ")
            message = message.isEmpty ? text : message + ": " + text
        }
        let kind: RegistryClientError.Kind = response.status == 401 || response.status == 403 ? .authentication : .http
        return RegistryClientError(kind: kind, operation: context.operation, registry: registry,
                                   repository: context.repository, object: context.object,
                                   status: response.status, errors: decoded, message: message)
    }

    /// The error for a transfer that got no answer.
    func clientError(_ error: TransportError, _ context: OperationContext, note: String = "") -> RegistryClientError {
        let kind: RegistryClientError.Kind = switch error.abort {
        case .cancelled?, .engineShutDown?: .cancelled
        case .bodyTooLarge?: .integrity
        case .readFailed?: .local
        default: .transport
        }
        let message = note.isEmpty ? error.description : "\(error.description) (\(note))"
        return RegistryClientError(kind: kind, operation: context.operation, registry: registry,
                                   repository: context.repository, object: context.object, message: message)
    }

    /// Reports a recovery (retry, resume, restart) to the options' logger.
    func note(_ context: OperationContext, _ what: String) {
        guard let logger = options.logger else { return }
        var metadata: Logger.Metadata = ["registry": .string(registry)]
        if let repository = context.repository { metadata["repository"] = .string(repository) }
        if let object = context.object { metadata["object"] = .string(object) }
        logger.notice("\(context.operation): \(what)", metadata: metadata)
    }

    func error(_ kind: RegistryClientError.Kind, _ context: OperationContext, _ message: String,
               status: Int? = nil) -> RegistryClientError {
        RegistryClientError(kind: kind, operation: context.operation, registry: registry,
                            repository: context.repository, object: context.object, status: status, message: message)
    }
}
