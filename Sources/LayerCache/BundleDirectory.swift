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
    /// The result of ``prepare(image:store:at:mode:options:freeSpaceReserve:)``.
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
    ///   - bundlePath: The bundle directory; created if missing (and removed again if preparing fails), or a new
    ///     empty one; made private to its owner (see ``begin(at:)``).
    ///   - mode: ``RootfsMode/flatten`` or ``RootfsMode/overlay``.
    ///   - options: Overrides of the image config.
    ///   - freeSpaceReserve: Bytes a ``RootfsMode/flatten`` copy leaves free on the bundle's filesystem.
    /// - Throws: ``BundleError``, ``RootfsError``, ``RuntimeSpecError``, ``CacheStoreError``, ``TrustedPathError``,
    ///   ``PrivateDirectoryError`` or `SystemError`.
    public static func prepare(image: ImageRecord, store: CacheStore, at bundlePath: String, mode: RootfsMode,
                               options: RuntimeSpecOptions = RuntimeSpecOptions(),
                               freeSpaceReserve: Int64 = FreeSpaceGuard.defaultReserve) throws -> Prepared
    {
        let started = try begin(at: bundlePath)
        do {
            return try prepare(image: image, store: store, in: started, mode: mode, options: options,
                               freeSpaceReserve: freeSpaceReserve)
        } catch {
            started.abandon()
            throw error
        }
    }

    /// A bundle directory about to be filled: checked and private (see ``begin(at:)``).
    public struct Started: Sendable {
        /// The absolute bundle directory, every ancestor trusted and no symlink on the way.
        public var path: String
        /// Whether ``begin(at:)`` created it.
        public var created: Bool { directory.created }
        /// The directory as ``begin(at:)`` found or made it.
        var directory: PrivateDirectory.Made

        /// Removes the bundle directory if ``begin(at:)`` created it and it is empty again (what a failed step made
        /// in it, that step removes; anything else in it is someone else's).
        public func abandon() {
            if created { rmdir(path) }
        }

        /// Throws unless `path` still names the directory ``begin(at:)`` checked. With trusted ancestors only root
        /// or the user could have swapped it; checked once more before `config.json` makes it a bundle.
        func checkUnchanged() throws {
            guard PrivateDirectory.isSame(path, as: directory) else { throw BundleError.replaced(path) }
        }
    }

    /// The checks made before anything is written to a bundle; then the bundle directory is made private.
    ///
    /// The path is resolved once (see ``TrustedPath``): every directory on it must be owned by root or the user and
    /// not writable by others (unless sticky), so that nobody else can rename the bundle directory away or swap in
    /// their own while it is filled by path; and it must not be a symlink itself. Missing parents are created.
    /// The bundle directory is then made (0700), or, when it exists, must be the user's and empty, apart from an
    /// empty `rootfs/` (no `config.json`, no other file): a directory in use is never taken over, its mode changed.
    /// It is private (0700, see ``PrivateDirectory``), as umoci makes it: the rootfs keeps the image's setuid files
    /// and devices, so no other user may reach it. Nothing is created or changed before the ancestors are checked,
    /// and an existing directory's mode is changed only once it has passed every check.
    /// - Throws: ``BundleError/bundleExists(_:)``, ``RootfsError/rootfsNotEmpty(_:)``, ``TrustedPathError``,
    ///   ``PrivateDirectoryError`` or `SystemError`.
    public static func begin(at bundlePath: String) throws -> Started {
        let bundle = try TrustedPath.resolve(bundlePath, createParents: true, followFinalSymlink: false)
        let directory = try PrivateDirectory.ensure(bundle) { existing in
            guard !CacheFiles.exists("\(existing)/\(configName)") else { throw BundleError.bundleExists(existing) }
            try Rootfs.checkEmptyOrAbsent("\(existing)/rootfs")
            if let other = try FileSystem.list(existing).sorted().first(where: { $0 != "rootfs" }) {
                throw PrivateDirectoryError.holdsOtherFiles(path: existing, entry: other)
            }
        }
        return Started(path: bundle, directory: directory)
    }

    /// Prepares a runtime bundle in a directory ``begin(at:)`` checked, as ``prepare(image:store:at:mode:options:freeSpaceReserve:)``
    /// does; on failure, what it made is taken apart, and the caller calls ``Started/abandon()``.
    /// - Parameter rootfsCopied: `BUNDLE/rootfs` already holds a copy of the image's top stack
    ///   (``RootfsMode/flatten``, made while the cache was flushing).
    public static func prepare(image: ImageRecord, store: CacheStore, in started: Started, mode: RootfsMode,
                               options: RuntimeSpecOptions = RuntimeSpecOptions(), rootfsCopied: Bool = false,
                               freeSpaceReserve: Int64 = FreeSpaceGuard.defaultReserve) throws -> Prepared
    {
        let bundle = started.path
        return try store.withLease {
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
                try started.checkUnchanged()
                try writeConfig(spec, bundle: bundle)
                try store.recordBundle(BundleRecord(bundlePath: bundle, manifestDigest: image.manifestDigest,
                                                    chainID: image.topChainID, rootfsMode: mode))
            } catch {
                if !foundInTheWay(error) { try? takeApart(bundle) }
                throw error
            }
            return Prepared(bundlePath: bundle, rootfsPath: rootfs, spec: spec, mode: mode)
        }
    }

    /// Whether `error` is about a rootfs found in the way (not made by this preparation: not to be taken apart).
    private static func foundInTheWay(_ error: any Error) -> Bool {
        if case .rootfsNotEmpty? = error as? RootfsError { return true }
        return false
    }

    /// Removes a bundle made by ``prepare(image:store:at:mode:options:freeSpaceReserve:)``: unmounts an overlay rootfs, deletes
    /// `config.json`, `rootfs/`, `upper/` and `work/`, removes the directory when nothing else is left in it, and
    /// drops its GC root from `store`.
    ///
    /// The path is resolved as ``begin(at:)`` resolves it (trusted ancestors, no final symlink), so that the trees
    /// removed are the bundle's, not whatever another user has put at that path.
    public static func remove(at bundlePath: String, store: CacheStore?) throws {
        let bundle = try TrustedPath.resolve(bundlePath, createParents: false, followFinalSymlink: false)
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
