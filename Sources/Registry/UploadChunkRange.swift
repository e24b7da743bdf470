/// The `Content-Range` of an upload chunk (distribution-spec PATCH): `<first>-<last>`, inclusive, with the
/// `bytes ` / `bytes=` prefix and `/<total>` suffix some clients add accepted too. Positions are 1 to 18 decimal
/// digits, so `count` cannot overflow.
public struct UploadChunkRange: Equatable, Sendable {
    public let first: Int64
    public let last: Int64

    /// The bytes the range covers.
    public var count: Int64 { last - first + 1 }

    /// - Returns: nil when `header` is not such a range, or ends before it starts.
    public init?(_ header: String) {
        var text = Substring(header).drop { $0 == " " }
        if text.hasPrefix("bytes ") || text.hasPrefix("bytes=") { text = text.dropFirst(6) }
        if let slash = text.firstIndex(of: "/") { text = text[..<slash] }
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        func number(_ s: Substring) -> Int64? {
            guard !s.isEmpty, s.utf8.count <= 18, s.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
            return Int64(s)
        }
        guard parts.count == 2, let first = number(parts[0]), let last = number(parts[1]), last >= first else { return nil }
        self.first = first
        self.last = last
    }
}
