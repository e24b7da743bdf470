/// The block-style subset of YAML that `skopeo sync` files use: nested mappings by indentation, `- item`
/// sequences, flow sequences (`[]`, `[a, "b"]`), plain and quoted scalars, `#` comments. Anchors, multi-line
/// scalars and documents are refused with a line number rather than misread.
public enum YAMLValue: Sendable, Hashable {
    case scalar(String)
    case sequence([YAMLValue])
    case mapping([(key: String, value: YAMLValue)])

    public static func == (lhs: YAMLValue, rhs: YAMLValue) -> Bool {
        switch (lhs, rhs) {
        case (.scalar(let a), .scalar(let b)): a == b
        case (.sequence(let a), .sequence(let b)): a == b
        case (.mapping(let a), .mapping(let b)): a.map(\.key) == b.map(\.key) && a.map(\.value) == b.map(\.value)
        default: false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .scalar(let text): hasher.combine(text)
        case .sequence(let items): hasher.combine(items)
        case .mapping(let pairs): for pair in pairs { hasher.combine(pair.key); hasher.combine(pair.value) }
        }
    }

    public var scalar: String? { if case .scalar(let text) = self { text } else { nil } }

    /// The value of `key` in a mapping.
    public subscript(key: String) -> YAMLValue? {
        guard case .mapping(let pairs) = self else { return nil }
        return pairs.last { $0.key == key }?.value
    }
}

public struct YAMLError: Error, CustomStringConvertible, Sendable {
    public let line: Int
    public let message: String
    public var description: String { "line \(line): \(message)" }
}

public enum MiniYAML {
    struct Line {
        let number: Int
        let indent: Int
        let text: Substring
    }

    /// Parses a document; an empty document is an empty mapping.
    public static func parse(_ text: String) throws(YAMLError) -> YAMLValue {
        var lines: [Line] = []
        for (offset, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = offset + 1
            var content = Substring(stripComment(raw))
            while content.last == " " || content.last == "\r" || content.last == "\t" { content = content.dropLast() }
            let indent = content.prefix(while: { $0 == " " }).count
            let body = content.dropFirst(indent)
            if body.isEmpty { continue }
            if body.first == "\t" { throw YAMLError(line: number, message: "tabs are not allowed for indentation") }
            if body == "---" && lines.isEmpty { continue }
            if body.hasPrefix("&") || body.hasPrefix("*") || body.hasPrefix("|") || body.hasPrefix(">") {
                throw YAMLError(line: number, message: "anchors, aliases and block scalars are not supported")
            }
            lines.append(Line(number: number, indent: indent, text: body))
        }
        var position = 0
        guard !lines.isEmpty else { return .mapping([]) }
        let value = try parseBlock(lines, &position, indent: lines[0].indent)
        if position < lines.count {
            throw YAMLError(line: lines[position].number, message: "unexpected indentation")
        }
        return value
    }

    /// Removes a `#` comment that starts the line or follows a space, outside quotes.
    static func stripComment(_ line: Substring) -> Substring {
        var quote: Character?
        var previous: Character = " "
        for index in line.indices {
            let c = line[index]
            if let open = quote {
                if c == open { quote = nil }
            } else if c == "\"" || c == "'" {
                quote = c
            } else if c == "#" && (previous == " " || previous == "\t") {
                return line[..<index]
            }
            previous = c
        }
        return line
    }

    static func parseBlock(_ lines: [Line], _ position: inout Int, indent: Int) throws(YAMLError) -> YAMLValue {
        if lines[position].text.hasPrefix("- ") || lines[position].text == "-" {
            var items: [YAMLValue] = []
            while position < lines.count && lines[position].indent == indent
                && (lines[position].text.hasPrefix("- ") || lines[position].text == "-")
            {
                let line = lines[position]
                let rest = line.text.dropFirst(1).drop(while: { $0 == " " })
                position += 1
                if rest.isEmpty {
                    guard position < lines.count, lines[position].indent > indent else {
                        items.append(.scalar("")); continue
                    }
                    items.append(try parseBlock(lines, &position, indent: lines[position].indent))
                } else if splitKey(rest) != nil {
                    throw YAMLError(line: line.number, message: "mappings inside sequence items are not supported")
                } else {
                    items.append(try parseInline(rest, line: line.number))
                }
            }
            return .sequence(items)
        }
        var pairs: [(key: String, value: YAMLValue)] = []
        while position < lines.count && lines[position].indent == indent {
            let line = lines[position]
            guard let (key, rest) = splitKey(line.text) else {
                throw YAMLError(line: line.number, message: "expected \"key: value\"")
            }
            position += 1
            if !rest.isEmpty {
                pairs.append((key, try parseInline(rest, line: line.number)))
            } else if position < lines.count && lines[position].indent > indent {
                pairs.append((key, try parseBlock(lines, &position, indent: lines[position].indent)))
            } else if position < lines.count && lines[position].indent == indent && lines[position].text.hasPrefix("- ") {
                // A sequence may sit at the same indentation as its key.
                pairs.append((key, try parseBlock(lines, &position, indent: indent)))
            } else {
                pairs.append((key, .scalar("")))
            }
        }
        if position < lines.count && lines[position].indent > indent {
            throw YAMLError(line: lines[position].number, message: "unexpected indentation")
        }
        return .mapping(pairs)
    }

    /// `key: rest` (the key may be quoted); nil when the line is not a mapping entry.
    static func splitKey(_ text: Substring) -> (String, Substring)? {
        if let first = text.first, first == "\"" || first == "'" {
            guard let close = text.dropFirst().firstIndex(of: first) else { return nil }
            let after = text[text.index(after: close)...]
            guard after.first == ":" else { return nil }
            return (String(text[text.index(after: text.startIndex)..<close]),
                    after.dropFirst().drop(while: { $0 == " " }))
        }
        var index = text.startIndex
        while index < text.endIndex {
            if text[index] == ":" {
                let next = text.index(after: index)
                if next == text.endIndex || text[next] == " " {
                    return (String(text[..<index]), text[next...].drop(while: { $0 == " " }))
                }
            }
            index = text.index(after: index)
        }
        return nil
    }

    static func parseInline(_ text: Substring, line: Int) throws(YAMLError) -> YAMLValue {
        if text.first == "[" {
            guard text.last == "]" else { throw YAMLError(line: line, message: "unterminated flow sequence") }
            let inner = text.dropFirst().dropLast().trimmingSpaces()
            if inner.isEmpty { return .sequence([]) }
            var items: [YAMLValue] = []
            for part in splitFlow(inner) { items.append(try parseInline(part.trimmingSpaces(), line: line)) }
            return .sequence(items)
        }
        if text == "{}" { return .mapping([]) }
        if text.first == "{" { throw YAMLError(line: line, message: "flow mappings are not supported") }
        return .scalar(try unquote(text, line: line))
    }

    static func splitFlow(_ text: Substring) -> [Substring] {
        var parts: [Substring] = []
        var quote: Character?
        var start = text.startIndex
        for index in text.indices {
            let c = text[index]
            if let open = quote {
                if c == open { quote = nil }
            } else if c == "\"" || c == "'" {
                quote = c
            } else if c == "," {
                parts.append(text[start..<index])
                start = text.index(after: index)
            }
        }
        parts.append(text[start...])
        return parts
    }

    static func unquote(_ text: Substring, line: Int) throws(YAMLError) -> String {
        guard let first = text.first, first == "\"" || first == "'" else { return String(text) }
        guard text.count >= 2, text.last == first else { throw YAMLError(line: line, message: "unterminated quote") }
        let inner = text.dropFirst().dropLast()
        if first == "'" { return inner.replacingOccurrences(of: "''", with: "'") }
        var result = ""
        var escaped = false
        for c in inner {
            if escaped {
                switch c {
                case "n": result.append("\n")
                case "t": result.append("\t")
                case "\\", "\"", "/": result.append(c)
                default: throw YAMLError(line: line, message: "unsupported escape \\\(c)")
                }
                escaped = false
            } else if c == "\\" {
                escaped = true
            } else {
                result.append(c)
            }
        }
        return result
    }
}

extension Substring {
    func trimmingSpaces() -> Substring {
        var text = self
        while text.first == " " { text = text.dropFirst() }
        while text.last == " " { text = text.dropLast() }
        return text
    }

    func replacingOccurrences(of target: String, with replacement: String) -> String {
        var result = ""
        var rest = self
        while let range = rest.range(of: target) {
            result += rest[..<range.lowerBound]
            result += replacement
            rest = rest[range.upperBound...]
        }
        result += rest
        return result
    }
}
