/// Byte counts for people: binary units, one decimal.
public enum ByteCount {
    /// `0 B`, `512 B`, `1.5 KiB`, `12.0 MiB`, … up to EiB.
    public static func human(_ bytes: Int64) -> String {
        guard bytes >= 1024 else { return "\(bytes) B" }
        let units = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
        var value = Double(bytes) / 1024
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        // One decimal, rounded half up, without Foundation's formatters.
        let tenths = Int64((value * 10).rounded())
        return "\(tenths / 10).\(tenths % 10) \(units[unit])"
    }
}

/// `1 blob`, `2 blobs`: a count with its noun.
func plural(_ count: Int, _ one: String, _ many: String? = nil) -> String {
    "\(count) \(count == 1 ? one : many ?? one + "s")"
}
