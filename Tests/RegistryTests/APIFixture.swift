import BlobStore
import Foundation
import Glibc
import HTTPServer
import Logging
import OCIModel
import Registry
import SystemIO
import Testing
import TestSupport

/// A registry served in-process on 127.0.0.1:0 over a fresh store, for black-box API tests.
///
/// The store lives at `<sandbox>/store`, where `<sandbox>` is a new folder of its own: hostile tests check that
/// the sandbox holds nothing but `store` afterwards, i.e. that no request wrote outside the storage path.
final class RegistryFixture {
    /// The folder that holds the store and nothing else.
    let sandbox: String
    /// The registry's `storagePath`.
    let storagePath: String
    let configuration: RegistryConfiguration
    private(set) var server: HTTPServer
    private(set) var responder: RegistryResponder
    var port: UInt16 { server.localAddress.port }
    private var stopped = false
    /// Sent as `Authorization` with every request that has none of its own (the helpers below push with it).
    var authorization: String?
    /// With `SWREGISTRY_TEST_AUTH=token` in the environment, the registry runs with the built-in token service and
    /// `request` answers each 401 as a Docker client does: a token for the challenge's scope, then the request again
    /// (so the conformance suites run with token authentication on, as they run without it).
    private var tokenClient: TokenClient?
    /// Told of every exchange (request metrics).
    private let observers: [any ExchangeObserver]
    /// The scale-out backend, when the environment asks for it (see `ScaleOutTestStorage`).
    private let scaleOut: ScaleOutTestStorage?

    /// Starts a registry.
    /// - Parameter configure: Adjusts the configuration (limits) before the responder is made.
    init(observers: [any ExchangeObserver] = [], configure: (inout RegistryConfiguration) -> Void = { _ in }) throws {
        self.observers = observers
        sandbox = "/tmp/swr-apitest-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        guard mkdir(sandbox, 0o700) == 0 else { throw FixtureError("mkdir \(sandbox): errno \(errno)") }
        storagePath = sandbox + "/store"
        guard mkdir(storagePath, 0o700) == 0 else { throw FixtureError("mkdir \(storagePath): errno \(errno)") }
        var config = RegistryConfiguration(storagePath: storagePath)
        configure(&config)
        if config.security == nil, ProcessInfo.processInfo.environment["SWREGISTRY_TEST_AUTH"] == "token" {
            // Beside the sandbox, not in it: hostile tests check the sandbox holds nothing but the store.
            let client = try TokenClient(folder: sandbox + "-auth")
            config.security = client.security
            tokenClient = client
        }
        configuration = config
        do {
            scaleOut = ScaleOutTestStorage.isRequested ? try ScaleOutTestStorage(uploadLimits: config.uploadLimits) : nil
            (server, responder) = try Self.makeServer(config, storage: scaleOut?.storage, observers: observers)
        } catch {
            removeTree(sandbox)
            throw error
        }
    }

    private static func makeServer(_ config: RegistryConfiguration, storage: (any RegistryStorage)?,
                                   observers: [any ExchangeObserver]) throws -> (HTTPServer, RegistryResponder) {
        var quiet = Logger(label: "api-test")
        quiet.logLevel = .critical
        let responder = if let storage {
            RegistryResponder(configuration: config, storage: storage, logger: quiet)
        } else {
            try RegistryResponder(configuration: config, logger: quiet)
        }
        var settings = ServerConfiguration(address: try SocketAddress(parsing: "127.0.0.1:0"), eventLoopCount: 2)
        settings.observers = observers
        let server = try HTTPServer(configuration: settings, responder: responder, logger: quiet)
        return (server, responder)
    }

    /// Stops the server and starts a new one over the same store (on a new port).
    func restart() throws {
        server.shutdown(grace: 1)
        server.wait()
        (server, responder) = try Self.makeServer(configuration, storage: scaleOut?.storage, observers: observers)
    }

    /// Stops the server and deletes the sandbox; safe to call twice.
    func stop() {
        guard !stopped else { return }
        stopped = true
        server.shutdown(grace: 1)
        server.wait()
        removeTree(sandbox)
        if tokenClient != nil { removeTree(sandbox + "-auth") }
        scaleOut?.remove()
    }

    deinit { stop() }

    // MARK: - Requests

    /// Sends one request on a new connection and reads the response.
    /// - Parameter source: the loopback address to connect from (another client), nil for 127.0.0.1.
    func request(_ method: String, _ target: String, headers: [(String, String)] = [],
                 body: [UInt8] = [], from source: String? = nil) throws -> TestClient.Response {
        let client = try TestClient(port: port, timeoutSeconds: 20, source: source)
        var headers = headers
        if let authorization, !headers.contains(where: { $0.0.lowercased() == "authorization" }) {
            headers.append(("Authorization", authorization))
        }
        guard let tokenClient, !headers.contains(where: { $0.0.lowercased() == "authorization" }) else {
            return try client.request(method, target, headers: headers, body: body)
        }
        let first = try client.request(method, target, headers: headers + tokenClient.headers, body: body)
        guard first.status == 401, let challenge = first.header("WWW-Authenticate"), challenge.hasPrefix("Bearer ") else {
            return first
        }
        try tokenClient.fetchToken(port: port, challenge: challenge)
        return try TestClient(port: port, timeoutSeconds: 20, source: source)
            .request(method, target, headers: headers + tokenClient.headers, body: body)
    }

    /// Whether the registry runs with the built-in token service (`SWREGISTRY_TEST_AUTH=token`).
    var isTokenMode: Bool { tokenClient != nil }

    /// The `Authorization` header of the last token fetched in token mode (for raw `TestClient` requests), else none.
    var authorizationHeaders: [(String, String)] { tokenClient?.headers ?? [] }

    /// Starts an upload session (`POST /v2/<repo>/blobs/uploads/`); returns the upload URL as a request-target.
    func startUpload(_ repo: String) throws -> String {
        let response = try request("POST", "/v2/\(repo)/blobs/uploads/")
        guard response.status == 202, let location = response.header("Location") else {
            throw FixtureError("POST /v2/\(repo)/blobs/uploads/ answered \(response.status) \(response.text)")
        }
        return requestTarget(location)
    }

    /// Pushes a blob monolithically: `POST` then `PUT <location>?digest=` with the whole body.
    /// - Returns: The blob's SHA-256 digest.
    @discardableResult
    func pushBlob(_ repo: String, _ bytes: [UInt8]) throws -> Digest {
        let digest = Digest.sha256(of: bytes)
        let location = try startUpload(repo)
        let response = try request("PUT", appendingQuery(location, "digest=\(digest)"),
                                   headers: [("Content-Type", "application/octet-stream")], body: bytes)
        guard response.status == 201 else {
            throw FixtureError("PUT \(location)?digest=\(digest) answered \(response.status) \(response.text)")
        }
        return digest
    }

    /// Pushes a blob and returns it as a descriptor with `mediaType`.
    func pushDescriptor(_ repo: String, _ bytes: [UInt8], mediaType: String) throws -> Desc {
        let digest = try pushBlob(repo, bytes)
        return Desc(mediaType: mediaType, digest: digest, size: bytes.count)
    }

    /// `PUT /v2/<repo>/manifests/<reference>` with `Content-Type: <mediaType>`; returns the raw response.
    func putManifest(_ repo: String, _ reference: String, _ bytes: [UInt8], mediaType: String) throws -> TestClient.Response {
        try request("PUT", "/v2/\(repo)/manifests/\(reference)", headers: [("Content-Type", mediaType)], body: bytes)
    }

    /// Pushes a manifest and requires 201.
    /// - Returns: The manifest as a descriptor (its digest is computed over `bytes`).
    @discardableResult
    func pushManifest(_ repo: String, _ reference: String, _ bytes: [UInt8], mediaType: String) throws -> Desc {
        let response = try putManifest(repo, reference, bytes, mediaType: mediaType)
        guard response.status == 201 else {
            throw FixtureError("PUT /v2/\(repo)/manifests/\(reference) answered \(response.status) \(response.text)")
        }
        return Desc(mediaType: mediaType, digest: Digest.sha256(of: bytes), size: bytes.count)
    }

    /// Pushes a config and `layerCount` layers into `repo`, then an OCI image manifest referencing them.
    /// - Parameters:
    ///   - reference: The tag (or `nil` to push by digest).
    ///   - seed: Makes the content (and so every digest) distinct per call.
    func pushImage(_ repo: String, tag reference: String?, seed: String, layerCount: Int = 2) throws -> PushedManifest {
        let config = try pushDescriptor(repo, Array(#"{"architecture":"amd64","os":"linux","seed":"\#(seed)"}"#.utf8),
                                        mediaType: MediaType.ociConfig.rawValue)
        var layers: [Desc] = []
        for i in 0..<layerCount {
            layers.append(try pushDescriptor(repo, testBytes(100 + i * 37, seed: "\(seed)-layer-\(i)"),
                                             mediaType: MediaType.ociLayerGzip.rawValue))
        }
        let bytes = ManifestJSON.image(config: config, layers: layers)
        let desc = try pushManifest(repo, reference ?? Digest.sha256(of: bytes).description, bytes,
                                    mediaType: MediaType.ociManifest.rawValue)
        return PushedManifest(bytes: bytes, desc: desc, config: config, layers: layers)
    }

    /// Follows every `Link: <…>; rel="next"` from `target`, returning each page's response.
    func pages(_ target: String, limit: Int = 50) throws -> [TestClient.Response] {
        var result: [TestClient.Response] = []
        var next: String? = target
        while let current = next, result.count < limit {
            let response = try request("GET", current)
            result.append(response)
            guard response.status == 200 else { break }
            next = nextLink(response)
        }
        return result
    }

    // MARK: - Sandbox inspection

    /// Names in the sandbox folder; `["store"]` when nothing escaped the store.
    func sandboxEntries() -> [String] { directoryEntries(sandbox) }
}

// MARK: - Values

struct FixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A descriptor as the tests write it into manifests.
struct Desc: Hashable {
    var mediaType: String
    var digest: Digest
    var size: Int
}

struct PushedManifest {
    var bytes: [UInt8]
    var desc: Desc
    var config: Desc
    var layers: [Desc]
    var digest: Digest { desc.digest }
}

/// `GET /v2/<name>/tags/list` body.
struct TagList: Decodable {
    var name: String
    var tags: [String]?
}

/// `GET /v2/_catalog` body.
struct CatalogList: Decodable {
    var repositories: [String]?
}

/// The image index the referrers API answers.
struct ReferrersIndex: Decodable {
    struct Entry: Decodable, Equatable {
        var mediaType: String
        var digest: String
        var size: Int
        var artifactType: String?
        var annotations: [String: String]?
    }

    var schemaVersion: Int
    var mediaType: String?
    var manifests: [Entry]?
}

func decodeJSON<T: Decodable>(_ type: T.Type, _ response: TestClient.Response) throws -> T {
    do {
        return try JSONDecoder().decode(type, from: Data(response.body))
    } catch {
        throw FixtureError("cannot decode \(type) from \(response.status) \(response.text): \(error)")
    }
}

/// Deterministic test content.
func testBytes(_ count: Int, seed: String) -> [UInt8] {
    var state: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in seed.utf8 { state = (state ^ UInt64(byte)) &* 0x100_0000_01b3 }
    var out: [UInt8] = []
    out.reserveCapacity(count)
    for _ in 0..<count {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        out.append(UInt8(truncatingIfNeeded: state))
    }
    return out
}

/// Manifests written by hand, with deliberate spacing, so that "exact bytes" is really tested.
enum ManifestJSON {
    static func descriptor(_ d: Desc, extra: String = "") -> String {
        #"{ "mediaType": "\#(d.mediaType)", "digest": "\#(d.digest)", "size": \#(d.size)\#(extra) }"#
    }

    static func annotationsJSON(_ annotations: [(String, String)]) -> String {
        "{" + annotations.map { #""\#($0.0)": "\#($0.1)""# }.joined(separator: ", ") + "}"
    }

    /// An image manifest (OCI by default; pass the Docker v2s2 media type for a Docker manifest).
    static func image(mediaType: String = MediaType.ociManifest.rawValue, config: Desc, layers: [Desc],
                      artifactType: String? = nil, subject: Desc? = nil, annotations: [(String, String)] = [],
                      padding: Int = 0) -> [UInt8] {
        var text = "{\n   \"schemaVersion\": 2,\n   \"mediaType\": \"\(mediaType)\",\n"
        if let artifactType { text += "   \"artifactType\": \"\(artifactType)\",\n" }
        text += "   \"config\": \(descriptor(config)),\n"
        text += "   \"layers\": [\n      " + layers.map { descriptor($0) }.joined(separator: ",\n      ") + "\n   ]"
        if let subject { text += ",\n   \"subject\": \(descriptor(subject))" }
        var all = annotations
        if padding > 0 { all.append(("org.example.padding", String(repeating: "p", count: padding))) }
        if !all.isEmpty { text += ",\n   \"annotations\": \(annotationsJSON(all))" }
        text += "\n}\n"
        return Array(text.utf8)
    }

    /// An image index (OCI by default; pass the Docker manifest list media type for a Docker list).
    static func index(mediaType: String = MediaType.ociIndex.rawValue, manifests: [Desc], artifactType: String? = nil,
                      subject: Desc? = nil, annotations: [(String, String)] = []) -> [UInt8] {
        var text = "{\n  \"schemaVersion\": 2,\n  \"mediaType\": \"\(mediaType)\",\n"
        if let artifactType { text += "  \"artifactType\": \"\(artifactType)\",\n" }
        let platform = #", "platform": { "architecture": "amd64", "os": "linux" }"#
        text += "  \"manifests\": [" + manifests.map { descriptor($0, extra: platform) }.joined(separator: ",  ") + "]"
        if let subject { text += ",\n  \"subject\": \(descriptor(subject))" }
        if !annotations.isEmpty { text += ",\n  \"annotations\": \(annotationsJSON(annotations))" }
        text += "\n}"
        return Array(text.utf8)
    }
}

// MARK: - Response helpers

/// The OCI error code of an error response, or `nil` if the body is not an OCI error body.
func ociErrorCode(_ response: TestClient.Response) -> OCIErrorCode? {
    (try? OCIErrorResponse(decoding: response.body))?.errors.first?.code
}

/// Expects `status` and a JSON OCI error body whose `errors[0].code` is `code`.
func expectOCIError(_ response: TestClient.Response, _ status: Int, _ code: OCIErrorCode,
                    _ context: String = "", sourceLocation: SourceLocation = #_sourceLocation) {
    let codes = [code]
    #expect(response.status == status,
            "\(context) status \(response.status), want \(status); body: \(response.text.prefix(300))",
            sourceLocation: sourceLocation)
    let decoded = try? OCIErrorResponse(decoding: response.body)
    #expect(decoded != nil, "\(context) body is not an OCI error body: \(response.text.prefix(300))",
            sourceLocation: sourceLocation)
    if let first = decoded?.errors.first?.code {
        #expect(codes.contains(first), "\(context) code \(first), want \(code)", sourceLocation: sourceLocation)
    }
}

/// Expects an error answer: one of `statuses` (never 5xx) with an OCI body whose first code is in `codes`.
func expectOCIErrorIn(_ response: TestClient.Response, statuses: Set<Int>, codes: Set<OCIErrorCode>,
                      _ context: String = "", sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(statuses.contains(response.status),
            "\(context) status \(response.status), want one of \(statuses.sorted()); body: \(response.text.prefix(300))",
            sourceLocation: sourceLocation)
    let decoded = try? OCIErrorResponse(decoding: response.body)
    #expect(decoded != nil, "\(context) body is not an OCI error body: \(response.text.prefix(300))",
            sourceLocation: sourceLocation)
    if let code = decoded?.errors.first?.code {
        #expect(codes.contains(code), "\(context) code \(code), want one of \(codes.map(\.rawValue).sorted())",
                sourceLocation: sourceLocation)
    }
}

/// Expects a refusal of a path that may match no API route at all (say `/v2/ok/blobs/../../x`): one of `statuses`,
/// never 2xx or 5xx. distribution-spec lets a 4xx body have any format, so a plain-text 404 is accepted; a JSON body
/// must be an OCI error body with one of `codes`.
func expectRefused(_ response: TestClient.Response, statuses: Set<Int>, codes: Set<OCIErrorCode>,
                   _ context: String = "", sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(statuses.contains(response.status),
            "\(context) status \(response.status), want one of \(statuses.sorted()); body: \(response.text.prefix(300))",
            sourceLocation: sourceLocation)
    if let decoded = try? OCIErrorResponse(decoding: response.body), let code = decoded.errors.first?.code {
        #expect(codes.contains(code), "\(context) code \(code), want one of \(codes.map(\.rawValue).sorted())",
                sourceLocation: sourceLocation)
    } else {
        #expect(response.status == 404, "\(context) a \(response.status) without an OCI error body: \(response.text.prefix(300))",
                sourceLocation: sourceLocation)
    }
}

/// A `Location` value as a request-target: an absolute URL loses its scheme and authority.
func requestTarget(_ location: String) -> String {
    guard let schemeEnd = location.range(of: "://") else { return location }
    let rest = location[schemeEnd.upperBound...]
    guard let slash = rest.firstIndex(of: "/") else { return "/" }
    return String(rest[slash...])
}

/// Adds `item` (`name=value`) to a target's query.
func appendingQuery(_ target: String, _ item: String) -> String {
    target + (target.contains("?") ? "&" : "?") + item
}

/// The path part of a target.
func pathOf(_ target: String) -> String {
    String(target.prefix { $0 != "?" })
}

/// The query parameters of a target, percent-decoded.
func queryOf(_ target: String) -> [String: String] {
    guard let q = target.firstIndex(of: "?") else { return [:] }
    var out: [String: String] = [:]
    for pair in target[target.index(after: q)...].split(separator: "&") {
        let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        let name = String(parts[0]).removingPercentEncoding ?? String(parts[0])
        let value = parts.count > 1 ? (String(parts[1]).removingPercentEncoding ?? String(parts[1])) : ""
        out[name] = value
    }
    return out
}

/// The target of a `Link: <url>; rel="next"` header, or `nil` when there is none.
func nextLink(_ response: TestClient.Response) -> String? {
    guard let link = response.header("Link") else { return nil }
    guard link.hasPrefix("<"), let close = link.firstIndex(of: ">") else { return nil }
    let params = link[link.index(after: close)...].replacingOccurrences(of: " ", with: "")
    guard params.contains(#";rel="next""#) || params.contains(";rel=next") else { return nil }
    return requestTarget(String(link[link.index(after: link.startIndex)..<close]))
}

// MARK: - Files

/// Names in a folder, without `.` and `..`, sorted.
func directoryEntries(_ path: String) -> [String] {
    ((try? FileSystem.list(path)) ?? []).sorted()
}

/// Deletes a file or a folder tree; symbolic links are removed, never followed.
func removeTree(_ path: String) {
    FileSystem.isRealDirectory(path) ? FileSystem.removeTree(path) : { _ = unlink(path) }()
}

/// Whether a path exists (without following a final symbolic link).
func pathExists(_ path: String) -> Bool {
    var st = stat()
    return lstat(path, &st) == 0
}
