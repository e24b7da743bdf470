/// How log lines are written: `text` is logfmt (`key=value`, as distribution's text formatter), `json` one JSON
/// object per line. Both hold the same fields under the same names.
public enum LogFormat: String, Sendable, CaseIterable {
    case text
    case json
}

/// One field's value, before it is written in the line's format.
enum LogValue {
    case string(String)
    case int(Int64)
    case bool(Bool)
    /// Milliseconds with three decimals, from nanoseconds.
    case milliseconds(UInt64)
}

/// Builds log lines into a byte buffer, without Foundation and without a `String` per field: the access log formats
/// thousands of these per second on the writer thread. Every string value is escaped for the format, so that no
/// client-chosen byte (a control character, a newline, a Unicode format or bidi character such as U+202E or U+200B)
/// reaches the log raw: a line can neither be split nor made to read differently from what it holds.
struct LogLineBuilder {
    let format: LogFormat
    var bytes: [UInt8] = []
    private var clock = WallClockText()

    init(format: LogFormat) {
        self.format = format
        bytes.reserveCapacity(64 * 1024)
    }

    /// Starts a line with its time (RFC 3339, UTC, milliseconds), level and message; `field` adds to it, `end` ends it.
    mutating func begin(wallNanos: Int64, level: String, message: String) {
        if format == .json {
            bytes.append(contentsOf: #"{"time":""#.utf8)
            clock.append(wallNanos, to: &bytes)
            bytes.append(UInt8(ascii: "\""))
        } else {
            bytes.append(contentsOf: "time=".utf8)
            clock.append(wallNanos, to: &bytes)
        }
        field("level", .string(level))
        field("msg", .string(message))
    }

    /// One of our own fields (a fixed ASCII name, written as is).
    mutating func field(_ name: StaticString, _ value: LogValue) {
        separate()
        if format == .json { bytes.append(UInt8(ascii: "\"")) }
        bytes.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
        if format == .json {
            bytes.append(UInt8(ascii: "\""))
            bytes.append(UInt8(ascii: ":"))
        } else {
            bytes.append(UInt8(ascii: "="))
        }
        appendValue(value)
    }

    /// A field whose name comes from elsewhere (log metadata): the name is escaped like a value.
    mutating func field(named name: String, _ value: LogValue) {
        separate()
        if format == .json {
            appendJSONString(name)
            bytes.append(UInt8(ascii: ":"))
        } else {
            appendLogfmtValue(name)
            bytes.append(UInt8(ascii: "="))
        }
        appendValue(value)
    }

    private mutating func appendValue(_ value: LogValue) {
        switch value {
        case .string(let string):
            if format == .json { appendJSONString(string) } else { appendLogfmtValue(string) }
        case .int(let number):
            appendDecimal(number)
        case .bool(let flag):
            append(ascii: flag ? "true" : "false")
        case .milliseconds(let nanos):
            let micros = (nanos + 500) / 1000
            appendDecimal(Int64(micros / 1000))
            bytes.append(UInt8(ascii: "."))
            let fraction = micros % 1000
            bytes.append(UInt8(ascii: "0") + UInt8(fraction / 100))
            bytes.append(UInt8(ascii: "0") + UInt8(fraction / 10 % 10))
            bytes.append(UInt8(ascii: "0") + UInt8(fraction % 10))
        }
    }

    /// Ends the line (a newline in both formats).
    mutating func end() {
        if format == .json { bytes.append(UInt8(ascii: "}")) }
        bytes.append(UInt8(ascii: "\n"))
    }

    // MARK: - Separators and numbers

    /// Every field follows another (`time` comes first, from `begin`).
    private mutating func separate() {
        bytes.append(format == .json ? UInt8(ascii: ",") : UInt8(ascii: " "))
    }

    private mutating func append(ascii text: String) {
        var text = text
        text.withUTF8 { bytes.append(contentsOf: $0) }
    }

    mutating func appendDecimal(_ value: Int64) {
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for the 20 digits of UInt64.max
        withUnsafeMutableBytes(of: &digits) { buffer in
            var index = buffer.count
            repeat {
                index -= 1
                buffer[index] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            bytes.append(contentsOf: buffer[index...])
        }
    }

    // MARK: - Escaping

    /// A scalar that must never reach the log raw: C0 and C1 controls, DEL, format characters (bidi overrides and
    /// isolates, zero-width spaces and joiners, the BOM, tag characters), line and paragraph separators, spaces other
    /// than U+0020, and private-use, surrogate or unassigned code points (whose rendering nobody can predict).
    static func mustEscape(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if value < 0x20 || value == 0x7F { return true }
        if value < 0x80 { return false }
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator, .spaceSeparator, .privateUse, .surrogate,
             .unassigned:
            return true
        default:
            return false
        }
    }

    private static func isBareByte(_ byte: UInt8) -> Bool {
        byte > 0x20 && byte < 0x7F && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\\")
            && byte != UInt8(ascii: "=")
    }

    /// A logfmt value: bare when it is plain ASCII, else quoted with `\"`, `\\`, `\n`, `\r`, `\t` and `\u{…}`-style
    /// escapes (`\u00XX`, `\uXXXX`, `\UXXXXXXXX`, as Go's strconv.Quote) for what `mustEscape` names.
    private mutating func appendLogfmtValue(_ string: String) {
        let bare = string.utf8.withContiguousStorageIfAvailable { utf8 -> Bool in
            guard !utf8.isEmpty, utf8.allSatisfy(Self.isBareByte) else { return false }
            bytes.append(contentsOf: utf8)
            return true
        }
        if bare == true { return }
        bytes.append(UInt8(ascii: "\""))
        appendEscaped(string, astral: { builder, value in
            builder.append(ascii: "\\U")
            builder.appendHex(value, digits: 8)
        })
        bytes.append(UInt8(ascii: "\""))
    }

    /// A JSON string (RFC 8259 §7), with `mustEscape` scalars as `\uXXXX` (surrogate pairs above the BMP).
    private mutating func appendJSONString(_ string: String) {
        bytes.append(UInt8(ascii: "\""))
        let plain = string.utf8.withContiguousStorageIfAvailable { utf8 -> Bool in
            // Printable ASCII but `"` and `\`: copied as is (the common case: paths, digests, addresses).
            guard utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") })
            else { return false }
            bytes.append(contentsOf: utf8)
            return true
        }
        if plain != true {
            appendEscaped(string, astral: { builder, value in
                let offset = value - 0x10000
                builder.append(ascii: "\\u")
                builder.appendHex(0xD800 + (offset >> 10), digits: 4)
                builder.append(ascii: "\\u")
                builder.appendHex(0xDC00 + (offset & 0x3FF), digits: 4)
            })
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// The inside of a quoted string, shared by both formats (they differ only in how a scalar above U+FFFF is
    /// written).
    private mutating func appendEscaped(_ string: String, astral: (inout LogLineBuilder, UInt32) -> Void) {
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": append(ascii: "\\\"")
            case "\\": append(ascii: "\\\\")
            case "\n": append(ascii: "\\n")
            case "\r": append(ascii: "\\r")
            case "\t": append(ascii: "\\t")
            default:
                if !Self.mustEscape(scalar) {
                    bytes.append(contentsOf: UTF8.encode(scalar)!)
                } else if scalar.value > 0xFFFF {
                    astral(&self, scalar.value)
                } else {
                    append(ascii: "\\u")
                    appendHex(scalar.value, digits: 4)
                }
            }
        }
    }

    private mutating func appendHex(_ value: UInt32, digits: Int) {
        let hex: StaticString = "0123456789abcdef"
        for shift in stride(from: (digits - 1) * 4, through: 0, by: -4) {
            bytes.append(hex.utf8Start[Int((value >> UInt32(shift)) & 0xF)])
        }
    }
}

/// RFC 3339 UTC time with milliseconds (`2026-12-02T03:20:34.123Z`), the date and time of day computed once per
/// second (Howard Hinnant's `civil_from_days`; no Foundation, no time zone files).
struct WallClockText {
    private var second = Int64.min
    private var prefix: [UInt8] = []  // "YYYY-MM-DDTHH:MM:SS"

    mutating func append(_ wallNanos: Int64, to bytes: inout [UInt8]) {
        let (seconds, nanos) = wallNanos.quotientAndRemainder(dividingBy: 1_000_000_000)
        let (whole, fraction) = nanos < 0 ? (seconds - 1, nanos + 1_000_000_000) : (seconds, nanos)
        if whole != second {
            second = whole
            prefix = Self.dateTime(whole)
        }
        bytes.append(contentsOf: prefix)
        let millis = Int(fraction / 1_000_000)
        bytes.append(UInt8(ascii: "."))
        bytes.append(UInt8(ascii: "0") + UInt8(millis / 100))
        bytes.append(UInt8(ascii: "0") + UInt8(millis / 10 % 10))
        bytes.append(UInt8(ascii: "0") + UInt8(millis % 10))
        bytes.append(UInt8(ascii: "Z"))
    }

    static func dateTime(_ epochSeconds: Int64) -> [UInt8] {
        var (days, secondOfDay) = epochSeconds.quotientAndRemainder(dividingBy: 86_400)
        if secondOfDay < 0 {
            days -= 1
            secondOfDay += 86_400
        }
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        var out: [UInt8] = []
        out.reserveCapacity(19)
        func two(_ value: Int64) {
            out.append(UInt8(ascii: "0") + UInt8(value / 10 % 10))
            out.append(UInt8(ascii: "0") + UInt8(value % 10))
        }
        two(year / 100)
        two(year % 100)
        out.append(UInt8(ascii: "-"))
        two(month)
        out.append(UInt8(ascii: "-"))
        two(day)
        out.append(UInt8(ascii: "T"))
        two(secondOfDay / 3600)
        out.append(UInt8(ascii: ":"))
        two(secondOfDay / 60 % 60)
        out.append(UInt8(ascii: ":"))
        two(secondOfDay % 60)
        return out
    }
}
