/// An OCI runtime bundle's `config.json` (runtime-spec v1.3.0 `config.md` and `config-linux.md`): the subset a
/// container from an image needs. Optional fields left nil are omitted from the JSON.
public struct RuntimeSpec: Codable, Sendable, Equatable {
    /// The runtime-spec version this configuration complies with.
    public var ociVersion: String
    public var process: Process?
    public var root: Root?
    public var hostname: String?
    public var mounts: [Mount]?
    public var linux: Linux?
    public var annotations: [String: String]?

    public init(ociVersion: String, process: Process?, root: Root?, hostname: String?, mounts: [Mount]?,
                linux: Linux?, annotations: [String: String]?)
    {
        self.ociVersion = ociVersion
        self.process = process
        self.root = root
        self.hostname = hostname
        self.mounts = mounts
        self.linux = linux
        self.annotations = annotations
    }

    /// `process` (config.md "Process", "POSIX process", "Linux Process").
    public struct Process: Codable, Sendable, Equatable {
        public var terminal: Bool?
        public var user: User
        public var args: [String]
        public var env: [String]?
        /// Absolute.
        public var cwd: String
        public var capabilities: Capabilities?
        public var rlimits: [Rlimit]?
        public var noNewPrivileges: Bool?

        public init(terminal: Bool?, user: User, args: [String], env: [String]?, cwd: String,
                    capabilities: Capabilities?, rlimits: [Rlimit]?, noNewPrivileges: Bool?)
        {
            self.terminal = terminal
            self.user = user
            self.args = args
            self.env = env
            self.cwd = cwd
            self.capabilities = capabilities
            self.rlimits = rlimits
            self.noNewPrivileges = noNewPrivileges
        }
    }

    /// `process.user` (POSIX).
    public struct User: Codable, Sendable, Equatable {
        public var uid: UInt32
        public var gid: UInt32
        public var additionalGids: [UInt32]?

        public init(uid: UInt32, gid: UInt32, additionalGids: [UInt32]?) {
            self.uid = uid
            self.gid = gid
            self.additionalGids = additionalGids
        }
    }

    /// `process.capabilities`: names such as `CAP_CHOWN`.
    public struct Capabilities: Codable, Sendable, Equatable {
        public var bounding: [String]?
        public var effective: [String]?
        public var inheritable: [String]?
        public var permitted: [String]?
        public var ambient: [String]?

        public init(bounding: [String]?, effective: [String]?, inheritable: [String]?, permitted: [String]?,
                    ambient: [String]?)
        {
            self.bounding = bounding
            self.effective = effective
            self.inheritable = inheritable
            self.permitted = permitted
            self.ambient = ambient
        }
    }

    /// One `process.rlimits` entry.
    public struct Rlimit: Codable, Sendable, Equatable {
        public var type: String
        public var hard: UInt64
        public var soft: UInt64

        public init(type: String, hard: UInt64, soft: UInt64) {
            self.type = type
            self.hard = hard
            self.soft = soft
        }
    }

    /// `root`.
    public struct Root: Codable, Sendable, Equatable {
        /// Relative to the bundle (conventionally `rootfs`) or absolute.
        public var path: String
        public var readonly: Bool?

        public init(path: String, readonly: Bool?) {
            self.path = path
            self.readonly = readonly
        }
    }

    /// One `mounts` entry (POSIX).
    public struct Mount: Codable, Sendable, Equatable {
        public var destination: String
        public var type: String?
        public var source: String?
        public var options: [String]?

        public init(destination: String, type: String?, source: String?, options: [String]?) {
            self.destination = destination
            self.type = type
            self.source = source
            self.options = options
        }
    }

    /// `linux` (config-linux.md).
    public struct Linux: Codable, Sendable, Equatable {
        public var resources: Resources?
        public var namespaces: [Namespace]?
        public var maskedPaths: [String]?
        public var readonlyPaths: [String]?

        public init(resources: Resources?, namespaces: [Namespace]?, maskedPaths: [String]?, readonlyPaths: [String]?) {
            self.resources = resources
            self.namespaces = namespaces
            self.maskedPaths = maskedPaths
            self.readonlyPaths = readonlyPaths
        }
    }

    /// `linux.namespaces` entry: a new namespace of `type` unless `path` names one to join.
    public struct Namespace: Codable, Sendable, Equatable {
        public var type: String
        public var path: String?

        public init(type: String, path: String? = nil) {
            self.type = type
            self.path = path
        }
    }

    /// `linux.resources` (only the device cgroup rules are used here).
    public struct Resources: Codable, Sendable, Equatable {
        public var devices: [DeviceRule]?

        public init(devices: [DeviceRule]?) { self.devices = devices }
    }

    /// `linux.resources.devices` entry.
    public struct DeviceRule: Codable, Sendable, Equatable {
        public var allow: Bool
        public var type: String?
        public var major: Int64?
        public var minor: Int64?
        public var access: String?

        public init(allow: Bool, type: String? = nil, major: Int64? = nil, minor: Int64? = nil, access: String?) {
            self.allow = allow
            self.type = type
            self.major = major
            self.minor = minor
            self.access = access
        }
    }
}
