import Foundation
import Glibc
import OCIModel
import SystemIO

/// An OCI runtime bundle (runtime-spec `bundle.md`): a directory with `config.json` and the root filesystem it
/// names, prepared from an image in the ``CacheStore``.
///
/// `config.json` is written last (atomically), so a bundle directory that holds one is complete; the cache treats
/// such a directory as a GC root (see ``CacheStore/prune(dryRun:)``).
public enum BundleDirectory {
    /// The result of ``prepare(image:store:at:mode:options:)``.
    public struct Prepared: Sendable {
        /// The absolute bundle directory (what `runc run --bundle` takes).
        public var bundlePath: String
        /// `BUNDLE/rootfs`.
        public var rootfsPath: String
        /// What was written to `BUNDLE/config.json`.
        public var spec: RuntimeSpec
        public var mode: RootfsMode
    }

    /// Prepares a runtime bundle from a cached image: rootfs (copied or overlay-mounted from the image's top
    /// stack), then `config.json` generated from the image config, then a GC root in the cache.
    ///
    /// The whole runs under a cache lease, so a concurrent prune cannot remove the stack in between. On failure,
    /// whatever was made in the bundle is taken apart again.
    /// - Parameters:
    ///   - image: A recorded image (all its stacks cached).
    ///   - store: The cache.
    ///   - bundlePath: The bundle directory; created if missing (and removed again if preparing fails), and must not
    ///     already hold a `config.json`; made private to its owner (see ``begin(at:rootfsCopied:)``).
    ///   - mode: ``RootfsMode/flatten`` or ``RootfsMode/overlay``.
    ///   - options: Overrides of the image config.
    ///   - rootfsCopied: `BUNDLE/rootfs` already holds a copy of the image's top stack (``RootfsMode/flatten``,
    ///     made while the cache was flushing; see ``begin(at:)``).
    ///   - freeSpaceReserve: Bytes a ``RootfsMode/flatten`` copy leaves free on the bundle's filesystem.
    /// - Throws: ``BundleError``, ``RootfsError``, ``RuntimeSpecError``, ``CacheStoreError`` or `SystemError`.
    public static func prepare(image: ImageRecord, store: CacheStore, at bundlePath: String, mode: RootfsMode,
                               options: RuntimeSpecOptions = RuntimeSpecOptions(), rootfsCopied: Bool = false,
                               freeSpaceReserve: Int64 = FreeSpaceGuard.defaultReserve) throws -> Prepared
    {
        let started = try begin(at: bundlePath, rootfsCopied: rootfsCopied)
        do {
            return try prepare(image: image, store: store, bundle: started.path, mode: mode, options: options,
                               rootfsCopied: rootfsCopied, freeSpaceReserve: freeSpaceReserve)
        } catch {
            started.abandon()
            throw error
        }
    }

    /// A bundle directory about to be filled.
    public struct Started: Sendable {
        /// The absolute bundle directory.
        public var path: String
        /// Whether ``begin(at:)`` created it.
        public var created: Bool

        /// Removes the bundle directory if ``begin(at:)`` created it and it is empty again (what a failed step made
        /// in it, that step removes; anything else in it is someone else's).
        public func abandon() {
            if created { rmdir(path) }
        }
    }

    /// The checks made before anything is written to a bundle: makes the directory (absolute), which must not hold
    /// a `config.json` yet, nor a `rootfs` with something in it (unless `rootfsCopied`: the copy made since).
    ///
    /// The bundle directory is private (0700, see ``PrivateDirectory``), as umoci makes it: the rootfs keeps the
    /// image's setuid files and devices, so no other user may reach it. A directory the user made beforehand with
    /// looser modes is tightened; one owned by another user is refused.
    /// - Throws: ``BundleError/bundleExists(_:)``, ``RootfsError/rootfsNotEmpty(_:)``, ``PrivateDirectoryError``
    ///   or `SystemError`.
    public static func begin(at bundlePath: String, rootfsCopied: Bool = false) throws -> Started {
        let bundle = try absolutePath(bundlePath)
        let created = try PrivateDirectory.ensure(bundle)
        let started = Started(path: bundle, created: created)
        do {
            guard !CacheFiles.exists("\(bundle)/\(configName)") else { throw BundleError.bundleExists(bundle) }
            if !rootfsCopied { try Rootfs.checkEmptyOrAbsent("\(bundle)/rootfs") }
        } catch {
            if created { rmdir(bundle) }
            throw error
        }
        return started
    }

    private static func prepare(image: ImageRecord, store: CacheStore, bundle: String, mode: RootfsMode,
                                options: RuntimeSpecOptions, rootfsCopied: Bool, freeSpaceReserve: Int64) throws -> Prepared
    {
        try store.withLease {
            let chainRootfs: String?
            if let top = image.topChainID {
                guard let cached = store.chainRootfs(top) else { throw CacheStoreError.chainMissing(top) }
                chainRootfs = cached
            } else {
                chainRootfs = nil  // an image without layers: an empty root filesystem
            }
            let config = try store.imageConfig(for: image)
            let builder = RuntimeSpecBuilder(imageConfig: config, manifestDigest: image.manifestDigest, options: options)
            let spec = try chainRootfs.map { try builder.build(rootfs: $0) }
                ?? builder.build(userDatabase: UserDatabase(users: nil, groups: nil))

            let rootfs = "\(bundle)/rootfs"
            do {
                switch (mode, chainRootfs) {
                case let (.flatten, lower?):
                    if !rootfsCopied {
                        try Rootfs.flatten(from: lower, to: rootfs, freeSpaceReserve: freeSpaceReserve)
                    }
                case let (.overlay, lower?):
                    try Rootfs.mountOverlay(lowerDirectories: [lower], bundle: bundle)
                case (_, nil):
                    try Rootfs.removeEmptyDirectory(rootfs)
                    if mkdir(rootfs, 0o755) != 0 { throw SystemError("mkdir \(rootfs)", errno: errno) }
                }
                try writeConfig(spec, bundle: bundle)
                try store.recordBundle(BundleRecord(bundlePath: bundle, manifestDigest: image.manifestDigest,
                                                    chainID: image.topChainID, rootfsMode: mode))
            } catch let error as RootfsError {
                if case .rootfsNotEmpty = error {} else { try? takeApart(bundle) }
                throw error
            } catch {
                try? takeApart(bundle)
                throw error
            }
            return Prepared(bundlePath: bundle, rootfsPath: rootfs, spec: spec, mode: mode)
        }
    }

    /// Removes a bundle made by ``prepare(image:store:at:mode:options:)``: unmounts an overlay rootfs, deletes
    /// `config.json`, `rootfs/`, `upper/` and `work/`, removes the directory when nothing else is left in it, and
    /// drops its GC root from `store`.
    public static func remove(at bundlePath: String, store: CacheStore?) throws {
        let bundle = try absolutePath(bundlePath)
        try takeApart(bundle)
        rmdir(bundle)  // only when empty: files the user put beside the bundle stay
        try store?.forgetBundle(at: bundle)
    }

    /// The name of the runtime configuration in a bundle.
    public static let configName = "config.json"

    /// Writes `BUNDLE/config.json` atomically (temporary file, fsync, rename, directory fsync).
    public static func writeConfig(_ spec: RuntimeSpec, bundle: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        var bytes = Array(try encoder.encode(spec))
        bytes.append(UInt8(ascii: "\n"))
        try CacheFiles.writeAtomically(bytes, to: "\(bundle)/\(configName)")
    }

    /// Reads `BUNDLE/config.json`.
    public static func readConfig(bundle: String) throws -> RuntimeSpec {
        guard let bytes = try CacheFiles.readSmall("\(bundle)/\(configName)") else {
            throw SystemError("open \(bundle)/\(configName)", errno: ENOENT)
        }
        return try JSONDecoder().decode(RuntimeSpec.self, from: Data(bytes))
    }

    /// Deletes what a bundle preparation makes, config first (so a half-removed bundle is no GC root).
    static func takeApart(_ bundle: String) throws {
        if unlink("\(bundle)/\(configName)") != 0 && errno != ENOENT {
            throw SystemError("unlink \(bundle)/\(configName)", errno: errno)
        }
        try Rootfs.unmount(bundle: bundle)
        for name in ["rootfs", "upper", "work"] { try CacheFiles.removeTree("\(bundle)/\(name)") }
    }

    /// `path` made absolute against the current directory (runtimes and GC roots need a stable name).
    static func absolutePath(_ path: String) throws -> String {
        var trimmed = path
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        if trimmed.hasPrefix("/") { return trimmed }
        guard let cwd = getcwd(nil, 0) else { throw SystemError("getcwd", errno: errno) }
        defer { free(cwd) }
        return String(cString: cwd) + "/" + trimmed
    }
}
