import SystemIO

/// The type of a configuration key: how its text (from the file, a variable or a flag) is read and checked.
public enum ConfigKind: Sendable, Equatable {
    case string
    /// `true`/`false` (also `yes`/`no`, `on`/`off`, as YAML 1.1 and distribution's users write them).
    case bool
    case int(ClosedRange<Int>)
    /// A decimal number in the range (a rate).
    case number(ClosedRange<Double>)
    /// A number of seconds (`30`, `2.5`) or a sum of unit terms as Go writes them (`10s`, `5m`, `1h30m`, `500ms`);
    /// zero only when `allowZero`.
    case duration(allowZero: Bool)
    /// A number of bytes, optionally with a binary unit (`64KiB`, `4MiB`, `1GiB`; `k`, `M`, `G` mean the same).
    case bytes(ClosedRange<Int>)
    /// `host:port`, `[v6]:port` or `:port`.
    case address
    /// One of these words (compared ignoring case); `aliases` maps other spellings to one of them.
    case choice([String], aliases: [String: String] = [:])
    /// File paths: a YAML sequence (or one path) in the file, comma-separated in a variable or flag.
    case pathList
    /// An absolute `http://` or `https://` URL.
    case url
    /// The base URL of a service: `http://` or `https://`, a host, an optional port, nothing else (no user,
    /// path, query or fragment: the client adds those itself, and credentials belong in their own keys).
    case endpoint

    /// What this kind accepts, for error messages.
    public var accepted: String {
        switch self {
        case .string: return "a string"
        case .bool: return "true or false"
        case .int(let range): return "an integer " + Self.rangeText(range)
        case .number(let range):
            return "a number" + (range.upperBound == .infinity ? " of \(Self.short(range.lowerBound)) or more"
                                 : " from \(Self.short(range.lowerBound)) to \(Self.short(range.upperBound))")
        case .duration(let allowZero):
            return "a duration: seconds (\(allowZero ? "0, " : "")30) or a number with a unit ms, s, m, h or d (10s, 5m, 1h30m, 7d)"
        case .bytes(let range):
            return "a number of bytes, optionally with a unit KiB, MiB or GiB (64KiB), " + Self.rangeText(range)
        case .address: return "host:port, [IPv6]:port or :port"
        case .choice(let words, _): return "one of " + words.joined(separator: ", ")
        case .pathList: return "a list of paths (comma-separated in a variable or flag)"
        case .url: return "an http:// or https:// URL"
        case .endpoint: return "http:// or https://, a host and an optional port (http://127.0.0.1:7480), without path"
        }
    }

    private static func rangeText(_ range: ClosedRange<Int>) -> String {
        if range.upperBound == .max { return range.lowerBound == 0 ? "of 0 or more" : "of \(range.lowerBound) or more" }
        return "from \(range.lowerBound) to \(range.upperBound)"
    }

    private static func short(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }

    /// Reads `text` as a value of this kind. - Returns: the value, or why `text` is not one.
    func parse(_ text: String) -> Result<ConfigValue, ConfigProblem> {
        let trimmed = text.trimmingWhitespace
        switch self {
        case .string:
            return .success(.string(text))
        case .bool:
            switch trimmed.lowercased() {
            case "true", "yes", "on": return .success(.bool(true))
            case "false", "no", "off": return .success(.bool(false))
            default: return .failure(.init("\"\(text)\" is not a boolean"))
            }
        case .int(let range):
            guard let number = Int(trimmed) else { return .failure(.init("\"\(text)\" is not an integer")) }
            guard range.contains(number) else { return .failure(.init("\(number) is out of range")) }
            return .success(.int(number))
        case .number(let range):
            guard let number = Double(trimmed), number.isFinite else { return .failure(.init("\"\(text)\" is not a number")) }
            guard range.contains(number) else { return .failure(.init("\(trimmed) is out of range")) }
            return .success(.number(number))
        case .duration(let allowZero):
            guard let seconds = Self.parseDuration(trimmed) else { return .failure(.init("\"\(text)\" is not a duration")) }
            guard seconds > 0 || (allowZero && seconds == 0) else { return .failure(.init("\"\(text)\" must be more than 0")) }
            guard seconds <= Self.maxDurationSeconds else { return .failure(.init("\"\(text)\" is more than 100 years")) }
            return .success(.duration(seconds))
        case .bytes(let range):
            guard let number = Self.parseBytes(trimmed) else { return .failure(.init("\"\(text)\" is not a byte size")) }
            guard range.contains(number) else { return .failure(.init("\(number) bytes is out of range")) }
            return .success(.int(number))
        case .address:
            do { _ = try SocketAddress(parsing: trimmed) } catch { return .failure(.init("\"\(text)\": \(error)")) }
            return .success(.string(trimmed))
        case .choice(let words, let aliases):
            let lower = trimmed.lowercased()
            if let word = words.first(where: { $0.lowercased() == lower }) { return .success(.string(word)) }
            if let word = aliases[lower] { return .success(.string(word)) }
            return .failure(.init("\"\(text)\" is not a known value"))
        case .pathList:
            let items = text.split(separator: ",").map { String($0).trimmingWhitespace }.filter { !$0.isEmpty }
            return .success(.list(items))
        case .url:
            let lower = trimmed.lowercased()
            guard (lower.hasPrefix("https://") || lower.hasPrefix("http://")),
                  trimmed.split(separator: "/", omittingEmptySubsequences: true).count >= 2 else {
                return .failure(.init("\"\(text)\" is not an http(s) URL"))
            }
            return .success(.string(trimmed))
        case .endpoint:
            if let problem = Self.endpointProblem(trimmed) { return .failure(.init("\"\(text)\": \(problem)")) }
            return .success(.string(trimmed))
        }
    }

    /// Why `text` is not a service's base URL, nil when it is one.
    static func endpointProblem(_ text: String) -> String? {
        let lower = text.lowercased()
        guard let schemeEnd = lower.range(of: "://"), ["http", "https"].contains(lower[..<schemeEnd.lowerBound]) else {
            return "not an http:// or https:// URL"
        }
        var authority = Substring(text[schemeEnd.upperBound...])
        // One trailing slash is harmless (people paste it); anything after it is a path.
        if authority.hasSuffix("/") { authority.removeLast() }
        guard !authority.isEmpty else { return "no host" }
        if authority.contains("@") { return "credentials do not belong in the URL (use the key and secret keys)" }
        if authority.contains(where: { "/?#".contains($0) }) { return "a path, query or fragment is not allowed" }
        guard authority.allSatisfy({ $0.isASCII && !$0.isWhitespace && $0 != "%" }) else {
            return "the host has spaces or characters outside ASCII"
        }
        // [v6]:port, host:port or host.
        var host = authority
        var port: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return "an IPv6 host needs its closing ]" }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let rest = authority[authority.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { return "unexpected text after the IPv6 host" }
                port = rest.dropFirst()
            }
            guard !host.isEmpty, host.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else {
                return "not an IPv6 address inside [ ]"
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            port = authority[authority.index(after: colon)...]
            guard !host.isEmpty else { return "no host" }
        }
        guard host.allSatisfy({ $0.isLetter || $0.isNumber || "-.:".contains($0) }) else {
            return "\"\(host)\" is not a host name"
        }
        if let port {
            guard let number = Int(port), (1...65535).contains(number) else { return "the port must be 1 to 65535" }
        }
        return nil
    }

    /// Go's duration grammar without signs (`1h30m`, `250ms`, `1.5h`), plus days (`7d`, zot's retention
    /// durations), or a bare number of seconds.
    /// The longest duration any key takes (100 years): longer ones are typing errors, and would overflow the
    /// nanosecond arithmetic of timers and garbage collection.
    static let maxDurationSeconds: Double = 100 * 365 * 86400

    static func parseDuration(_ text: String) -> Double? {
        if let seconds = Double(text) { return seconds.isFinite && seconds >= 0 ? seconds : nil }
        var rest = Substring(text)
        var total = 0.0
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            let digits = rest.prefix { $0.isNumber || $0 == "." }
            guard let amount = Double(digits), !digits.isEmpty else { return nil }
            rest = rest.dropFirst(digits.count)
            let unit = rest.prefix { $0.isLetter }
            rest = rest.dropFirst(unit.count)
            switch unit {
            case "d": total += amount * 86400
            case "h": total += amount * 3600
            case "m": total += amount * 60
            case "s": total += amount
            case "ms": total += amount / 1000
            default: return nil
            }
        }
        return total.isFinite ? total : nil
    }

    static func parseBytes(_ text: String) -> Int? {
        let digits = text.prefix { $0.isASCII && $0.isNumber }
        guard let amount = Int(digits) else { return nil }
        let unit = text.dropFirst(digits.count).trimmingPrefix(" ").lowercased()
        let factor: Int
        switch unit {
        case "", "b": factor = 1
        case "k", "kib": factor = 1 << 10
        case "m", "mib": factor = 1 << 20
        case "g", "gib": factor = 1 << 30
        default: return nil
        }
        let (product, overflow) = amount.multipliedReportingOverflow(by: factor)
        return overflow ? nil : product
    }
}

/// Why a text is not a value of a kind (the key, source and accepted values are added by the caller).
struct ConfigProblem: Error {
    var text: String
    init(_ text: String) { self.text = text }
}

extension String {
    var trimmingWhitespace: String {
        var slice = Substring(self)
        while let first = slice.first, first.isWhitespace { slice.removeFirst() }
        while let last = slice.last, last.isWhitespace { slice.removeLast() }
        return String(slice)
    }
}
