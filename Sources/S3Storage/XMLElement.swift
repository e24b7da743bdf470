/// A parsed XML element: the few parts S3's answers need (name, text, child elements), nothing more.
///
/// S3 answers in small, flat XML documents (errors, listings, upload ids). Foundation's XML parser is not on Linux
/// without FoundationXML and libxml2, and a general parser is more attack surface than these documents deserve, so
/// ``parse(_:)`` is a small hand parser: elements, text, the five predefined entities and character references,
/// CDATA; comments, processing instructions and the doctype are skipped; attributes are read past and dropped.
/// Namespace prefixes are dropped from names (`s3:Key` → `Key`). It never traps on any input: malformed bytes give
/// nil, and limits bound the work (depth, element count) so hostile input cannot exhaust the stack or memory.
struct XMLElement: Equatable, Sendable {
    /// The local name (any `prefix:` removed).
    var name: String
    /// The element's own character data (entities decoded), concatenated across its children.
    var text: String
    var children: [XMLElement]

    /// The first child named `name`.
    func child(_ name: String) -> XMLElement? { children.first { $0.name == name } }

    /// Every child named `name`, in document order.
    func children(_ name: String) -> [XMLElement] { children.filter { $0.name == name } }

    /// The text of the first child named `name`, or nil when there is none.
    func text(of name: String) -> String? { child(name)?.text }

    /// Nesting deeper than this is refused (S3's documents nest 3 levels).
    static let maximumDepth = 64
    /// More elements than this is refused (a 1,000-key listing has about 7,000).
    static let maximumElements = 200_000

    /// Parses a document and returns its root element.
    ///
    /// - Parameter bytes: The document, UTF-8 (invalid sequences become U+FFFD).
    /// - Returns: The root element, or nil when the bytes are not a well-formed document within the limits.
    static func parse(_ bytes: some Collection<UInt8>) -> XMLElement? {
        var parser = XMLParser(Array(bytes))
        return parser.document()
    }
}

/// The tokenizer and tree builder behind ``XMLElement/parse(_:)``. Iterative (an explicit stack of open elements),
/// so nesting depth costs heap, bounded by ``XMLElement/maximumDepth``, never the call stack.
private struct XMLParser {
    let bytes: [UInt8]
    var index = 0
    var elementCount = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    private struct Open {
        var element: XMLElement
        var text: [UInt8] = []
    }

    mutating func document() -> XMLElement? {
        // A UTF-8 byte order mark may precede the prolog.
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { index = 3 }
        var stack: [Open] = []
        var root: XMLElement?
        while index < bytes.count {
            if bytes[index] != UInt8(ascii: "<") {
                let start = index
                while index < bytes.count, bytes[index] != UInt8(ascii: "<") { index += 1 }
                let run = bytes[start..<index]
                if stack.isEmpty {
                    // Only white space may sit outside the root element.
                    guard run.allSatisfy(Self.isSpace) else { return nil }
                } else {
                    guard let decoded = Self.decodeEntities(run) else { return nil }
                    stack[stack.count - 1].text.append(contentsOf: decoded)
                }
                continue
            }
            if matches("<?") {
                guard skip(past: Array("?>".utf8)) else { return nil }
            } else if matches("<!--") {
                guard skip(past: Array("-->".utf8)) else { return nil }
            } else if matches("<![CDATA[") {
                guard !stack.isEmpty else { return nil }
                let start = index + 9
                guard let end = find(Array("]]>".utf8), from: start) else { return nil }
                stack[stack.count - 1].text.append(contentsOf: bytes[start..<end])
                index = end + 3
            } else if matches("<!") {
                // A doctype: skipped, internal subset included (no entity it declares is honoured).
                guard stack.isEmpty, root == nil, skipDoctype() else { return nil }
            } else if matches("</") {
                index += 2
                guard let name = readName(), var open = stack.popLast(), open.element.name == Self.localName(name)
                else { return nil }
                skipSpaces()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ">") else { return nil }
                index += 1
                open.element.text = String(decoding: open.text, as: UTF8.self)
                if stack.isEmpty {
                    guard root == nil else { return nil }
                    root = open.element
                } else {
                    stack[stack.count - 1].element.children.append(open.element)
                }
            } else {
                index += 1
                guard let name = readName(), skipAttributes() else { return nil }
                elementCount += 1
                guard elementCount <= XMLElement.maximumElements else { return nil }
                // A second root element is not a document.
                guard !(stack.isEmpty && root != nil) else { return nil }
                let element = XMLElement(name: Self.localName(name), text: "", children: [])
                if matches("/>") {
                    index += 2
                    if stack.isEmpty { root = element } else { stack[stack.count - 1].element.children.append(element) }
                } else {
                    guard index < bytes.count, bytes[index] == UInt8(ascii: ">") else { return nil }
                    index += 1
                    guard stack.count < XMLElement.maximumDepth else { return nil }
                    stack.append(Open(element: element))
                }
            }
        }
        return stack.isEmpty ? root : nil
    }

    // MARK: - Lexing

    private func matches(_ literal: StaticString) -> Bool {
        let count = literal.utf8CodeUnitCount
        guard bytes.count - index >= count else { return false }
        let pointer = literal.utf8Start
        for i in 0..<count where bytes[index + i] != pointer[i] { return false }
        return true
    }

    private func find(_ needle: [UInt8], from start: Int) -> Int? {
        guard needle.count <= bytes.count else { return nil }
        var i = start
        while i + needle.count <= bytes.count {
            if bytes[i] == needle[0], bytes[i..<(i + needle.count)].elementsEqual(needle) { return i }
            i += 1
        }
        return nil
    }

    private mutating func skip(past terminator: [UInt8]) -> Bool {
        guard let end = find(terminator, from: index + 2) else { return false }
        index = end + terminator.count
        return true
    }

    /// `<!DOCTYPE …>` with an optional `[ … ]` internal subset (whose quoted strings may hold `>` or `]`).
    private mutating func skipDoctype() -> Bool {
        index += 2
        var inSubset = false
        var quote: UInt8?
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            if let q = quote {
                if byte == q { quote = nil }
            } else if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") {
                quote = byte
            } else if byte == UInt8(ascii: "[") {
                inSubset = true
            } else if byte == UInt8(ascii: "]") {
                inSubset = false
            } else if byte == UInt8(ascii: ">"), !inSubset {
                return true
            }
        }
        return false
    }

    private mutating func skipSpaces() {
        while index < bytes.count, Self.isSpace(bytes[index]) { index += 1 }
    }

    /// A name: anything up to white space, `/`, `>`, `=` or `<` (XML's name grammar is wider than S3 needs and
    /// narrower than this; either way the name is only compared, never used to build anything).
    private mutating func readName() -> String? {
        let start = index
        while index < bytes.count {
            let byte = bytes[index]
            if Self.isSpace(byte) || byte == UInt8(ascii: "/") || byte == UInt8(ascii: ">")
                || byte == UInt8(ascii: "=") || byte == UInt8(ascii: "<") || byte == UInt8(ascii: "\"")
                || byte == UInt8(ascii: "'") { break }
            index += 1
        }
        guard index > start, index - start <= 1024 else { return nil }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    /// Reads past `name="value"` pairs up to `>` or `/>` (not consumed).
    private mutating func skipAttributes() -> Bool {
        while true {
            skipSpaces()
            guard index < bytes.count else { return false }
            if bytes[index] == UInt8(ascii: ">") || matches("/>") { return true }
            guard readName() != nil else { return false }
            skipSpaces()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "=") else { return false }
            index += 1
            skipSpaces()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") || bytes[index] == UInt8(ascii: "'")
            else { return false }
            let quote = bytes[index]
            index += 1
            while index < bytes.count, bytes[index] != quote {
                if bytes[index] == UInt8(ascii: "<") { return false }
                index += 1
            }
            guard index < bytes.count else { return false }
            index += 1
        }
    }

    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }

    private static func localName(_ name: String) -> String {
        guard let colon = name.lastIndex(of: ":") else { return name }
        return String(name[name.index(after: colon)...])
    }

    // MARK: - Entities

    /// Decodes `&lt; &gt; &amp; &quot; &apos; &#N; &#xH;` in a run of character data.
    /// - Returns: The decoded bytes, or nil for a bare `&`, an unknown entity or a reference to a character XML
    ///   forbids (NUL, surrogates, beyond U+10FFFF).
    static func decodeEntities(_ run: ArraySlice<UInt8>) -> [UInt8]? {
        guard run.contains(UInt8(ascii: "&")) else { return Array(run) }
        var out: [UInt8] = []
        out.reserveCapacity(run.count)
        var i = run.startIndex
        while i < run.endIndex {
            let byte = run[i]
            guard byte == UInt8(ascii: "&") else {
                out.append(byte)
                i += 1
                continue
            }
            // Entity names are short: look for `;` within 12 bytes.
            let limit = min(run.endIndex, i + 12)
            guard let semicolon = run[i..<limit].firstIndex(of: UInt8(ascii: ";")) else { return nil }
            let name = run[(i + 1)..<semicolon]
            switch String(decoding: name, as: UTF8.self) {
            case "lt": out.append(UInt8(ascii: "<"))
            case "gt": out.append(UInt8(ascii: ">"))
            case "amp": out.append(UInt8(ascii: "&"))
            case "quot": out.append(UInt8(ascii: "\""))
            case "apos": out.append(UInt8(ascii: "'"))
            case let reference where reference.hasPrefix("#"):
                guard let scalar = characterReference(reference.dropFirst()) else { return nil }
                out.append(contentsOf: String(Character(scalar)).utf8)
            default:
                return nil
            }
            i = semicolon + 1
        }
        return out
    }

    private static func characterReference(_ digits: Substring) -> Unicode.Scalar? {
        let value: UInt32?
        if digits.hasPrefix("x") {
            let hex = digits.dropFirst()
            value = hex.isEmpty || hex.count > 8 ? nil : UInt32(hex, radix: 16)
        } else {
            value = digits.isEmpty || digits.count > 10 ? nil : UInt32(digits, radix: 10)
        }
        guard let value, value != 0, let scalar = Unicode.Scalar(value) else { return nil }
        return scalar
    }
}
