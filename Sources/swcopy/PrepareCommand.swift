import ArgumentParser
import Foundation
import Glibc
import ImageTransport
import LayerCache
import OCIModel
import RegistryClient
import SystemIO

/// Options naming the layer cache.
struct CacheOptions: ParsableArguments {
    @Option(name: .customLong("cache-dir"), help: "The layer cache (default: $SWCOPY_CACHE, /var/lib/swcopy for root, else ~/.cache/swcopy).")
    var cacheDirectory: String?

    func open() throws -> CacheStore {
        let root = try CacheLocation.resolve(explicit: cacheDirectory, environment: ProcessInfo.processInfo.environment,
                                             uid: geteuid())
        return try CacheStore(root: root)
    }
}

struct PrepareCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prepare",
        abstract: "Pull an image into the layer cache and write an OCI runtime bundle for it.",
        discussion: """
            REF is docker://HOST/NAME[:TAG|@DIGEST] (`latest` when no tag; a bare HOST/NAME is taken as \
            docker://) or oci:DIR[:REF]. Missing layers are downloaded in parallel, verified, and unpacked once \
            into the cache (keyed by chainID); the bundle's config.json follows the image config. The rootfs is a \
            copy of the cached tree (--flatten, the default) or an overlayfs mount over it (--overlay, root only).
            """)

    @Argument(help: "The image.") var reference: String
    @Argument(help: "The bundle directory to write (config.json and rootfs/).") var bundle: String

    @Flag(name: .customLong("flatten"), help: "rootfs/ is a copy of the cached tree (default).") var flatten = false
    @Flag(name: .customLong("overlay"), help: "rootfs/ is an overlayfs mount over the cached tree (root only).")
    var overlay = false
    @Option(name: .customLong("platform"), help: "OS/ARCH[/VARIANT] to select from an index (default: this host's).")
    var platform: String?

    @Option(name: .customLong("cmd"), help: "Cmd: a JSON array (exec form), or a string run with /bin/sh -c (shell form).")
    var command: String?
    @Option(name: .customLong("entrypoint"), help: "Entrypoint: a JSON array (exec form), or a string run with /bin/sh -c.")
    var entrypoint: String?
    @Option(name: .customLong("env"), help: "Add or replace an environment variable NAME=VALUE (repeatable).")
    var environment: [String] = []
    @Option(name: .customLong("user"), help: "Run as this user (uid[:gid] or name[:group]).") var user: String?
    @Option(name: .customLong("workdir"), help: "Working directory.") var workingDirectory: String?
    @Option(name: .customLong("hostname"), help: "Container hostname (default: 12 hex digits of the manifest digest).")
    var hostname: String?
    @Flag(name: .customLong("terminal"), help: "Give the process a terminal.") var terminal = false
    @Option(name: .customLong("max-layer-size"), help: "Refuse a layer whose uncompressed tar is bigger (suffixes k, M, G).")
    var maxLayerSize: String = "64G"
    @Option(name: .customLong("max-layer-entries"), help: "Refuse a layer with more entries.")
    var maxLayerEntries: Int = 1_000_000
    @Option(name: .customLong("max-layer-ratio"),
            help: "Refuse a compressed layer that expands more than this many times its blob's size, beyond 512 MiB; 0: no limit ($SWCOPY_MAX_LAYER_RATIO).")
    var maxLayerRatio: Int64 = ProcessInfo.processInfo.environment["SWCOPY_MAX_LAYER_RATIO"].flatMap { Int64($0) }
        ?? UnpackLimits.defaultExpansionRatio
    @Option(name: .customLong("min-free-space"),
            help: "Stop unpacking or copying when less would stay free on the cache's or bundle's filesystem (suffixes k, M, G); 0: no check ($SWCOPY_MIN_FREE_SPACE).")
    var minFreeSpace: String = ProcessInfo.processInfo.environment["SWCOPY_MIN_FREE_SPACE"] ?? "1G"

    @OptionGroup var cache: CacheOptions
    @OptionGroup var registry: RegistryOptions
    @OptionGroup var transfer: TransferOptions

    func validate() throws {
        if flatten && overlay { throw ValidationError("give one of --flatten and --overlay") }
        guard let size = ByteCount.parse(maxLayerSize), size > 0 else {
            throw ValidationError("--max-layer-size: \"\(maxLayerSize)\" is not a size")
        }
        guard maxLayerEntries > 0 else { throw ValidationError("--max-layer-entries must be positive") }
        guard maxLayerRatio >= 0 else { throw ValidationError("--max-layer-ratio must be 0 (no limit) or positive") }
        if let ratio = ProcessInfo.processInfo.environment["SWCOPY_MAX_LAYER_RATIO"], Int64(ratio) == nil {
            throw ValidationError("$SWCOPY_MAX_LAYER_RATIO: \"\(ratio)\" is not a whole number")
        }
        guard ByteCount.parse(minFreeSpace) != nil else {
            throw ValidationError("--min-free-space: \"\(minFreeSpace)\" is not a size (e.g. 0, 1G, 500M)")
        }
        if let platform { _ = try Self.parsePlatform(platform) }
        for variable in environment where !variable.contains("=") {
            throw ValidationError("--env \(variable): expected NAME=VALUE")
        }
    }

    static func parsePlatform(_ text: String) throws -> PlatformSelector {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard (2...3).contains(parts.count), parts.allSatisfy({ !$0.isEmpty }) else {
            throw ValidationError("--platform: expected OS/ARCH[/VARIANT], e.g. linux/arm64/v8")
        }
        return PlatformSelector(os: parts[0], architecture: parts[1], variant: parts.count == 3 ? parts[2] : nil)
    }

    /// `docker://…` and `oci:…` as given; a reference without a transport is a registry image.
    static func location(_ text: String) throws -> ImageLocation {
        if text.hasPrefix("docker://") || text.hasPrefix("oci:") || text.hasPrefix("oci-archive:") || text.hasPrefix("dir:") {
            return try ImageLocation(parsing: text)
        }
        return try ImageLocation(parsing: "docker://" + text)
    }

    func run() async throws {
        try await runReportingErrors {
            let store = try cache.open()
            let options = try transfer.clientOptions(registry)
            let engine = TransferEngine(maxParallel: transfer.jobs)
            defer { engine.shutdown() }
            let display = ProgressDisplay(quiet: transfer.quiet)
            let reserve = ByteCount.parse(minFreeSpace) ?? FreeSpaceGuard.defaultReserve
            let preparer = ImagePreparer(
                store: store,
                transports: ImageTransports(engine: engine, stagingDirectory: makeStagingDirectory()) { _ in options },
                platform: try platform.map(Self.parsePlatform) ?? PlatformSelector(), jobs: transfer.jobs,
                display: display,
                limits: UnpackLimits(maxUncompressedBytes: ByteCount.parse(maxLayerSize) ?? 0, maxExpansionRatio: maxLayerRatio,
                                     freeSpaceReserve: reserve, maxEntries: maxLayerEntries))
            let fetched = try await preparer.fetch(try Self.location(reference))
            let specOptions = RuntimeSpecOptions(
                command: try command.map(CommandLineForm.parse), entrypoint: try entrypoint.map(CommandLineForm.parse),
                environment: environment, workingDirectory: workingDirectory, user: user, hostname: hostname,
                terminal: terminal)
            // Unpacking blocks, so it runs on a thread of its own while the downloads go on; one lease from unpacking
            // to the bundle's record, so a concurrent prune cannot take the stacks away.
            let mode: RootfsMode = overlay ? .overlay : .flatten
            let worker = BlockingPool(threadCount: 1)
            defer { worker.shutdown() }
            let image: ImageRecord
            let prepared: BundleDirectory.Prepared
            let bundle = self.bundle
            do {
                (image, prepared) = try await worker.run {
                    try store.withLease {
                        // A flattened rootfs is copied from the new top stack while the cache flushes it.
                        let started = try BundleDirectory.begin(at: bundle)
                        var rootfsCopied = false
                        do {
                            let image = try preparer.install(fetched) { topRootfs in
                                guard mode == .flatten else { return }
                                try Rootfs.flatten(from: topRootfs, to: "\(started.path)/rootfs", freeSpaceReserve: reserve)
                                rootfsCopied = true
                            }
                            return (image, try BundleDirectory.prepare(image: image, store: store, in: started,
                                                                       mode: mode, options: specOptions,
                                                                       rootfsCopied: rootfsCopied,
                                                                       freeSpaceReserve: reserve))
                        } catch {
                            if rootfsCopied { try? Rootfs.removeCopy("\(started.path)/rootfs") }
                            started.abandon()
                            throw error
                        }
                    }
                }
            } catch {
                if case .downloaded(let download) = fetched { await download.finish(cancel: true) }
                throw error
            }
            if case .downloaded(let download) = fetched { await download.finish(cancel: false) }
            if !transfer.quiet {
                printError("Prepared \(reference) (\(image.manifestDigest)) in \(prepared.bundlePath) "
                           + "(rootfs: \(prepared.mode.rawValue))")
            }
        }
    }
}
