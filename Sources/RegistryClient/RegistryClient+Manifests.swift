import Foundation
import OCIModel

/// A manifest as fetched: the exact bytes, their media type and their digest (computed here, and checked against
/// the registry's `Docker-Content-Digest` and a digest reference).
public struct RemoteManifest: Sendable {
    public var bytes: [UInt8]
    public var mediaType: String
    public var digest: Digest

    public init(bytes: [UInt8], mediaType: String, digest: Digest) {
        self.bytes = bytes
        self.mediaType = mediaType
        self.digest = digest
    }
}

/// What `HEAD` on a manifest tells: digest, media type and size, without the body.
public struct ManifestHead: Sendable {
    public var digest: Digest
    public var mediaType: String
    public var size: Int64

    public init(digest: Digest, mediaType: String, size: Int64) {
        self.digest = digest
        self.mediaType = mediaType
        self.size = size
    }
}

extension RegistryClient {
    /// The largest manifest accepted, as distribution-spec suggests registries accept.
    public static let maxManifestBytes = 4 * 1024 * 1024

    /// The media types asked for when the caller gives none: every manifest and index type we read.
    public static let defaultManifestAccept = [
        MediaType.ociManifest.rawValue, MediaType.ociIndex.rawValue,
        MediaType.dockerManifest.rawValue, MediaType.dockerManifestList.rawValue,
    ]

    /// `GET /v2/<name>/manifests/<reference>`.
    /// - Parameters:
    ///   - reference: A tag or a digest.
    ///   - accept: Media types for `Accept`; empty means ``defaultManifestAccept``.
    /// - Returns: The exact bytes, with their digest verified against `Docker-Content-Digest` (when sent) and
    ///   against `reference` when it is a digest.
    /// - Throws: ``RegistryClientError``: `.http` with `MANIFEST_UNKNOWN` for a missing manifest, `.integrity`
    ///   for a digest mismatch or a body over 4 MiB.
    public func fetchManifest(repository: String, reference: String, accept: [String]) async throws -> RemoteManifest {
        let context = OperationContext("pull", repository: repository, object: "manifest \(reference)")
        let response = try await send(
            "GET", "/v2/\(repository)/manifests/\(reference)",
            headers: [("Accept", (accept.isEmpty ? Self.defaultManifestAccept : accept).joined(separator: ", "))],
            scopes: [Self.pullScope(repository)], context: context, memoryLimit: Self.maxManifestBytes)
        guard response.status == 200 else { throw httpError(response, context) }
        let bytes = response.body
        let expected = try expectedDigests(response, reference: reference, context: context)
        let algorithm = expected.first?.algorithm ?? .sha256
        let digest = Digest.compute(algorithm, of: bytes)
        for wanted in expected where wanted != digest {
            // A digest of another algorithm is checked with that algorithm.
            let actual = wanted.algorithm == algorithm ? digest : Digest.compute(wanted.algorithm, of: bytes)
            if actual != wanted {
                throw error(.integrity, context, "manifest digest mismatch: expected \(wanted), received bytes hash to \(actual)")
            }
        }
        let sha256 = algorithm == .sha256 ? digest : Digest.sha256(of: bytes)
        return RemoteManifest(bytes: bytes, mediaType: Self.mediaType(response, body: bytes), digest: sha256)
    }

    /// `HEAD /v2/<name>/manifests/<reference>`.
    /// - Returns: nil when the registry answers 404; otherwise digest (from `Docker-Content-Digest`, or the
    ///   reference when it is a digest, or else by fetching the body), media type and size.
    public func headManifest(repository: String, reference: String, accept: [String]) async throws -> ManifestHead? {
        let context = OperationContext("check", repository: repository, object: "manifest \(reference)")
        let response = try await send(
            "HEAD", "/v2/\(repository)/manifests/\(reference)",
            headers: [("Accept", (accept.isEmpty ? Self.defaultManifestAccept : accept).joined(separator: ", "))],
            scopes: [Self.pullScope(repository)], context: context)
        if response.status == 404 { return nil }
        guard response.status == 200 else { throw httpError(response, context) }
        let size = response.header("Content-Length").flatMap { Int64($0.trimmingSpaces()) }
        var digest: Digest?
        if let text = response.header("Docker-Content-Digest") {
            digest = try? Digest(parsing: text.trimmingSpaces())
        }
        if digest == nil, let reference = try? Digest(parsing: reference) { digest = reference }
        if let digest, let size {
            return ManifestHead(digest: digest, mediaType: Self.mediaType(response, body: []), size: size)
        }
        // The registry did not say enough: fetch the manifest and look.
        let manifest = try await fetchManifest(repository: repository, reference: reference, accept: accept)
        return ManifestHead(digest: manifest.digest, mediaType: manifest.mediaType, size: Int64(manifest.bytes.count))
    }

    /// `PUT /v2/<name>/manifests/<reference>` with the exact bytes.
    /// - Parameters:
    ///   - reference: A tag, or the manifest's digest.
    ///   - mediaType: Sent as `Content-Type`.
    /// - Returns: The SHA-256 digest of `bytes` (checked against the registry's `Docker-Content-Digest`).
    @discardableResult
    public func putManifest(repository: String, reference: String, bytes: [UInt8], mediaType: String) async throws -> Digest {
        let context = OperationContext("push", repository: repository, object: "manifest \(reference)")
        guard bytes.count <= Self.maxManifestBytes else {
            throw error(.integrity, context, "manifest is \(bytes.count) bytes, above the 4 MiB limit registries accept")
        }
        let digest = Digest.sha256(of: bytes)
        if let wanted = try? Digest(parsing: reference), wanted != Digest.compute(wanted.algorithm, of: bytes) {
            throw error(.integrity, context, "manifest bytes do not hash to the digest \(reference) they are pushed under")
        }
        let response = try await send(
            "PUT", "/v2/\(repository)/manifests/\(reference)", headers: [("Content-Type", mediaType)],
            body: .bytes(bytes), scopes: [Self.pushScope(repository)], context: context)
        guard response.status == 201 || response.status == 200 || response.status == 202 else {
            throw httpError(response, context)
        }
        if let text = response.header("Docker-Content-Digest"), let reported = try? Digest(parsing: text.trimmingSpaces()),
           reported.algorithm == .sha256, reported != digest
        {
            throw error(.integrity, context, "registry stored the manifest as \(reported), but its bytes hash to \(digest)")
        }
        return digest
    }

    /// `DELETE /v2/<name>/manifests/<digest>` (registries refuse deletion by tag).
    public func deleteManifest(repository: String, digest: Digest) async throws {
        let context = OperationContext("delete", repository: repository, object: "manifest \(digest)")
        let response = try await send("DELETE", "/v2/\(repository)/manifests/\(digest)",
                                      scopes: [Self.deleteScope(repository)], context: context)
        guard response.status == 202 || response.status == 200 || response.status == 204 else {
            throw httpError(response, context)
        }
    }

    // MARK: - Helpers

    /// Digests the body must match: the registry's `Docker-Content-Digest` and a digest reference.
    private func expectedDigests(_ response: ClientResponse, reference: String,
                                 context: OperationContext) throws -> [Digest] {
        var expected: [Digest] = []
        if let reference = try? Digest(parsing: reference) { expected.append(reference) }
        if let text = response.header("Docker-Content-Digest") {
            do {
                expected.append(try Digest(parsing: text.trimmingSpaces()))
            } catch {
                throw self.error(.invalidResponse, context, "registry sent an invalid Docker-Content-Digest: \(error)")
            }
        }
        return expected
    }

    /// The media type of a manifest response: `Content-Type` without parameters, or the body's `mediaType` field
    /// when the header is missing or generic.
    static func mediaType(_ response: ClientResponse, body: [UInt8]) -> String {
        if let header = response.header("Content-Type") {
            let type = header.split(separator: ";").first.map { String($0).trimmingSpaces() } ?? ""
            if !type.isEmpty && type != "application/octet-stream" && type != "text/plain" && type != "application/json" {
                return type
            }
        }
        struct Probe: Decodable { var mediaType: String? }
        if let probe = try? JSONDecoder().decode(Probe.self, from: Data(body)), let type = probe.mediaType {
            return type
        }
        return response.header("Content-Type")?.split(separator: ";").first.map { String($0).trimmingSpaces() } ?? ""
    }
}
