import OCIModel

/// The cache's disk layout, in one place. Every path the cache touches is built here.
///
/// ```text
/// <root>/                               0700, owned by the user running swcopy
/// ├── layers/
/// │   └── <chainID hex>/                  one per layer stack, keyed by chainID (as containerd's native snapshotter)
/// │       ├── rootfs/                     the flattened root filesystem of the stack ending at this layer: a
/// │       │                               hard-link clone of the parent's rootfs with this layer applied on top
/// │       └── meta.json                   LayerRecord: diffID, parent chainID, sizes, created (written last)
/// ├── images/
/// │   └── <manifest digest hex>.json      ImageRecord: names, config digest, diffIDs, ordered chainIDs
/// ├── configs/
/// │   └── <config digest hex>.json        the image config bytes exactly as pulled (never re-encoded)
/// ├── roots/
/// │   └── <sha256(bundle path) hex>.json  BundleRecord: a prepared bundle (GC root) → image and chain
/// ├── locks/
/// │   ├── gc.lock                         shared by users of the cache, exclusive for prune
/// │   ├── images.lock                     serialises updates of image records (names move between them)
/// │   └── <chainID hex>.lock              held while one process builds that chain
/// └── tmp/
///     ├── <random>.lock                   held (flock) by the live owner of the work dir below
///     └── <random>/                       work dir: `chain/` is built here, then renamed to layers/<hex>
/// ```
///
/// The root, its directories and every `layers/<hex>` are mode 0700 (see ``PrivateDirectory``): the trees below
/// keep the image's modes, setuid files and devices included, so no other user may have a path to them.
///
/// A `layers/<hex>` directory only ever appears by `rename(2)` of a complete work dir, so any chain directory
/// present is whole. Work dirs whose lock nobody holds are leftovers of a crash and are swept at open.
public struct CacheStoreLayout: Sendable {
    /// The cache root.
    public let root: String

    public init(root: String) {
        self.root = root
    }

    public var layersDirectory: String { "\(root)/layers" }
    public var imagesDirectory: String { "\(root)/images" }
    public var configsDirectory: String { "\(root)/configs" }
    public var rootsDirectory: String { "\(root)/roots" }
    public var locksDirectory: String { "\(root)/locks" }
    public var tmpDirectory: String { "\(root)/tmp" }
    public var gcLock: String { "\(locksDirectory)/gc.lock" }
    public var imagesLock: String { "\(locksDirectory)/images.lock" }

    /// Every directory the store creates at open.
    var directories: [String] {
        [layersDirectory, imagesDirectory, configsDirectory, rootsDirectory, locksDirectory, tmpDirectory]
    }

    public func chainDirectory(_ chainID: Digest) -> String { "\(layersDirectory)/\(chainID.encoded)" }
    public func chainRootfs(_ chainID: Digest) -> String { "\(chainDirectory(chainID))/rootfs" }
    public func chainMeta(_ chainID: Digest) -> String { "\(chainDirectory(chainID))/meta.json" }
    public func chainLock(_ chainID: Digest) -> String { "\(locksDirectory)/\(chainID.encoded).lock" }
    public func imageRecord(_ manifestDigest: Digest) -> String { "\(imagesDirectory)/\(manifestDigest.encoded).json" }
    public func config(_ configDigest: Digest) -> String { "\(configsDirectory)/\(configDigest.encoded).json" }
    public func bundleRecord(bundlePath: String) -> String {
        "\(rootsDirectory)/\(Digest.sha256(of: Array(bundlePath.utf8)).encoded).json"
    }

    /// Parses a `layers/` entry name back into a chainID (nil for anything that is not a digest hex).
    func chainID(fromDirectoryName name: String) -> Digest? {
        let algorithm: Digest.Algorithm = name.utf8.count == 128 ? .sha512 : .sha256
        return try? Digest(algorithm: algorithm, encoded: name)
    }
}
