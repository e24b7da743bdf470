import Glibc
import Registry

/// The registry node that generates events (distribution's `SourceRecord`).
public struct EventSource: Sendable, Equatable {
    /// The node's host name and port.
    public var addr: String
    /// Identifies this run of the server; a new one at every start.
    public var instanceID: String

    public init(addr: String, instanceID: String = EventEnvelope.makeUUID()) {
        self.addr = addr
        self.instanceID = instanceID
    }
}

/// distribution's notification format (`notifications/event.go`, docs `notifications.md`): each event is a JSON
/// object, and one POST carries `{"events":[…]}` typed `application/vnd.docker.distribution.events.v1+json`.
///
/// Field names, nesting and omissions follow distribution's Go structs: `omitempty` fields are left out when empty
/// (a delete's target has only `digest` and `repository`, or `repository` and `tag`); `request.id`,
/// `request.method` and `request.useragent` are always present; `actor` is `{}` for an anonymous request. The
/// timestamp is RFC 3339 in UTC with the fraction Go's `RFC3339Nano` writes (trailing zeros dropped).
public enum EventEnvelope {
    public static let mediaType = "application/vnd.docker.distribution.events.v1+json"

    /// One event as JSON: one line, no newline (every control character in a string is escaped).
    /// - Parameters:
    ///   - id: the event's unique id (receivers deduplicate by it: delivery is at least once).
    ///   - requestID: the id of the request that caused it.
    public static func encode(_ event: RegistryEvent, id: String, requestID: String, source: EventSource) -> [UInt8] {
        var json = JSONObjectWriter()
        json.string("id", id)
        json.string("timestamp", timestamp(seconds: event.seconds, nanoseconds: event.nanoseconds))
        json.string("action", event.action.rawValue)
        json.object("target") { target in
            let t = event.target
            target.optionalString("mediaType", t.mediaType)
            target.optionalString("digest", t.digest)
            if let size = t.size, size != 0 {
                target.number("size", size)
                target.number("length", size)
            }
            target.optionalString("repository", t.repository)
            target.optionalString("fromRepository", t.fromRepository)
            target.optionalString("url", t.url)
            target.optionalString("tag", t.tag)
        }
        json.object("request") { request in
            let r = event.request
            request.string("id", requestID)
            request.optionalString("addr", r.addr)
            request.optionalString("host", r.host)
            request.string("method", r.method)
            request.string("useragent", r.userAgent ?? "")
        }
        json.object("actor") { actor in actor.optionalString("name", event.actor) }
        json.object("source") { s in
            s.optionalString("addr", source.addr)
            s.optionalString("instanceID", source.instanceID)
        }
        return json.finish()
    }

    /// The body of one POST: the events, encoded by `encode`, in order.
    public static func envelope(_ events: [[UInt8]]) -> [UInt8] {
        var body = Array(#"{"events":["#.utf8)
        body.reserveCapacity(events.reduce(16) { $0 + $1.count + 1 })
        for (index, event) in events.enumerated() {
            if index > 0 { body.append(UInt8(ascii: ",")) }
            body += event
        }
        body += Array("]}".utf8)
        return body
    }

    /// `2026-12-02T03:20:34.5Z`: RFC 3339 in UTC, as Go's `time.RFC3339Nano` writes it.
    public static func timestamp(seconds: Int64, nanoseconds: Int32) -> String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        var text = "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))"
        if nanoseconds > 0 {
            var fraction = pad(nanoseconds, 9)
            while fraction.hasSuffix("0") { fraction.removeLast() }
            text += "." + fraction
        }
        return text + "Z"
    }

    /// A random (version 4) UUID, as distribution's event and request ids are, from the system's generator.
    public static func makeUUID() -> String {
        var generator = SystemRandomNumberGenerator()
        return makeUUID(using: &generator)
    }

    /// A random (version 4) UUID from `generator`.
    public static func makeUUID(using generator: inout some RandomNumberGenerator) -> String {
        let high: UInt64 = generator.next(), low: UInt64 = generator.next()
        var text: [UInt8] = []
        text.reserveCapacity(36)
        for index in 0..<16 {
            var byte = UInt8(truncatingIfNeeded: (index < 8 ? high : low) >> (8 * (index % 8)))
            if index == 6 { byte = byte & 0x0F | 0x40 }  // version 4
            if index == 8 { byte = byte & 0x3F | 0x80 }  // RFC 4122 variant
            if index == 4 || index == 6 || index == 8 || index == 10 { text.append(UInt8(ascii: "-")) }
            text.append(hexDigits[Int(byte >> 4)])
            text.append(hexDigits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}

/// A fast generator for the events' ids (SplitMix64), seeded from the system's: ids must be unique, not secret,
/// and the system generator costs a `getrandom` call per draw.
struct IDGenerator: RandomNumberGenerator {
    private var state: UInt64

    init() {
        var system = SystemRandomNumberGenerator()
        state = system.next()
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Writes one JSON object, fields in the order given, into one buffer (nested objects too).
struct JSONObjectWriter {
    private var bytes: [UInt8]
    /// Whether the object being written has no field yet.
    private var empty = true

    init() {
        bytes = [UInt8(ascii: "{")]
        bytes.reserveCapacity(768)
    }

    mutating func string(_ name: String, _ value: String) {
        key(name)
        Self.appendString(value, to: &bytes)
    }

    /// Leaves the field out when the value is nil or empty (Go's `omitempty`).
    mutating func optionalString(_ name: String, _ value: String?) {
        if let value, !value.isEmpty { string(name, value) }
    }

    mutating func number(_ name: String, _ value: Int64) {
        key(name)
        bytes.append(contentsOf: String(value).utf8)
    }

    mutating func object(_ name: String, _ body: (inout JSONObjectWriter) -> Void) {
        key(name)
        bytes.append(UInt8(ascii: "{"))
        empty = true
        body(&self)
        bytes.append(UInt8(ascii: "}"))
        empty = false
    }

    consuming func finish() -> [UInt8] {
        bytes.append(UInt8(ascii: "}"))
        return bytes
    }

    private mutating func key(_ name: String) {
        if !empty { bytes.append(UInt8(ascii: ",")) }
        empty = false
        Self.appendString(name, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
    }

    /// A JSON string (RFC 8259 §7): quotes, backslashes and control characters escaped; the rest as UTF-8.
    static func appendString(_ value: String, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        var value = value
        value.withUTF8 { utf8 in
            // Most strings need no escape: one copy.
            guard utf8.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C || $0 == 0x7F }) else {
                bytes.append(contentsOf: utf8)
                return
            }
            for c in utf8 {
                switch c {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): bytes.append(UInt8(ascii: "\\")); bytes.append(c)
                case 0x0A: bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "n"))
                case 0x0D: bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "r"))
                case 0x09: bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "t"))
                case 0..<0x20, 0x7F:
                    bytes.append(contentsOf: "\\u00".utf8)
                    bytes.append(hexDigits[Int(c >> 4)])
                    bytes.append(hexDigits[Int(c & 0x0F)])
                default: bytes.append(c)
                }
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}

private let hexDigits = Array("0123456789abcdef".utf8)
