import Glibc
import OCIModel

/// Which image of an index to copy when not copying all of them (skopeo's `--override-os/-arch/-variant`).
public struct PlatformSelector: Sendable, Hashable, CustomStringConvertible {
    public var os: String
    public var architecture: String
    public var variant: String?

    public init(os: String? = nil, architecture: String? = nil, variant: String? = nil) {
        let host = Self.host
        self.os = os ?? host.os
        self.architecture = architecture ?? host.architecture
        // The host's variant only applies to the host's architecture.
        self.variant = variant ?? (architecture == nil ? host.variant : nil)
    }

    public var description: String {
        "\(os)/\(architecture)" + (variant.map { "/\($0)" } ?? "")
    }

    /// The platform this process runs on, in GOARCH spelling.
    public static let host: (os: String, architecture: String, variant: String?) = {
        var name = utsname()
        uname(&name)
        let machine = withUnsafeBytes(of: &name.machine) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        switch machine {
        case "x86_64": return ("linux", "amd64", nil)
        case "aarch64", "arm64": return ("linux", "arm64", "v8")
        case "armv7l": return ("linux", "arm", "v7")
        case "armv6l": return ("linux", "arm", "v6")
        case "i386", "i686": return ("linux", "386", nil)
        default: return ("linux", machine, nil)
        }
    }()

    /// The entry of `index` for this platform: an exact variant match first, then an entry without a variant
    /// (or, for arm64, the implied v8).
    public func select(from index: ImageIndex, what: String) throws -> Descriptor {
        let candidates = index.manifests.filter {
            $0.mediaType.isManifestOrIndex && $0.platform?.os == os && $0.platform?.architecture == architecture
        }
        if let variant, let exact = candidates.first(where: { $0.platform?.variant == variant }) { return exact }
        let implied = candidates.first {
            let other = $0.platform?.variant
            return other == nil || other == "" || (architecture == "arm64" && other == "v8" && variant == nil)
        }
        if let implied, variant == nil || architecture == "arm64" && variant == "v8" { return implied }
        let available = index.manifests.compactMap { $0.platform?.description }
        throw TransportError.imageNotFound(
            "\(what): no image for platform \(description) (the index has: \(available.joined(separator: ", ")))")
    }
}
