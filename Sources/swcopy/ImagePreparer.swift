import Foundation
import Glibc
import ImageTransport
import LayerCache
import OCIModel
import RegistryClient
import SystemIO

/// Brings an image into the layer cache: resolves the reference (one `HEAD` when the cache already has the
/// image), pulls the missing layer blobs in parallel (verified), unpacks each missing layer once into its
/// chainID-keyed stack (checking the diffID), and records the image.
struct ImagePreparer {
    let store: CacheStore
    let transports: ImageTransports
    let platform: PlatformSelector
    let jobs: Int
    let display: ProgressDisplay

    /// The cached image a reference names, pulling and unpacking what is missing.
    func ensureImage(_ location: ImageLocation) async throws -> ImageRecord {
        let name = location.description
        let platformName = "\(platform)"
        let source = try transports.openSource(location)
        defer { source.close() }

        // A registry tells the current digest in one HEAD; when the cache has that image, nothing more is asked.
        if let registry = source as? RegistrySource {
            if let head = try await registry.client.headManifest(
                repository: registry.image.repository, reference: registry.image.reference,
                accept: manifestAcceptTypesForPrepare)
            {
                if let cached = try store.image(named: Self.resolutionName(head.digest, platform: platformName)),
                   hasAllStacks(cached)
                {
                    try store.recordImage(cached.adding(name: name), configBytes: store.configBytes(cached.configDigest))
                    return cached
                }
                if let cached = try store.image(head.digest), hasAllStacks(cached) {
                    return cached
                }
            }
        }

        let (top, image, manifest) = try await ImageReader.resolveImage(source, platform: platform)
        let configBytes = try await ImageReader.readConfig(source, manifest.config)
        let config: ImageConfig
        do {
            config = try JSONCoding.decode(ImageConfig.self, from: configBytes)
        } catch {
            throw TransportError.invalidImage("\(name): config \(manifest.config.digest)", reason: "\(error)")
        }
        let diffIDs = config.rootfs.diffIDs
        guard diffIDs.count == manifest.layers.count else {
            throw TransportError.invalidImage(
                name, reason: "the manifest has \(manifest.layers.count) layers but the config \(diffIDs.count) diff_ids")
        }

        // Download what the cache lacks: the layers above the highest cached stack.
        let chainIDs = ChainID.compute(diffIDs: diffIDs)
        var start = chainIDs.count
        while start > 0 && !store.hasChain(chainIDs[start - 1]) { start -= 1 }
        let downloads = "\(Self.temporaryBase())/swcopy-layers-\(getpid())-\(FileSystem.randomName())"
        try FileSystem.makeDirectories(downloads)
        defer { FileSystem.removeTree(downloads) }
        var files: [Int: String] = [:]
        for index in start..<manifest.layers.count { files[index] = "\(downloads)/\(index)" }
        try await fetch(manifest.layers, indexes: Array(start..<manifest.layers.count), from: source, into: files)

        let warn: @Sendable (String) -> Void = { message in printError("swcopy: warning: \(message)") }
        let stack = try store.ensureStack(diffIDs: diffIDs) { index, root in
            guard let file = files[index] else {
                throw TransportError.invalidImage(name, reason: "layer \(index) is missing from the download")
            }
            let layer = manifest.layers[index]
            try LayerUnpacker.apply(
                layerFile: file, mediaType: layer.mediaType, onto: root,
                options: UnpackOptions(expectedDiffID: diffIDs[index], expectedDigest: layer.digest,
                                       warningHandler: warn))
        }
        if display.mode != .quiet {
            printError("Unpacked \(stack.appliedLayers.count) of \(diffIDs.count) layers of \(name) (\(image.digest))")
        }
        var names = [name]
        if top.digest != image.digest { names.append(Self.resolutionName(top.digest, platform: platformName)) }
        names.append(Self.resolutionName(image.digest, platform: platformName))
        let record = ImageRecord(manifestDigest: image.digest, names: names, configDigest: manifest.config.digest,
                                 diffIDs: diffIDs)
        try store.recordImage(record, configBytes: configBytes)
        return record
    }

    /// The name under which the image a top-level digest resolves to (for a platform) is recorded, so that a later
    /// HEAD returning that digest finds it.
    static func resolutionName(_ digest: Digest, platform: String) -> String { "\(digest)#\(platform)" }

    static func temporaryBase() -> String { ProcessInfo.processInfo.environment["TMPDIR"] ?? "/var/tmp" }

    private func hasAllStacks(_ record: ImageRecord) -> Bool {
        record.chainIDs.allSatisfy { store.hasChain($0) }
    }

    /// Downloads the layers at `indexes`, `jobs` at a time, each verified against its digest.
    private func fetch(_ layers: [Descriptor], indexes: [Int], from source: any ImageSource, into files: [Int: String])
        async throws
    {
        let observer = display.observer
        try await withThrowingTaskGroup(of: Void.self) { group in
            var pending = indexes.makeIterator()
            func start(_ index: Int) {
                let layer = layers[index]
                let path = files[index]!
                group.addTask {
                    observer(.blobStarted(layer))
                    if let local = source.localBlobPath(layer) {
                        // A layout's own file: unpack it in place (the unpacker checks its digest as it reads).
                        if symlink(local, path) != 0 { throw SystemError("symlink \(path)", errno: errno) }
                        observer(.blobFinished(layer, .skipped))
                        return
                    }
                    try await source.fetchBlob(layer, to: path) { done, _ in
                        observer(.blobProgress(layer, transferred: done))
                    }
                    observer(.blobFinished(layer, .copied))
                }
            }
            for _ in 0..<max(1, jobs) {
                guard let index = pending.next() else { break }
                start(index)
            }
            while try await group.next() != nil {
                if let index = pending.next() { start(index) }
            }
        }
    }
}

let manifestAcceptTypesForPrepare = [
    MediaType.ociIndex.rawValue, MediaType.ociManifest.rawValue,
    MediaType.dockerManifestList.rawValue, MediaType.dockerManifest.rawValue,
]

extension ImageRecord {
    func adding(name: String) -> ImageRecord {
        var copy = self
        if !copy.names.contains(name) { copy.names.append(name) }
        return copy
    }
}
