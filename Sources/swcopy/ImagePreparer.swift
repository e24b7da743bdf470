import Foundation
import Glibc
import ImageTransport
import LayerCache
import OCIModel
import RegistryClient
import SystemIO

/// Brings an image into the layer cache in two overlapping steps: `fetch` resolves the reference (one `HEAD` when
/// the cache already has the image) and starts downloading the missing layer blobs in parallel (verified);
/// `install`, run on a thread of its own under the cache's lease together with whatever uses the image, unpacks
/// each missing layer once into its chainID-keyed stack (checking the diffID) as soon as that layer has arrived,
/// while later layers are still downloading, and records the image.
struct ImagePreparer {
    /// What `fetch` found: an image already cached, or one to install from downloaded layers.
    enum Fetched {
        case cached(ImageRecord, name: String)
        case downloaded(Download)
    }

    struct Download {
        var name: String
        var names: [String]
        var manifestDigest: Digest
        var manifest: ImageManifest
        var configBytes: [UInt8]
        var diffIDs: [Digest]
        /// Layer index → downloaded (or the layout's own) blob file, for the layers above the cached stacks.
        var files: [Int: String]
        /// Where the downloads go; removed by `finish()`.
        var directory: String
        /// Tells `install` when each layer has arrived (or that the downloads failed).
        var arrivals: LayerArrivals
        /// The downloads in flight.
        var task: Task<Void, Never>

        /// Waits for the downloads to end (cancelling them first when `cancel`), then removes their files.
        func finish(cancel: Bool) async {
            if cancel { task.cancel() }
            await task.value
            FileSystem.removeTree(directory)
        }
    }
    let store: CacheStore
    let transports: ImageTransports
    let platform: PlatformSelector
    let jobs: Int
    let display: ProgressDisplay
    /// Zip-bomb bounds for each layer.
    let limits: UnpackLimits

    /// Resolves `location` and downloads the layers the cache lacks.
    func fetch(_ location: ImageLocation) async throws -> Fetched {
        let name = location.description
        let platformName = "\(platform)"
        let source = try transports.openSource(location)
        var sourceHandedOver = false
        defer { if !sourceHandedOver { source.close() } }

        // A registry tells the current digest in one HEAD; when the cache has that image, nothing more is asked.
        if let registry = source as? RegistrySource {
            if let head = try await registry.client.headManifest(
                repository: registry.image.repository, reference: registry.image.reference,
                accept: RegistryClient.defaultManifestAccept)
            {
                if let cached = try store.image(named: Self.resolutionName(head.digest, platform: platformName)),
                   hasAllStacks(cached)
                {
                    return .cached(cached, name: name)
                }
                if let cached = try store.image(head.digest), hasAllStacks(cached) { return .cached(cached, name: name) }
            }
        }

        let (top, image, manifest) = try await ImageReader.resolveImage(source, platform: platform)
        if let cached = try store.image(image.digest), hasAllStacks(cached) { return .cached(cached, name: name) }
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
        // Private: the layers of a private image are nobody else's to read.
        try FileSystem.makeDirectories(Self.temporaryBase())
        if mkdir(downloads, 0o700) != 0 { throw SystemError("mkdir \(downloads)", errno: errno) }
        var files: [Int: String] = [:]
        for index in start..<manifest.layers.count { files[index] = "\(downloads)/\(index)" }
        let arrivals = LayerArrivals()
        let indexes = Array(start..<manifest.layers.count)
        let layers = manifest.layers
        let downloadFiles = files
        // Base layers first (the unpacker needs them first); the source stays open until the last one is in.
        let task = Task {
            defer { source.close() }
            do {
                try await fetch(layers, indexes: indexes, from: source, into: downloadFiles, arrivals: arrivals)
            } catch {
                arrivals.fail(error)
            }
        }
        sourceHandedOver = true
        var names = [name]
        if top.digest != image.digest { names.append(Self.resolutionName(top.digest, platform: platformName)) }
        names.append(Self.resolutionName(image.digest, platform: platformName))
        return .downloaded(Download(name: name, names: names, manifestDigest: image.digest, manifest: manifest,
                                    configBytes: configBytes, diffIDs: diffIDs, files: files, directory: downloads,
                                    arrivals: arrivals, task: task))
    }

    /// Unpacks what `fetch` downloads, each layer as it arrives, and records the image. Blocks: call it on a thread
    /// of its own, under `store.withLease`; then `finish` the download.
    /// - Parameter whileFlushing: When layers were unpacked, called with the new top rootfs while the cache flushes
    ///   it (see ``CacheStore/ensureStack(diffIDs:apply:whileFlushing:)``): a bundle's copy is made meanwhile.
    func install(_ fetched: Fetched, whileFlushing: ((_ topRootfs: String) throws -> Void)? = nil) throws -> ImageRecord {
        switch fetched {
        case .cached(let record, let name):
            guard hasAllStacks(record) else {
                throw TransportError.invalidImage(name, reason: "its layers were pruned meanwhile; run the command again")
            }
            try store.recordImage(record.adding(name: name), configBytes: store.configBytes(record.configDigest))
            return record
        case .downloaded(let download):
            let warn: @Sendable (String) -> Void = { message in printError("swcopy: warning: \(message)") }
            let layers = download.manifest.layers
            func open(_ index: Int) throws -> LayerStream {
                guard let file = download.files[index] else {
                    throw TransportError.invalidImage(
                        download.name, reason: "layer \(index)'s stack was pruned meanwhile; run the command again")
                }
                try download.arrivals.wait(for: index)
                // A downloaded blob was hashed on arrival (the client checks every byte against the digest); a
                // layout's own file (linked in place) has not been read yet, so the unpacker checks it.
                var st = stat()
                let downloaded = lstat(file, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
                return try LayerStream(
                    layerFile: file, mediaType: layers[index].mediaType,
                    options: UnpackOptions(expectedDiffID: download.diffIDs[index],
                                           expectedDigest: downloaded ? nil : layers[index].digest,
                                           limits: limits, warningHandler: warn))
            }
            // The next layer, opened (and decompressing) while this one is applied, when it has already arrived.
            var next: (index: Int, stream: LayerStream)?
            let stack = try store.ensureStack(diffIDs: download.diffIDs, apply: { index, root in
                let stream = try next.flatMap { $0.index == index ? $0.stream : nil } ?? open(index)
                next = nil
                if download.files[index + 1] != nil, download.arrivals.hasArrived(index + 1) {
                    next = (index + 1, try open(index + 1))
                }
                try LayerUnpacker.apply(stream, onto: root)
                // A downloaded blob is not needed any more: removed now, its pages are never written to disk.
                if let file = download.files[index] { unlink(file) }
            }, whileFlushing: whileFlushing)
            if display.mode != .quiet {
                printError("Unpacked \(stack.appliedLayers.count) of \(download.diffIDs.count) layers of \(download.name) "
                           + "(\(download.manifestDigest))")
            }
            let record = ImageRecord(manifestDigest: download.manifestDigest, names: download.names,
                                     configDigest: download.manifest.config.digest, diffIDs: download.diffIDs)
            try store.recordImage(record, configBytes: download.configBytes)
            return record
        }
    }

    /// The name under which the image a top-level digest resolves to (for a platform) is recorded, so that a later
    /// HEAD returning that digest finds it.
    static func resolutionName(_ digest: Digest, platform: String) -> String { "\(digest)#\(platform)" }

    static func temporaryBase() -> String { ProcessInfo.processInfo.environment["TMPDIR"] ?? "/var/tmp" }

    private func hasAllStacks(_ record: ImageRecord) -> Bool {
        record.chainIDs.allSatisfy { store.hasChain($0) }
    }

    /// Downloads the layers at `indexes`, `jobs` at a time, each verified against its digest; announces each one.
    private func fetch(_ layers: [Descriptor], indexes: [Int], from source: any ImageSource, into files: [Int: String],
                       arrivals: LayerArrivals) async throws
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
                        // An absolute target: a layout named by a relative path is relative to the current
                        // directory, not to the download directory the link lives in.
                        guard let target = realpath(local, nil) else { throw SystemError("realpath \(local)", errno: errno) }
                        defer { free(target) }
                        if symlink(target, path) != 0 { throw SystemError("symlink \(path)", errno: errno) }
                        observer(.blobFinished(layer, .skipped))
                        arrivals.arrived(index)
                        return
                    }
                    try await source.fetchBlob(layer, to: path) { done, _ in
                        observer(.blobProgress(layer, transferred: done))
                    }
                    observer(.blobFinished(layer, .copied))
                    arrivals.arrived(index)
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


/// Which downloaded layers are ready, for an unpacker on another thread that must wait for them in order.
final class LayerArrivals: @unchecked Sendable {
    private let condition = NSCondition()
    private var ready: Set<Int> = []
    private var failure: (any Error)?

    func arrived(_ index: Int) {
        condition.lock()
        ready.insert(index)
        condition.broadcast()
        condition.unlock()
    }

    func fail(_ error: any Error) {
        condition.lock()
        failure = error
        condition.broadcast()
        condition.unlock()
    }

    func hasArrived(_ index: Int) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        return ready.contains(index)
    }

    /// Blocks until layer `index` is in; throws the downloads' error if they failed first.
    func wait(for index: Int) throws {
        condition.lock()
        defer { condition.unlock() }
        while !ready.contains(index) {
            if let failure { throw failure }
            condition.wait()
        }
    }
}

extension ImageRecord {
    func adding(name: String) -> ImageRecord {
        var copy = self
        if !copy.names.contains(name) { copy.names.append(name) }
        return copy
    }
}
