import Glibc

/// Something that happened to a repository's content, as distribution's notifications describe it
/// (`notifications/event.go`): manifest and blob pushes, pulls, mounts and deletes.
///
/// The registry makes one when an operation succeeded and hands it to the configured `RegistryEventSink`; the
/// event's own id and the source record are added by the sink, which owns delivery.
public struct RegistryEvent: Sendable, Equatable {
    /// distribution's action names.
    public enum Action: String, Sendable, CaseIterable {
        case pull, push, mount, delete
    }

    /// What the action was done to. Absent fields are left out of the JSON, as distribution's `omitempty` does:
    /// a delete names only the repository and the digest (or the tag).
    public struct Target: Sendable, Equatable {
        public var mediaType: String?
        public var digest: String?
        /// Bytes of the content (sent as both `size` and distribution's older `length`).
        public var size: Int64?
        public var repository: String
        /// The repository a blob was mounted from, when the request named it.
        public var fromRepository: String?
        /// Where the content can be fetched, from the request's scheme and `Host`.
        public var url: String?
        public var tag: String?

        public init(mediaType: String? = nil, digest: String? = nil, size: Int64? = nil, repository: String,
                    fromRepository: String? = nil, url: String? = nil, tag: String? = nil) {
            self.mediaType = mediaType
            self.digest = digest
            self.size = size
            self.repository = repository
            self.fromRepository = fromRepository
            self.url = url
            self.tag = tag
        }
    }

    /// The request that caused the event (distribution's `RequestRecord`, without the id the sink assigns).
    public struct RequestRecord: Sendable, Equatable {
        /// The client's address and port.
        public var addr: String
        /// The `Host` header as received.
        public var host: String?
        public var method: String
        public var userAgent: String?

        public init(addr: String, host: String?, method: String, userAgent: String?) {
            self.addr = addr
            self.host = host
            self.method = method
            self.userAgent = userAgent
        }
    }

    public var action: Action
    /// Wall-clock time of the event: seconds and nanoseconds since the Unix epoch.
    public var seconds: Int64
    public var nanoseconds: Int32
    public var target: Target
    public var request: RequestRecord
    /// The authenticated user; nil for an anonymous request (distribution then sends `"actor":{}`).
    public var actor: String?

    public init(action: Action, seconds: Int64, nanoseconds: Int32, target: Target, request: RequestRecord,
                actor: String?) {
        self.action = action
        self.seconds = seconds
        self.nanoseconds = nanoseconds
        self.target = target
        self.request = request
        self.actor = actor
    }

    /// An event that happens now.
    public init(action: Action, target: Target, request: RequestRecord, actor: String?) {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        self.init(action: action, seconds: Int64(now.tv_sec), nanoseconds: Int32(now.tv_nsec), target: target,
                  request: request, actor: actor)
    }
}

/// Where the registry hands its events. Called on the event-loop threads, once per successful operation: it must
/// not block (queue the event and return).
public protocol RegistryEventSink: Sendable {
    func record(_ event: RegistryEvent)
}
