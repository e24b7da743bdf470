/// The byte positions a registry reports in `Range` and `Content-Range`, read strictly: decimal digits only, at
/// most 18 of them, so that no sign slips through and adding one to a position cannot overflow.
public enum RangeHeaders {
    /// The number of bytes an upload session holds, from its `Range: 0-<last>` (distribution-spec), i.e. last + 1.
    /// ("0-0" means one byte, or none for registries that send it for an empty session.)
    /// - Returns: nil when the header is not of that form.
    public static func uploadedLength(_ header: String) -> Int64? {
        var text = Substring(header.trimmingSpaces())
        if text.hasPrefix("bytes=") { text = text.dropFirst(6) }
        let parts = text.split(separator: "-")
        guard parts.count == 2, position(parts[0]) != nil, let last = position(parts[1]) else { return nil }
        return last + 1
    }

    /// The first byte position of `Content-Range: bytes <start>-<end>/<total>` (also `bytes=<start>-`).
    public static func contentRangeStart(_ header: String) -> Int64? {
        var text = Substring(header).drop { $0 == " " }
        guard text.hasPrefix("bytes") else { return nil }
        text = text.dropFirst(5).drop { $0 == " " || $0 == "=" }
        guard let dash = text.firstIndex(of: "-") else { return nil }
        return position(text[..<dash])
    }

    /// A byte position: 1 to 18 decimal digits.
    static func position(_ text: Substring) -> Int64? {
        guard !text.isEmpty, text.utf8.count <= 18, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return Int64(text)
    }
}
