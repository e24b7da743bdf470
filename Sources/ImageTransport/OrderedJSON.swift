import Foundation

/// A JSON value whose object keys keep their order when printed (this Foundation's `JSONEncoder` reorders
/// them), for output meant to look like skopeo's.
public indirect enum OrderedJSON: Sendable {
    case string(String)
    case number(Int64)
    case bool(Bool)
    case null
    case array([OrderedJSON])
    case object([(String, OrderedJSON)])

    public static func optional(_ text: String?) -> OrderedJSON { text.map { .string($0) } ?? .null }
    public static func strings(_ list: [String]?) -> OrderedJSON { list.map { .array($0.map { .string($0) }) } ?? .null }
    public static func map(_ dictionary: [String: String]?) -> OrderedJSON {
        guard let dictionary else { return .null }
        return .object(dictionary.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })
    }

    /// Indented with four spaces, as skopeo prints.
    public func pretty() -> String {
        var output = ""
        write(to: &output, indent: 0)
        return output
    }

    private func write(to output: inout String, indent: Int) {
        let pad = String(repeating: " ", count: indent + 4)
        let closePad = String(repeating: " ", count: indent)
        switch self {
        case .string(let text): output += Self.quote(text)
        case .number(let value): output += String(value)
        case .bool(let value): output += value ? "true" : "false"
        case .null: output += "null"
        case .array(let items):
            if items.isEmpty { output += "[]"; return }
            output += "[\n"
            for (offset, item) in items.enumerated() {
                output += pad
                item.write(to: &output, indent: indent + 4)
                output += offset == items.count - 1 ? "\n" : ",\n"
            }
            output += closePad + "]"
        case .object(let pairs):
            if pairs.isEmpty { output += "{}"; return }
            output += "{\n"
            for (offset, (key, value)) in pairs.enumerated() {
                output += pad + Self.quote(key) + ": "
                value.write(to: &output, indent: indent + 4)
                output += offset == pairs.count - 1 ? "\n" : ",\n"
            }
            output += closePad + "}"
        }
    }

    static func quote(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case "<": result += "\\u003c"
            case ">": result += "\\u003e"
            case "&": result += "\\u0026"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result + "\""
    }
}
