import Foundation

/// An image configuration (config.md): the platform, the default process, and the layer DiffIDs.
///
/// Also decodes Docker's `application/vnd.docker.container.image.v1+json`, which is a superset.
/// Fields this type does not model (Docker's `container_config`, `Healthcheck`, …) are ignored on
/// decode, as config.md requires, and therefore dropped on re-encode: the ImageID is the digest of
/// the config *bytes*, so keep the bytes and never hash a re-encoded config.
public struct ImageConfig: Hashable, Sendable, Codable {
    /// When the image was created, RFC 3339 (kept as text to round-trip exactly).
    public var created: String?
    /// Who created the image.
    public var author: String?
    /// CPU architecture, `GOARCH` spelling. Required.
    public var architecture: String
    /// Operating system, `GOOS` spelling. Required.
    public var os: String
    /// OS version the image targets (`os.version`).
    public var osVersion: String?
    /// Mandatory OS features (`os.features`).
    public var osFeatures: [String]?
    /// CPU variant.
    public var variant: String?
    /// Default execution parameters; `null` in the JSON means none.
    public var config: ExecutionConfig?
    /// The layer DiffIDs. Required.
    public var rootfs: RootFS
    /// One entry per build step, including steps that made no layer.
    public var history: [History]?

    public init(created: String? = nil, author: String? = nil, architecture: String, os: String,
                osVersion: String? = nil, osFeatures: [String]? = nil, variant: String? = nil,
                config: ExecutionConfig? = nil, rootfs: RootFS, history: [History]? = nil)
    {
        self.created = created
        self.author = author
        self.architecture = architecture
        self.os = os
        self.osVersion = osVersion
        self.osFeatures = osFeatures
        self.variant = variant
        self.config = config
        self.rootfs = rootfs
        self.history = history
    }

    enum CodingKeys: String, CodingKey {
        case created, author, architecture, os
        case osVersion = "os.version"
        case osFeatures = "os.features"
        case variant, config, rootfs, history
    }

    /// The platform this image runs on, as an index entry would describe it.
    public var platform: Platform {
        Platform(architecture: architecture, os: os, osVersion: osVersion, osFeatures: osFeatures, variant: variant)
    }

    /// Decodes a config blob.
    ///
    /// - Parameter data: The config bytes.
    /// - Throws: `DecodingError` if a required field (`architecture`, `os`, `rootfs`) is missing or
    ///   a DiffID is not a valid digest.
    public init(decoding data: Data) throws {
        self = try JSONCoding.decode(ImageConfig.self, from: data)
    }

    /// Decodes a config blob.
    public init(decoding bytes: [UInt8]) throws {
        try self.init(decoding: Data(bytes))
    }

    /// Encodes the config as compact JSON (for building new images).
    public func encoded() -> [UInt8] {
        JSONCoding.encodeInfallibly(self)
    }
}
