/// The minimum runtime requirements of an image: the `platform` of an index entry
/// (image-index.md), also used by Docker manifest lists.
public struct Platform: Hashable, Sendable, Codable {
    /// CPU architecture, in Go's `GOARCH` spelling (`amd64`, `arm64`, `ppc64le`, …). Required.
    public var architecture: String
    /// Operating system, in Go's `GOOS` spelling (`linux`, `windows`, …). Required.
    public var os: String
    /// OS version the image targets, e.g. `10.0.14393.1066` on Windows (`os.version`).
    public var osVersion: String?
    /// Mandatory OS features, e.g. `win32k` (`os.features`).
    public var osFeatures: [String]?
    /// CPU variant (`v7` for arm, `v8` for arm64, …).
    public var variant: String?
    /// Reserved by OCI; Docker manifest lists use it for CPU features such as `sse4`.
    public var features: [String]?

    public init(architecture: String, os: String, osVersion: String? = nil, osFeatures: [String]? = nil,
                variant: String? = nil, features: [String]? = nil)
    {
        self.architecture = architecture
        self.os = os
        self.osVersion = osVersion
        self.osFeatures = osFeatures
        self.variant = variant
        self.features = features
    }

    /// JSON names as in the spec; the dotted ones cannot be Swift identifiers.
    enum CodingKeys: String, CodingKey {
        case architecture
        case os
        case osVersion = "os.version"
        case osFeatures = "os.features"
        case variant
        case features
    }
}

extension Platform: CustomStringConvertible {
    /// The conventional `os/architecture[/variant]` spelling, e.g. `linux/arm64/v8`.
    public var description: String {
        var text = "\(os)/\(architecture)"
        if let variant, !variant.isEmpty { text += "/\(variant)" }
        return text
    }
}
