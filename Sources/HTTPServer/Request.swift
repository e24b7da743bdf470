import Glibc
import SystemIO

/// One request as a handler sees it: the parsed head and where it came from.
public struct Request: Sendable {
    public var head: RequestHead
    public var remoteAddress: SocketAddress
    /// Received time, monotonic nanoseconds.
    public var startNanos: UInt64
    /// The request came over TLS.
    public var isSecure = false
    /// The subject (RFC 2253) of the client certificate, verified against `TLSSettings.clientCAPaths`.
    public var clientCertificateSubject: String?
    /// The client certificate's common name when it has exactly one, read from the certificate's entries (not
    /// parsed out of the printed subject): the name mutual TLS gives its user.
    public var clientCertificateCommonName: String?

    public init(head: RequestHead, remoteAddress: SocketAddress, startNanos: UInt64 = Clock.monotonicNanos()) {
        self.head = head
        self.remoteAddress = remoteAddress
        self.startNanos = startNanos
    }

    public var method: String { head.method }
    public var path: Substring { head.path }
    public var headers: HTTPHeaders { head.headers }

    /// The query's parameters, percent-decoded, in order.
    public var queryItems: [(name: String, value: String)] {
        guard let query = head.query, !query.isEmpty else { return [] }
        return query.split(separator: "&", omittingEmptySubsequences: true).map { pair in
            if let eq = pair.firstIndex(of: "=") {
                return (PercentDecoding.decode(pair[..<eq]), PercentDecoding.decode(pair[pair.index(after: eq)...]))
            }
            return (PercentDecoding.decode(pair), "")
        }
    }

    /// The first value of a query parameter.
    public func query(_ name: String) -> String? {
        queryItems.first { $0.name == name }?.value
    }
}

/// Percent decoding (RFC 3986 §2.1): for query strings with the form rule `+` → space, for path segments without.
public enum PercentDecoding {
    /// Decodes a query-string name or value (`application/x-www-form-urlencoded` style).
    public static func decode(_ text: Substring) -> String {
        decode(text, plusIsSpace: true)
    }

    /// Decodes one path segment: only `%XX`; a malformed escape is kept as it is (and fails validation later).
    public static func decodePathSegment(_ text: Substring) -> String {
        decode(text, plusIsSpace: false)
    }

    private static func decode(_ text: Substring, plusIsSpace: Bool) -> String {
        guard text.contains("%") || (plusIsSpace && text.contains("+")) else { return String(text) }
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            if bytes[i] == 0x25, i + 2 < bytes.count, let h = hex(bytes[i + 1]), let l = hex(bytes[i + 2]) {
                out.append(h << 4 | l)
                i += 3
            } else {
                out.append(plusIsSpace && bytes[i] == 0x2B ? 0x20 : bytes[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func hex(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: c - 0x30
        case 0x41...0x46: c - 0x37
        case 0x61...0x66: c - 0x57
        default: nil
        }
    }
}

/// Monotonic time for deadlines and durations.
public enum Clock {
    public static func monotonicNanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}
