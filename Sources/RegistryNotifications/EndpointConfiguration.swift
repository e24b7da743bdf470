import SystemIO
import Registry

/// One receiver of events: distribution's `notifications.endpoints` entry, with its names and defaults.
public struct EndpointConfiguration: Sendable, Equatable {
    /// Names the endpoint in logs and metrics (`{endpoint="…"}`) and names its queue's folder, so it is kept to
    /// letters, digits, `.`, `_` and `-`.
    public var name: String
    /// An absolute http:// or https:// URL; https is verified against the system's CAs.
    public var url: String
    /// Extra request headers, each name with its values (one header line per value), as distribution's
    /// `http.Header` map of lists.
    public var headers: [String: [String]]
    /// Seconds one POST may take, connection included (distribution's default 1s).
    public var timeout: Double
    /// Failures in a row that are retried at once; from then on, retries wait `backoff`, doubling up to
    /// `maxBackoff` (distribution's default 10).
    public var threshold: Int
    /// Seconds of the first wait once `threshold` is reached (distribution's default 1s).
    public var backoff: Double
    /// Events whose target has one of these media types are not sent (distribution's older key).
    public var ignoredMediaTypes: [String]
    /// `ignore.mediatypes`: the same, distribution's newer key; both apply.
    public var ignoreMediaTypes: [String]
    /// `ignore.actions`: events with these actions are not sent.
    public var ignoreActions: [RegistryEvent.Action]
    /// A disabled endpoint gets no queue and no events.
    public var disabled: Bool

    public init(name: String, url: String, headers: [String: [String]] = [:], timeout: Double = 1, threshold: Int = 10,
                backoff: Double = 1, ignoredMediaTypes: [String] = [], ignoreMediaTypes: [String] = [],
                ignoreActions: [RegistryEvent.Action] = [], disabled: Bool = false) {
        self.name = name
        self.url = url
        self.headers = headers
        self.timeout = timeout
        self.threshold = threshold
        self.backoff = backoff
        self.ignoredMediaTypes = ignoredMediaTypes
        self.ignoreMediaTypes = ignoreMediaTypes
        self.ignoreActions = ignoreActions
        self.disabled = disabled
    }

    /// `url` for logs: credentials in it (`https://user:password@host/…`) and its query are replaced by `<redacted>`.
    public var redactedURL: String { URLRedaction.redacted(url) }

    /// The longest wait between two attempts: the doubling stops here, so an endpoint that comes back after a
    /// long outage gets its events within a minute (or `backoff`, if that is longer).
    public var maxBackoff: Double { max(backoff, 60) }

    /// Whether the filters let `event` through to this endpoint.
    public func accepts(_ event: RegistryEvent) -> Bool {
        if ignoreActions.contains(event.action) { return false }
        if let mediaType = event.target.mediaType,
           ignoredMediaTypes.contains(mediaType) || ignoreMediaTypes.contains(mediaType) {
            return false
        }
        return true
    }

    /// Seconds to wait before the next attempt after `failures` failed ones in a row: none below the threshold,
    /// then `backoff`, doubling, capped at `maxBackoff`.
    public func delay(afterFailures failures: Int) -> Double {
        guard failures > 0, failures >= threshold else { return 0 }
        let doublings = min(failures - threshold, 30)
        return min(backoff * Double(1 << doublings), maxBackoff)
    }

    /// Whether `name` can name an endpoint (see `name`).
    public static func isValidName(_ name: String) -> Bool {
        guard let first = name.utf8.first, name.utf8.count <= 64, first != UInt8(ascii: "."),
              first != UInt8(ascii: "-") else { return false }
        return name.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2E || c == 0x5F
                || c == 0x2D
        }
    }
}

/// Where and how much the per-endpoint queues keep (`notifications.queue.*`).
public struct NotificationQueueSettings: Sendable, Equatable {
    /// Folder of the queues, one sub-folder per endpoint; created 0700.
    public var directory: String
    /// Events kept per endpoint; past this the oldest are dropped (and counted).
    public var maxEvents: Int

    public static let defaultMaxEvents = 10_000

    public init(directory: String, maxEvents: Int = defaultMaxEvents) {
        self.directory = directory
        self.maxEvents = maxEvents
    }
}
