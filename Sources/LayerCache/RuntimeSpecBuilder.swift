import OCIModel

/// Converts an image config to a runtime `config.json` as image-spec `conversion.md` says, with the
/// implementation-defined parts from ``RuntimeSpecDefaults``.
///
/// - `process.args` = `Entrypoint` + `Cmd` (an overridden entrypoint drops the image's `Cmd`, as `docker run
///   --entrypoint` does); `env` = `Env` verbatim, plus `PATH` when absent and `TERM=xterm` for a terminal, then the
///   overrides; `cwd` = `WorkingDir` or `/`; `user` resolved against the image's `/etc/passwd` and `/etc/group`.
/// - Annotations: `org.opencontainers.image.{os,architecture,variant,os.version,os.features,author,created,
///   stopSignal,exposedPorts}` from the config, then `Config.Labels`, which win on conflict (conversion.md
///   "Annotations"), then the caller's. Manifest annotations are not copied (conversion.md: a converter SHOULD NOT).
/// - `Config.Volumes` are not turned into mounts: the data stays in the rootfs, as with `runc` alone.
public struct RuntimeSpecBuilder: Sendable {
    public var imageConfig: ImageConfig
    /// The manifest the config came from; names the default hostname.
    public var manifestDigest: Digest?
    public var options: RuntimeSpecOptions

    public init(imageConfig: ImageConfig, manifestDigest: Digest?, options: RuntimeSpecOptions = RuntimeSpecOptions()) {
        self.imageConfig = imageConfig
        self.manifestDigest = manifestDigest
        self.options = options
    }

    /// Builds the configuration, resolving the user against the image files under `rootfs`.
    public func build(rootfs: String) throws -> RuntimeSpec {
        try build(userDatabase: UserDatabase.load(rootfs: rootfs))
    }

    /// Builds the configuration with an already loaded user database.
    /// - Throws: ``RuntimeSpecError``.
    public func build(userDatabase: UserDatabase) throws -> RuntimeSpec {
        guard imageConfig.os == "linux" else { throw RuntimeSpecError.unsupportedOS(imageConfig.os) }
        let execution = imageConfig.config ?? ImageConfig.ExecutionConfig()

        let entrypoint = options.entrypoint ?? execution.entrypoint ?? []
        let command = options.command ?? (options.entrypoint == nil ? execution.cmd ?? [] : [])
        let args = entrypoint + command
        guard !args.isEmpty else { throw RuntimeSpecError.noCommand }

        let user: UserDatabase.ResolvedUser
        do {
            user = try userDatabase.resolve(options.user ?? execution.user ?? "")
        } catch let error as UserDatabaseError {
            throw RuntimeSpecError.user(error)
        }

        var cwd = options.workingDirectory ?? execution.workingDir ?? ""
        if cwd.isEmpty { cwd = "/" }
        // runtime-spec: cwd MUST be absolute; Docker reads a relative WorkingDir from old builders as from `/`.
        if !cwd.hasPrefix("/") { cwd = "/" + cwd }

        let process = RuntimeSpec.Process(
            terminal: options.terminal,
            user: RuntimeSpec.User(uid: user.uid, gid: user.gid,
                                   additionalGids: user.additionalGids.isEmpty ? nil : user.additionalGids),
            args: args, env: try environment(execution.env ?? []), cwd: cwd,
            capabilities: RuntimeSpecDefaults.processCapabilities, rlimits: RuntimeSpecDefaults.rlimits,
            noNewPrivileges: RuntimeSpecDefaults.noNewPrivileges)
        let annotations = annotations(execution)
        return RuntimeSpec(
            ociVersion: RuntimeSpecDefaults.ociVersion, process: process,
            root: RuntimeSpec.Root(path: "rootfs", readonly: options.readonlyRootfs),
            hostname: options.hostname ?? manifestDigest.map { String($0.encoded.prefix(12)) },
            mounts: RuntimeSpecDefaults.mounts,
            linux: RuntimeSpec.Linux(resources: RuntimeSpecDefaults.resources, namespaces: RuntimeSpecDefaults.namespaces,
                                     maskedPaths: RuntimeSpecDefaults.maskedPaths,
                                     readonlyPaths: RuntimeSpecDefaults.readonlyPaths),
            annotations: annotations.isEmpty ? nil : annotations)
    }

    /// The image's `Env` verbatim, defaults for names it lacks, then the overrides (replacing same-name entries).
    func environment(_ imageEnvironment: [String]) throws -> [String] {
        var env = imageEnvironment
        func name(_ entry: String) -> Substring { entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)[0] }
        func has(_ variable: String) -> Bool { env.contains { name($0) == variable } }
        if !has("PATH") { env.append("PATH=\(RuntimeSpecDefaults.path)") }
        if options.terminal && !has("TERM") { env.append("TERM=xterm") }
        for entry in options.environment {
            guard let equals = entry.firstIndex(of: "="), equals != entry.startIndex else {
                throw RuntimeSpecError.invalidEnvironment(entry)
            }
            let variable = entry[..<equals]
            if let index = env.firstIndex(where: { name($0) == variable }) {
                env[index] = entry
                env.removeAll { name($0) == variable && $0 != entry }
            } else {
                env.append(entry)
            }
        }
        return env
    }

    /// conversion.md "Annotation Fields" and `Config.ExposedPorts`, then `Config.Labels`, then the caller's.
    func annotations(_ execution: ImageConfig.ExecutionConfig) -> [String: String] {
        var result: [String: String] = [:]
        let prefix = "org.opencontainers.image."
        result[prefix + "os"] = imageConfig.os
        result[prefix + "architecture"] = imageConfig.architecture
        result[prefix + "variant"] = imageConfig.variant
        result[prefix + "os.version"] = imageConfig.osVersion
        result[prefix + "os.features"] = imageConfig.osFeatures.map { $0.joined(separator: ",") }
        result[prefix + "author"] = imageConfig.author
        result[prefix + "created"] = imageConfig.created
        result[prefix + "stopSignal"] = execution.stopSignal
        if let ports = execution.exposedPorts, !ports.isEmpty {
            result[prefix + "exposedPorts"] = ports.sorted().joined(separator: ",")
        }
        for (key, value) in execution.labels ?? [:] where !key.isEmpty { result[key] = value }
        for (key, value) in options.annotations where !key.isEmpty { result[key] = value }
        return result
    }
}
