import Foundation
import Glibc
import OCIModel
import SystemIO

/// `swcopy inspect`'s summary of an image, with skopeo's field names and order so scripts written for
/// `skopeo inspect` keep working.
public struct ImageInspection: Sendable {
    public var name: String?
    public var digest: Digest
    public var repoTags: [String]
    public var created: String?
    public var dockerVersion: String
    public var labels: [String: String]?
    public var architecture: String
    public var variant: String?
    public var os: String
    public var layers: [Descriptor]
    public var env: [String]?

    /// Pretty JSON, keys in skopeo's order.
    public func json() -> String {
        var fields: [(String, OrderedJSON)] = []
        if let name { fields.append(("Name", .string(name))) }
        fields += [
            ("Digest", .string(digest.description)),
            ("RepoTags", .strings(repoTags)),
            ("Created", .optional(created)),
            ("DockerVersion", .string(dockerVersion)),
            ("Labels", .map(labels)),
            ("Architecture", .string(architecture)),
        ]
        if let variant { fields.append(("Variant", .string(variant))) }
        fields += [
            ("Os", .string(os)),
            ("Layers", .strings(layers.map(\.digest.description))),
            ("LayersData", .array(layers.map { layer in
                .object([
                    ("MIMEType", .string(layer.mediaType.rawValue)),
                    ("Digest", .string(layer.digest.description)),
                    ("Size", .number(layer.size)),
                    ("Annotations", .map(layer.annotations)),
                ])
            })),
            ("Env", .strings(env)),
        ]
        return OrderedJSON.object(fields).pretty()
    }
}

/// Reads what `inspect` and the layer cache need from a source: the image manifest for a platform, its config.
public enum ImageReader {
    /// Configs are small JSON documents; a bigger one is refused rather than read into memory.
    public static let maxConfigBytes = 16 << 20

    /// The top manifest and, when it is an index, the image chosen for `platform`.
    public static func resolveImage(_ source: any ImageSource, platform: PlatformSelector) async throws
        -> (top: ManifestData, image: ManifestData, manifest: ImageManifest)
    {
        let top = try await source.topManifest()
        var current = top
        // Nested indexes are rare but legal: follow them down to an image.
        for _ in 0..<4 {
            switch try current.parsed() {
            case .manifest(let manifest):
                return (top, current, manifest)
            case .index(let index):
                let chosen = try platform.select(from: index, what: source.description)
                current = try await source.manifest(chosen)
            }
        }
        throw TransportError.invalidImage(source.description, reason: "indexes nested more than 4 deep")
    }

    /// The config blob's bytes, verified.
    public static func readConfig(_ source: any ImageSource, _ descriptor: Descriptor) async throws -> [UInt8] {
        guard descriptor.size <= Int64(maxConfigBytes) else {
            throw TransportError.invalidImage(
                "\(source.description): config \(descriptor.digest)", reason: "\(descriptor.size) bytes is too large")
        }
        let path = "/tmp/swcopy-config-\(getpid())-\(FileSystem.randomName())"
        defer { unlink(path) }
        if let local = source.localBlobPath(descriptor) {
            try await BlobFiles.copyVerified(from: local, to: path, descriptor: descriptor, progress: nil)
        } else {
            try await source.fetchBlob(descriptor, to: path, progress: nil)
        }
        return try BlobFiles.readSmall(path, limit: maxConfigBytes, what: "config \(descriptor.digest)")
    }

    /// Builds the inspection summary.
    public static func inspect(_ source: any ImageSource, name: String?, platform: PlatformSelector) async throws
        -> ImageInspection
    {
        let (top, _, manifest) = try await resolveImage(source, platform: platform)
        let configBytes = try await readConfig(source, manifest.config)
        let config: ImageConfig
        do {
            config = try JSONCoding.decode(ImageConfig.self, from: configBytes)
        } catch {
            throw TransportError.invalidImage("\(source.description): config", reason: "\(error)")
        }
        struct DockerFields: Decodable { var docker_version: String? }
        let dockerVersion = (try? JSONCoding.decode(DockerFields.self, from: configBytes))?.docker_version
        return ImageInspection(
            name: name, digest: top.digest, repoTags: try await source.tags(), created: config.created,
            dockerVersion: dockerVersion ?? "", labels: config.config?.labels, architecture: config.architecture,
            variant: config.variant, os: config.os, layers: manifest.layers, env: config.config?.env)
    }
}
