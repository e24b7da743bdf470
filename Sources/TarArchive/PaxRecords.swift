/// PAX extended header records (POSIX.1-2001 `pax` format): `"<length> <key>=<value>\n"`, where `length` counts
/// the whole record including its own digits. Values are bytes: `SCHILY.xattr.*` values are binary.
enum PaxRecords {
    /// Parses the data of an `x` or `g` header.
    /// - Returns: The records in order (a later duplicate key overrides an earlier one), or a reason for failure.
    static func parse(_ data: [UInt8]) -> Result<[(key: String, value: [UInt8])], TarReasonText> {
        var records: [(key: String, value: [UInt8])] = []
        var i = 0
        while i < data.count {
            // Some writers pad the data with NULs.
            if data[i] == 0 { break }
            var length = 0
            var j = i
            while j < data.count, data[j] >= 0x30, data[j] <= 0x39 {
                length = length * 10 + Int(data[j] - 0x30)
                guard length <= data.count else { return .failure("PAX record length larger than the header") }
                j += 1
            }
            guard j > i, j < data.count, data[j] == 0x20 else { return .failure("PAX record without a length") }
            guard length > j - i + 1, i + length <= data.count, data[i + length - 1] == 0x0a else {
                return .failure("PAX record length does not match its content")
            }
            let record = data[(j + 1)..<(i + length - 1)]
            guard let equals = record.firstIndex(of: 0x3d) else { return .failure("PAX record without '='") }
            guard let key = String(validating: record[..<equals], as: UTF8.self), !key.isEmpty else {
                return .failure("PAX record key is empty or not UTF-8")
            }
            records.append((key, Array(record[(equals + 1)...])))
            i += length
        }
        return .success(records)
    }

    /// Encodes one record, computing the self-inclusive length.
    static func encode(key: String, value: [UInt8]) -> [UInt8] {
        let body = key.utf8.count + value.count + 3  // ' ', '=', '\n'
        var digits = String(body).utf8.count
        while String(body + digits).utf8.count != digits { digits += 1 }
        var record = Array(String(body + digits).utf8)
        record.append(0x20)
        record.append(contentsOf: key.utf8)
        record.append(0x3d)
        record.append(contentsOf: value)
        record.append(0x0a)
        return record
    }

    /// Parses a decimal PAX integer (`uid`, `size`, …), which must be non-negative.
    /// - Returns: nil for anything else, or a value past `Int64.max` (19 nines would overflow and trap).
    static func integer(_ value: [UInt8]) -> Int64? {
        guard !value.isEmpty, value.count <= 19 else { return nil }
        var result: Int64 = 0
        for byte in value {
            guard byte >= 0x30 && byte <= 0x39 else { return nil }
            let (times10, o1) = result.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(Int64(byte - 0x30))
            guard !o1 && !o2 else { return nil }
            result = sum
        }
        return result
    }

    /// Parses a PAX time: `[-]seconds[.fraction]`, keeping nanoseconds.
    static func timestamp(_ value: [UInt8]) -> TarTimestamp? {
        var bytes = value[...]
        let negative = bytes.first == 0x2d
        if negative { bytes = bytes.dropFirst() }
        let dot = bytes.firstIndex(of: 0x2e)
        let wholePart = dot.map { bytes[..<$0] } ?? bytes
        guard let whole = integer(Array(wholePart)) else { return nil }
        var nanos: Int64 = 0
        if let dot {
            var digits = 0
            for byte in bytes[(dot + 1)...] {
                guard byte >= 0x30 && byte <= 0x39 else { return nil }
                if digits < 9 {
                    nanos = nanos * 10 + Int64(byte - 0x30)
                    digits += 1
                }
            }
            while digits < 9 {
                nanos *= 10
                digits += 1
            }
        }
        if !negative { return TarTimestamp(seconds: whole, nanoseconds: UInt32(nanos)) }
        if nanos == 0 { return TarTimestamp(seconds: -whole) }
        return TarTimestamp(seconds: -whole - 1, nanoseconds: UInt32(1_000_000_000 - nanos))
    }

    /// Formats a time for a PAX `mtime` record, without trailing zeros in the fraction.
    static func format(_ time: TarTimestamp) -> [UInt8] {
        var seconds = time.seconds
        var nanos = Int64(time.nanoseconds)
        var sign = ""
        if seconds < 0 {
            sign = "-"
            if nanos > 0 {
                seconds += 1
                nanos = 1_000_000_000 - nanos
            }
            seconds = -seconds
        }
        var text = sign + String(seconds)
        if nanos > 0 {
            var fraction = String(nanos)
            fraction = String(repeating: "0", count: 9 - fraction.count) + fraction
            while fraction.hasSuffix("0") { fraction.removeLast() }
            text += "." + fraction
        }
        return Array(text.utf8)
    }
}
