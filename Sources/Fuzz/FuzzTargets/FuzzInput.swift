/// The bytes of one fuzz input, taken apart from the front: a selector byte, a split seed, then the payload.
///
/// libFuzzer mutates bytes, not structures: a target that needs a few choices besides its payload reads them from
/// the input's first bytes, so that each choice is reproducible from the saved crashing input alone.
public struct FuzzInput {
    public private(set) var bytes: ArraySlice<UInt8>

    public init(_ data: UnsafeRawBufferPointer) {
        bytes = ArraySlice(data)
    }

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes[...]
    }

    /// The next byte, or 0 once the input is used up.
    public mutating func byte() -> UInt8 {
        guard let b = bytes.first else { return 0 }
        bytes = bytes.dropFirst()
        return b
    }

    /// The next `count` bytes as a little-endian number (missing bytes count as 0).
    public mutating func integer(_ count: Int) -> UInt64 {
        var value: UInt64 = 0
        for i in 0..<min(count, 8) { value |= UInt64(byte()) << (8 * UInt64(i)) }
        return value
    }

    /// The bytes up to the next `separator` (which is consumed), or all the rest.
    public mutating func field(_ separator: UInt8 = 0x0A) -> ArraySlice<UInt8> {
        if let i = bytes.firstIndex(of: separator) {
            let field = bytes[..<i]
            bytes = bytes[(i + 1)...]
            return field
        }
        defer { bytes = bytes[bytes.endIndex...] }
        return bytes
    }

    /// `field` as text (invalid UTF-8 repaired, as `String(decoding:)` does for header values off the wire).
    public mutating func text(_ separator: UInt8 = 0x0A) -> String {
        String(decoding: field(separator), as: UTF8.self)
    }

    /// Everything not read yet.
    public mutating func rest() -> [UInt8] {
        defer { bytes = bytes[bytes.endIndex...] }
        return Array(bytes)
    }
}

/// SplitMix64: cheap, deterministic split points from a seed the input carries.
struct SplitMix64 {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in 1...bound.
    mutating func upTo(_ bound: Int) -> Int { Int(next() % UInt64(max(bound, 1))) + 1 }
}

/// Stops the process with a message when a parser breaks one of its own promises: libFuzzer reports the abort as
/// a crash and saves the input.
func check(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
           file: StaticString = #fileID, line: UInt = #line) {
    if !condition() { fatalError("fuzz invariant: \(message())", file: file, line: line) }
}
