extension ImageConfig {
    /// The execution parameters a runtime uses as defaults (config.md `config`).
    ///
    /// JSON keys are capitalised as in Docker's Go structs (`User`, `Env`, …), which the spec kept.
    public struct ExecutionConfig: Hashable, Sendable, Codable {
        /// `user`, `uid`, `user:group`, … .
        public var user: String?
        /// Ports to expose, `port/tcp`, `port/udp` or `port`; a JSON object of empty objects.
        public var exposedPorts: Set<String>?
        /// `VARNAME=VARVALUE` entries.
        public var env: [String]?
        /// The command to run.
        public var entrypoint: [String]?
        /// Default arguments to the entrypoint (or the command, if there is no entrypoint).
        public var cmd: [String]?
        /// Directories likely to hold container data; a JSON object of empty objects.
        public var volumes: Set<String>?
        /// The working directory of the process.
        public var workingDir: String?
        /// Arbitrary metadata.
        public var labels: [String: String]?
        /// The signal that stops the container, e.g. `SIGTERM`.
        public var stopSignal: String?
        /// Deprecated Windows-only Docker flag, kept for compatibility.
        public var argsEscaped: Bool?

        public init(user: String? = nil, exposedPorts: Set<String>? = nil, env: [String]? = nil,
                    entrypoint: [String]? = nil, cmd: [String]? = nil, volumes: Set<String>? = nil,
                    workingDir: String? = nil, labels: [String: String]? = nil, stopSignal: String? = nil,
                    argsEscaped: Bool? = nil)
        {
            self.user = user
            self.exposedPorts = exposedPorts
            self.env = env
            self.entrypoint = entrypoint
            self.cmd = cmd
            self.volumes = volumes
            self.workingDir = workingDir
            self.labels = labels
            self.stopSignal = stopSignal
            self.argsEscaped = argsEscaped
        }

        enum CodingKeys: String, CodingKey {
            case user = "User"
            case exposedPorts = "ExposedPorts"
            case env = "Env"
            case entrypoint = "Entrypoint"
            case cmd = "Cmd"
            case volumes = "Volumes"
            case workingDir = "WorkingDir"
            case labels = "Labels"
            case stopSignal = "StopSignal"
            case argsEscaped = "ArgsEscaped"
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            user = try container.decodeIfPresent(String.self, forKey: .user)
            exposedPorts = try Self.decodeKeySet(container, .exposedPorts)
            env = try container.decodeIfPresent([String].self, forKey: .env)
            entrypoint = try container.decodeIfPresent([String].self, forKey: .entrypoint)
            cmd = try container.decodeIfPresent([String].self, forKey: .cmd)
            volumes = try Self.decodeKeySet(container, .volumes)
            workingDir = try container.decodeIfPresent(String.self, forKey: .workingDir)
            labels = try container.decodeIfPresent([String: String].self, forKey: .labels)
            stopSignal = try container.decodeIfPresent(String.self, forKey: .stopSignal)
            argsEscaped = try container.decodeIfPresent(Bool.self, forKey: .argsEscaped)
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(user, forKey: .user)
            try Self.encodeKeySet(exposedPorts, &container, .exposedPorts)
            try container.encodeIfPresent(env, forKey: .env)
            try container.encodeIfPresent(entrypoint, forKey: .entrypoint)
            try container.encodeIfPresent(cmd, forKey: .cmd)
            try Self.encodeKeySet(volumes, &container, .volumes)
            try container.encodeIfPresent(workingDir, forKey: .workingDir)
            try container.encodeIfPresent(labels, forKey: .labels)
            try container.encodeIfPresent(stopSignal, forKey: .stopSignal)
            try container.encodeIfPresent(argsEscaped, forKey: .argsEscaped)
        }

        /// Reads a Go `map[string]struct{}` (an object whose values are `{}`) as the set of its keys;
        /// the values carry no information, so whatever they hold is ignored.
        private static func decodeKeySet(_ container: KeyedDecodingContainer<CodingKeys>,
                                         _ key: CodingKeys) throws -> Set<String>?
        {
            guard container.contains(key), try !container.decodeNil(forKey: key) else { return nil }
            let object = try container.nestedContainer(keyedBy: AnyCodingKey.self, forKey: key)
            return Set(object.allKeys.map(\.stringValue))
        }

        /// Writes a set as a Go `map[string]struct{}`, keys sorted as Go's encoder sorts them.
        private static func encodeKeySet(_ set: Set<String>?, _ container: inout KeyedEncodingContainer<CodingKeys>,
                                         _ key: CodingKeys) throws
        {
            guard let set else { return }
            var object = container.nestedContainer(keyedBy: AnyCodingKey.self, forKey: key)
            for name in set.sorted() {
                _ = object.nestedContainer(keyedBy: AnyCodingKey.self, forKey: AnyCodingKey(name))
            }
        }
    }
}
