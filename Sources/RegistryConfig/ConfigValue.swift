/// A typed configuration value, as the table's `ConfigKind` produced it.
public enum ConfigValue: Sendable, Equatable, CustomStringConvertible {
    case string(String)
    case bool(Bool)
    case int(Int)
    case number(Double)
    /// Seconds.
    case duration(Double)
    case list([String])

    /// The value as the configuration file writes it (durations in the largest whole unit).
    public var description: String {
        switch self {
        case .string(let text): return text
        case .bool(let flag): return flag ? "true" : "false"
        case .int(let number): return String(number)
        case .number(let number): return number == number.rounded() && abs(number) < 1e15 ? String(Int(number)) : String(number)
        case .duration(let seconds): return Self.durationText(seconds)
        case .list(let items): return "[" + items.joined(separator: ", ") + "]"
        }
    }

    static func durationText(_ seconds: Double) -> String {
        guard seconds == seconds.rounded(), seconds < 1e15 else { return "\(seconds)s" }
        let whole = Int(seconds)
        if whole != 0 && whole % 3600 == 0 { return "\(whole / 3600)h" }
        if whole != 0 && whole % 60 == 0 { return "\(whole / 60)m" }
        return "\(whole)s"
    }
}
