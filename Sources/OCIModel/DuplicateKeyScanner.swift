/// A strict JSON scanner (RFC 8259) that finds what would let two readers see two different documents in one
/// text: an object with the same key twice, at any depth.
///
/// Foundation's `JSONDecoder` keeps the *first* value of a repeated key; Go's `encoding/json` (skopeo,
/// containerd, docker, distribution) keeps the *last*. A manifest with `"digest": A, "digest": B` thus names
/// layer A to this registry, which checks that A exists, and layer B to every Go client, which then fails
/// (or worse, pulls something else) under a digest the registry vouched for. RFC 8259 §4 only says names
/// SHOULD be unique, so nothing else rejects it.
///
/// Keys are compared the way Go matches them to struct fields (checked against skopeo 1.9.3):
/// - after unescaping: `"size"` and `"\u0073ize"` are one key;
/// - ASCII case-insensitively: `"size"`, `"Size"` and `"SIZE"` all set Go's `Size` field, the last one winning;
/// - with U+017F `ſ` as `s` and U+212A `K` (Kelvin sign) as `k`, the only non-ASCII letters in the same
///   `unicode.SimpleFold` set as an ASCII letter (Go's `foldName`): `"layerſ"` sets Go's `Layers`. Every field
///   name of the OCI and Docker schemas is ASCII, so how other non-ASCII keys fold does not matter.
/// Objects that are the value of an `annotations` member are Go maps (`map[string]string`), whose keys are
/// matched exactly: there only keys equal after unescaping are the same key, so `"a"` and `"A"` may both be
/// annotations.
///
/// It is also strict where the readers could otherwise differ: the text must be UTF-8 without a byte-order mark
/// (RFC 8259 §8.1), with no unpaired surrogate escape (Go turns one into U+FFFD; Foundation does not), and no
/// deeper than ``maxDepth`` nested arrays and objects. It runs in one pass with an explicit stack, so the
/// depth bound is the only limit on the input and no recursion can exhaust the thread's stack; it builds no tree,
/// only the set of keys of each object still open.
struct DuplicateKeyScanner {
    /// The deepest nesting of arrays and objects accepted. A manifest needs 5 (index → manifests → descriptor →
    /// platform → os.features); 64 leaves room for any extension while bounding the scanner's stack.
    static let maxDepth = 64

    /// What is wrong with the text; the first problem found ends the scan.
    enum Problem: Error, Hashable {
        /// Not JSON: what was expected, and the byte offset where it was not found.
        case syntax(String, offset: Int)
        /// The path of the repeated key, e.g. `layers[0].digest`.
        case duplicateKey(String)
        /// The path of the container that opens one level too many.
        case tooDeep(String)
    }

    /// Scans a whole JSON text.
    /// - Returns: The first problem, or `nil` when the text is one valid JSON value with unique keys.
    static func firstProblem(in bytes: UnsafeRawBufferPointer) -> Problem? {
        var scanner = DuplicateKeyScanner(bytes: bytes)
        do {
            try scanner.scan()
            return nil
        } catch {
            return error
        }
    }

    /// One open array or object.
    private struct Level {
        var isObject: Bool
        /// The keys seen so far (objects only), folded unless the object is a map.
        var keys: Set<[UInt8]> = []
        /// Whether keys are compared as Go compares struct field names (folded), not as map keys (exactly).
        var foldsKeys = true
        /// The key of the member being read, unescaped, for paths (objects only).
        var key: [UInt8] = []
        /// The position of the element being read (arrays only).
        var index = 0
    }

    private let bytes: UnsafeRawBufferPointer
    private var offset = 0
    private var stack: [Level] = []

    private init(bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
        stack.reserveCapacity(8)
    }

    // MARK: - Structure

    private mutating func scan() throws(Problem) {
        value: while true {
            // A value starts here.
            skipWhitespace()
            guard let byte = peek() else { throw syntax("a value") }
            switch byte {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                guard stack.count < Self.maxDepth else { throw .tooDeep(path(including: nil)) }
                offset += 1
                skipWhitespace()
                if byte == UInt8(ascii: "{") {
                    if peek() == UInt8(ascii: "}") {
                        offset += 1
                    } else {
                        let isMap = stack.last.map { $0.isObject && Self.folded($0.key) == Self.annotationsKey } ?? false
                        stack.append(Level(isObject: true, foldsKeys: !isMap))
                        try member()
                        continue value
                    }
                } else if peek() == UInt8(ascii: "]") {
                    offset += 1
                } else {
                    stack.append(Level(isObject: false))
                    continue value
                }
            case UInt8(ascii: "\""): _ = try string(collecting: false)
            case UInt8(ascii: "t"): try literal("true")
            case UInt8(ascii: "f"): try literal("false")
            case UInt8(ascii: "n"): try literal("null")
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try number()
            default: throw syntax("a value")
            }

            // A value ended: close the containers it completes, until one continues with another member.
            while true {
                skipWhitespace()
                guard let top = stack.last else {
                    guard offset == bytes.count else { throw syntax("the end of the document") }
                    return
                }
                let byte = peek()
                if byte == UInt8(ascii: ",") {
                    offset += 1
                    if top.isObject {
                        skipWhitespace()
                        try member()
                    } else {
                        stack[stack.count - 1].index += 1
                    }
                    continue value
                }
                guard byte == UInt8(ascii: top.isObject ? "}" : "]") else {
                    throw syntax(top.isObject ? "',' or '}'" : "',' or ']'")
                }
                offset += 1
                stack.removeLast()
            }
        }
    }

    /// Reads `"key":` of the innermost object, refusing a key it already has.
    private mutating func member() throws(Problem) {
        guard peek() == UInt8(ascii: "\"") else { throw syntax("a string key") }
        let key = try string(collecting: true)
        let last = stack.count - 1
        stack[last].key = key
        let canonical = stack[last].foldsKeys ? Self.folded(key) : key
        guard stack[last].keys.insert(canonical).inserted else { throw .duplicateKey(path(including: last)) }
        skipWhitespace()
        guard peek() == UInt8(ascii: ":") else { throw syntax("':'") }
        offset += 1
    }

    private static let annotationsKey = Array("annotations".utf8)

    /// Go's key matching as a canonical form: ASCII letters lowercased, `ſ` → `s`, `K` → `k` (see the type's
    /// documentation). Other bytes are kept: no other letter case-folds to ASCII.
    private static func folded(_ key: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(key.count)
        var i = 0
        while i < key.count {
            let byte = key[i]
            if byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") {
                out.append(byte | 0x20)
            } else if byte == 0xC5, i + 1 < key.count, key[i + 1] == 0xBF {  // U+017F LATIN SMALL LETTER LONG S
                out.append(UInt8(ascii: "s"))
                i += 1
            } else if byte == 0xE2, i + 2 < key.count, key[i + 1] == 0x84, key[i + 2] == 0xAA {  // U+212A KELVIN SIGN
                out.append(UInt8(ascii: "k"))
                i += 2
            } else {
                out.append(byte)
            }
            i += 1
        }
        return out
    }

    /// `layers[0].digest`: the keys and indexes of the open containers, down to `level` (whose current key or
    /// index ends the path), or all of them when `level` is `nil`. The root is `$` when the path is empty.
    private func path(including level: Int?) -> String {
        var text = ""
        for (depth, open) in stack.enumerated() where level.map({ depth <= $0 }) ?? true {
            if open.isObject {
                if !text.isEmpty { text += "." }
                text += Self.printable(open.key)
            } else {
                text += "[\(open.index)]"
            }
        }
        return text.isEmpty ? "$" : text
    }

    /// A key as text fit for a one-line message: control characters, quotes and backslashes escaped.
    private static func printable(_ key: [UInt8]) -> String {
        var text = ""
        for scalar in String(decoding: key, as: UTF8.self).unicodeScalars {
            switch scalar {
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                let hex = String(scalar.value, radix: 16)
                text += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: text.unicodeScalars.append(scalar)
            }
        }
        return text
    }

    // MARK: - Tokens

    private func peek() -> UInt8? { offset < bytes.count ? bytes[offset] : nil }

    private func syntax(_ expected: String) -> Problem {
        .syntax(offset < bytes.count ? "expected \(expected)" : "expected \(expected), found the end", offset: offset)
    }

    /// RFC 8259 §2: space, tab, line feed, carriage return; nothing else (no BOM, no NUL).
    private mutating func skipWhitespace() {
        while let byte = peek(), byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { offset += 1 }
    }

    private mutating func literal(_ word: StaticString) throws(Problem) {
        let count = word.utf8CodeUnitCount
        guard bytes.count - offset >= count else { throw syntax("\(word)") }
        for i in 0..<count where bytes[offset + i] != word.utf8Start[i] { throw syntax("\(word)") }
        offset += count
    }

    /// RFC 8259 §6: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    private mutating func number() throws(Problem) {
        if peek() == UInt8(ascii: "-") { offset += 1 }
        if peek() == UInt8(ascii: "0") {
            offset += 1
        } else {
            try digits()
        }
        if peek() == UInt8(ascii: ".") {
            offset += 1
            try digits()
        }
        if let byte = peek(), byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
            offset += 1
            if let sign = peek(), sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") { offset += 1 }
            try digits()
        }
    }

    private mutating func digits() throws(Problem) {
        let start = offset
        while let byte = peek(), byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") { offset += 1 }
        guard offset > start else { throw syntax("a digit") }
    }

    /// Reads a string from its opening quote to past its closing one, checking escapes and UTF-8.
    /// - Parameter collecting: whether to return the unescaped UTF-8 bytes (keys) or nothing (values).
    private mutating func string(collecting: Bool) throws(Problem) -> [UInt8] {
        offset += 1
        var out: [UInt8] = []
        while true {
            guard let byte = peek() else { throw syntax("'\"'") }
            switch byte {
            case UInt8(ascii: "\""):
                offset += 1
                return out
            case UInt8(ascii: "\\"):
                offset += 1
                let scalar = try escape()
                if collecting { UTF8.encode(scalar) { out.append($0) } }
            case 0..<0x20:
                throw .syntax("control character 0x\(String(byte, radix: 16)) in a string must be escaped", offset: offset)
            case 0..<0x80:
                if collecting { out.append(byte) }
                offset += 1
            default:
                let start = offset
                try utf8Sequence()
                if collecting { out.append(contentsOf: bytes[start..<offset]) }
            }
        }
    }

    /// Reads what follows a backslash; a `\u` high surrogate must be followed by a `\u` low surrogate.
    private mutating func escape() throws(Problem) -> Unicode.Scalar {
        guard let byte = peek() else { throw syntax("an escape") }
        offset += 1
        switch byte {
        case UInt8(ascii: "\""): return "\""
        case UInt8(ascii: "\\"): return "\\"
        case UInt8(ascii: "/"): return "/"
        case UInt8(ascii: "b"): return "\u{08}"
        case UInt8(ascii: "f"): return "\u{0C}"
        case UInt8(ascii: "n"): return "\n"
        case UInt8(ascii: "r"): return "\r"
        case UInt8(ascii: "t"): return "\t"
        case UInt8(ascii: "u"):
            let start = offset - 2
            let unit = try hex4()
            if (0xDC00...0xDFFF).contains(unit) {
                throw .syntax("unpaired surrogate escape", offset: start)
            }
            guard (0xD800...0xDBFF).contains(unit) else { return Unicode.Scalar(unit)! }
            guard bytes.count - offset >= 2, bytes[offset] == UInt8(ascii: "\\"), bytes[offset + 1] == UInt8(ascii: "u")
            else { throw .syntax("unpaired surrogate escape", offset: start) }
            offset += 2
            let low = try hex4()
            guard (0xDC00...0xDFFF).contains(low) else { throw .syntax("unpaired surrogate escape", offset: start) }
            return Unicode.Scalar(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))!
        default:
            offset -= 1
            throw syntax("an escape (one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u)")
        }
    }

    private mutating func hex4() throws(Problem) -> UInt32 {
        guard bytes.count - offset >= 4 else { throw syntax("4 hex digits") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[offset]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw syntax("4 hex digits")
            }
            value = value << 4 | UInt32(digit)
            offset += 1
        }
        return value
    }

    /// One well-formed multi-byte UTF-8 sequence (RFC 3629 §4): no overlong forms, no surrogates, nothing past
    /// U+10FFFF.
    private mutating func utf8Sequence() throws(Problem) {
        let lead = bytes[offset]
        let count: Int
        var second: ClosedRange<UInt8> = 0x80...0xBF
        switch lead {
        case 0xC2...0xDF: count = 2
        case 0xE0: count = 3; second = 0xA0...0xBF
        case 0xE1...0xEC, 0xEE...0xEF: count = 3
        case 0xED: count = 3; second = 0x80...0x9F
        case 0xF0: count = 4; second = 0x90...0xBF
        case 0xF1...0xF3: count = 4
        case 0xF4: count = 4; second = 0x80...0x8F
        default: throw .syntax("invalid UTF-8", offset: offset)
        }
        guard bytes.count - offset >= count, second.contains(bytes[offset + 1]),
              (2..<count).allSatisfy({ (0x80...0xBF).contains(bytes[offset + $0]) })
        else { throw .syntax("invalid UTF-8", offset: offset) }
        offset += count
    }
}
