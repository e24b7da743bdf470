import Foundation
import Glibc
import ImageTransport
import OCIModel
import SystemIO
import TarArchive

/// Builds a new image on top of a base image: each directory becomes one gzip tar layer (deterministic), the
/// base config gains the layers' diffIDs, a history entry per layer and the asked overrides, and a new manifest
/// lists the base layers plus the new ones. The result is a `DerivedImageSource` the copier writes anywhere;
/// base blobs already at the destination are skipped or mounted, so only the new layers and config move.
struct ImageAppender {
    struct Layer {
        var directory: String
        var destinationPath: String
    }

    struct Overrides {
        var command: [String]?
        var entrypoint: [String]?
        var environment: [String] = []
        var labels: [String: String] = [:]
        var workingDirectory: String?
        var user: String?
        var keepModificationTimes = false
        /// `created` of the config and history; `SOURCE_DATE_EPOCH` when set, else now.
        var created: String
    }

    let base: any ImageSource
    let platform: PlatformSelector
    let layers: [Layer]
    let overrides: Overrides
    let workDirectory: String

    /// Archives the layers and writes the new config; returns the source to copy from and the new digest.
    func build() async throws -> DerivedImageSource {
        let (_, _, baseManifest) = try await ImageReader.resolveImage(base, platform: platform)
        let configBytes = try await ImageReader.readConfig(base, baseManifest.config)
        var config: JSONValue
        do { config = try JSONCoding.decode(JSONValue.self, from: configBytes) } catch {
            throw TransportError.invalidImage("\(base.description): config", reason: "\(error)")
        }
        let docker = baseManifest.mediaType == .dockerManifest
        var extra: [Digest: String] = [:]
        var manifest = baseManifest
        var history: [JSONValue] = []
        var diffIDs: [JSONValue] = []
        for (offset, layer) in layers.enumerated() {
            let file = "\(workDirectory)/layer-\(offset).tar.gz"
            let summary = try archive(layer, to: file)
            extra[summary.digest] = file
            manifest.layers.append(Descriptor(mediaType: docker ? .dockerLayerGzip : .ociLayerGzip,
                                              digest: summary.digest, size: summary.size))
            diffIDs.append(.string(summary.diffID.description))
            let target = layer.destinationPath.isEmpty ? "/" : layer.destinationPath
            history.append(.object([
                "created": .string(overrides.created),
                "created_by": .string("swcopy append --layer \(layer.directory):\(target)"),
            ]))
        }
        config = try edit(config, diffIDs: diffIDs, history: history)
        let newConfig = JSONCoding.encodeInfallibly(config)
        let configDigest = Digest.sha256(of: newConfig)
        let configPath = "\(workDirectory)/config.json"
        try FileSystem.writeAtomically(newConfig, to: configPath, tmpDirectory: workDirectory)
        extra[configDigest] = configPath
        manifest.config = Descriptor(mediaType: baseManifest.config.mediaType, digest: configDigest,
                                     size: Int64(newConfig.count))
        let bytes = manifest.encoded()
        let top = ManifestData(bytes: bytes, mediaType: manifest.mediaType ?? .ociManifest)
        return DerivedImageSource(base: base, top: top, extraBlobs: extra)
    }

    private func archive(_ layer: Layer, to file: String) throws -> TarWriter.Summary {
        guard FileSystem.isDirectory(layer.directory) else {
            throw TransportError.invalidLocation(layer.directory, reason: "not a directory")
        }
        let fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SystemError("open \(file)", errno: errno) }
        defer { close(fd) }
        var options = DirectoryArchiver.Options(destinationPath: layer.destinationPath)
        if overrides.keepModificationTimes { options.modificationTime = nil }
        return try DirectoryArchiver.archive(directory: layer.directory, to: fd, options: options)
    }

    /// The base config with the new layers, history and overrides; every other field is kept as it was.
    private func edit(_ config: JSONValue, diffIDs: [JSONValue], history: [JSONValue]) throws -> JSONValue {
        guard case .object(var root) = config else {
            throw TransportError.invalidImage("\(base.description): config", reason: "not a JSON object")
        }
        guard case .object(var rootfs)? = root["rootfs"], case .array(let existing)? = rootfs["diff_ids"] else {
            throw TransportError.invalidImage("\(base.description): config", reason: "no rootfs.diff_ids")
        }
        rootfs["diff_ids"] = .array(existing + diffIDs)
        root["rootfs"] = .object(rootfs)
        if case .array(let old)? = root["history"] {
            root["history"] = .array(old + history)
        } else {
            root["history"] = .array(history)
        }
        root["created"] = .string(overrides.created)
        var execution: [String: JSONValue] = [:]
        if case .object(let current)? = root["config"] { execution = current }
        if let command = overrides.command { execution["Cmd"] = .array(command.map { .string($0) }) }
        if let entrypoint = overrides.entrypoint {
            execution["Entrypoint"] = .array(entrypoint.map { .string($0) })
            // As docker does: a new entrypoint drops the base's Cmd unless a Cmd is given too.
            if overrides.command == nil { execution["Cmd"] = nil }
        }
        if !overrides.environment.isEmpty {
            var env: [String] = []
            if case .array(let current)? = execution["Env"] {
                env = current.compactMap { if case .string(let s) = $0 { s } else { nil } }
            }
            for variable in overrides.environment {
                let name = variable.prefix { $0 != "=" }
                env.removeAll { $0.prefix { $0 != "=" } == name }
                env.append(variable)
            }
            execution["Env"] = .array(env.map { .string($0) })
        }
        if !overrides.labels.isEmpty {
            var labels: [String: JSONValue] = [:]
            if case .object(let current)? = execution["Labels"] { labels = current }
            for (key, value) in overrides.labels { labels[key] = .string(value) }
            execution["Labels"] = .object(labels)
        }
        if let directory = overrides.workingDirectory { execution["WorkingDir"] = .string(directory) }
        if let user = overrides.user { execution["User"] = .string(user) }
        root["config"] = .object(execution)
        return .object(root)
    }

    /// RFC 3339 UTC of `SOURCE_DATE_EPOCH` (reproducible builds) or of now.
    static func creationTime(environment: [String: String]) -> String {
        var seconds = time(nil)
        if let epoch = environment["SOURCE_DATE_EPOCH"], let value = Int(epoch) { seconds = value }
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
                      Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
    }
}
