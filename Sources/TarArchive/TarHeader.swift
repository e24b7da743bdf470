/// The ustar header block layout (POSIX.1-1988 `ustar`, with the GNU and PAX extensions that reuse it), and the
/// encoding of its fields: NUL-terminated strings, octal numbers, GNU base-256 numbers, the checksum.
enum TarHeader {
    static let blockSize = 512

    static let name = 0..<100
    static let mode = 100..<108
    static let uid = 108..<116
    static let gid = 116..<124
    static let size = 124..<136
    static let mtime = 136..<148
    static let checksum = 148..<156
    static let typeflag = 156
    static let linkname = 157..<257
    static let magic = 257..<263
    static let version = 263..<265
    static let uname = 265..<297
    static let gname = 297..<329
    static let devmajor = 329..<337
    static let devminor = 337..<345
    static let prefix = 345..<500

    // The old GNU sparse header (typeflag 'S'): four (offset, numbytes) pairs of 12-byte numbers, a flag saying
    // extension blocks follow, and the file's real size. Each extension block holds 21 more pairs and its own flag.
    static let gnuSparsePairs = 386
    static let gnuSparsePairCount = 4
    static let gnuIsExtended = 482
    static let gnuRealSize = 483..<495
    static let gnuExtensionPairCount = 21
    static let gnuExtensionIsExtended = 504

    /// The offset and numbytes fields of the `index`th pair of a sparse map starting at `start`.
    static func gnuSparsePair(_ index: Int, from start: Int) -> (offset: Range<Int>, length: Range<Int>) {
        let at = start + 24 * index
        return (at..<at + 12, at + 12..<at + 24)
    }

    // Type flags.
    static let typeRegular: UInt8 = 0x30        // '0'
    static let typeRegularV7: UInt8 = 0          // '\0'
    static let typeHardLink: UInt8 = 0x31       // '1'
    static let typeSymlink: UInt8 = 0x32        // '2'
    static let typeChar: UInt8 = 0x33           // '3'
    static let typeBlock: UInt8 = 0x34          // '4'
    static let typeDirectory: UInt8 = 0x35      // '5'
    static let typeFIFO: UInt8 = 0x36           // '6'
    static let typeContiguous: UInt8 = 0x37     // '7'
    static let typePaxLocal: UInt8 = 0x78       // 'x'
    static let typePaxGlobal: UInt8 = 0x67      // 'g'
    static let typeGNULongName: UInt8 = 0x4c    // 'L'
    static let typeGNULongLink: UInt8 = 0x4b    // 'K'
    static let typeGNUDumpDir: UInt8 = 0x44     // 'D'
    static let typeGNUSparse: UInt8 = 0x53      // 'S'
    static let typeGNUMultiVolume: UInt8 = 0x4d // 'M'
    static let typeGNUVolumeLabel: UInt8 = 0x56 // 'V'

    static let ustarMagic: [UInt8] = [0x75, 0x73, 0x74, 0x61, 0x72, 0x00]        // "ustar\0"
    static let gnuMagic: [UInt8] = [0x75, 0x73, 0x74, 0x61, 0x72, 0x20, 0x20, 0x00] // "ustar  \0" (magic+version)

    static let space: UInt8 = 0x20
    static let zero: UInt8 = 0x30

    /// The bytes of a string field up to its first NUL.
    static func bytes(_ header: [UInt8], _ range: Range<Int>) -> ArraySlice<UInt8> {
        let field = header[range]
        if let nul = field.firstIndex(of: 0) { return field[..<nul] }
        return field
    }

    static func isZeroBlock(_ header: [UInt8]) -> Bool {
        header.allSatisfy { $0 == 0 }
    }

    /// Sums the header bytes with the checksum field counted as spaces: unsigned (POSIX) and signed (some old
    /// writers), either of which a reader accepts.
    static func checksums(_ header: [UInt8]) -> (unsigned: Int64, signed: Int64) {
        var unsigned: Int64 = 0
        var signed: Int64 = 0
        for i in 0..<blockSize {
            let byte = checksum.contains(i) ? space : header[i]
            unsigned += Int64(byte)
            signed += Int64(Int8(bitPattern: byte))
        }
        return (unsigned, signed)
    }

    /// Decodes a numeric field: octal (leading spaces or NULs, ended by a space or NUL) or GNU base-256 (high bit of
    /// the first byte set).
    /// - Returns: nil for an empty field, or what is wrong (the caller adds the offset).
    static func number(_ header: [UInt8], _ range: Range<Int>) -> Result<Int64?, NumberError> {
        let first = header[range.lowerBound]
        if first & 0x80 != 0 {
            if first == 0xff { return .failure(.negative) }
            guard first == 0x80 else { return .failure(.invalid) }
            var value: UInt64 = 0
            for i in range.dropFirst() {
                guard value >> 55 == 0 else { return .failure(.overflow) }
                value = value << 8 | UInt64(header[i])
            }
            guard value <= UInt64(Int64.max) else { return .failure(.overflow) }
            return .success(Int64(value))
        }
        var i = range.lowerBound
        while i < range.upperBound && (header[i] == space || header[i] == 0) { i += 1 }
        if i == range.upperBound { return .success(nil) }
        var value: Int64 = 0
        while i < range.upperBound {
            let byte = header[i]
            if byte == space || byte == 0 { break }
            guard byte >= zero && byte <= zero + 7 else { return .failure(.invalid) }
            guard value <= (Int64.max - 7) / 8 else { return .failure(.overflow) }
            value = value * 8 + Int64(byte - zero)
            i += 1
        }
        // Only terminators may follow the digits.
        while i < range.upperBound {
            guard header[i] == space || header[i] == 0 else { return .failure(.invalid) }
            i += 1
        }
        return .success(value)
    }

    enum NumberError: Error {
        case negative, invalid, overflow

        var text: String {
            switch self {
            case .negative: "negative base-256 number"
            case .invalid: "not an octal or base-256 number"
            case .overflow: "number too large"
            }
        }
    }

    /// Writes `value` as zero-padded octal followed by a NUL, if it fits the field.
    /// - Returns: false (field untouched) when it does not fit.
    @discardableResult
    static func putOctal(_ value: Int64, _ header: inout [UInt8], _ range: Range<Int>) -> Bool {
        let digits = range.count - 1
        guard value >= 0, value < (Int64(1) << (3 * Int64(digits))) else { return false }
        var v = value
        for i in stride(from: range.lowerBound + digits - 1, through: range.lowerBound, by: -1) {
            header[i] = zero + UInt8(v & 7)
            v >>= 3
        }
        header[range.upperBound - 1] = 0
        return true
    }

    /// Writes a non-negative `value` in GNU base-256 (0x80 then big-endian bytes), which every modern reader knows.
    static func putBase256(_ value: Int64, _ header: inout [UInt8], _ range: Range<Int>) {
        var v = UInt64(max(0, value))
        for i in stride(from: range.upperBound - 1, to: range.lowerBound, by: -1) {
            header[i] = UInt8(v & 0xff)
            v >>= 8
        }
        header[range.lowerBound] = 0x80
    }

    /// Writes a numeric field: octal when it fits, base-256 otherwise.
    /// - Returns: whether the value fits in octal (if not, a PAX record should carry it too).
    @discardableResult
    static func putNumber(_ value: Int64, _ header: inout [UInt8], _ range: Range<Int>) -> Bool {
        if putOctal(value, &header, range) { return true }
        putBase256(value, &header, range)
        return false
    }

    /// Copies up to `range.count` bytes of `bytes` into a string field (NUL-padded; the header starts zeroed).
    static func putString(_ bytes: some Collection<UInt8>, _ header: inout [UInt8], _ range: Range<Int>) {
        var i = range.lowerBound
        for byte in bytes {
            guard i < range.upperBound else { break }
            header[i] = byte
            i += 1
        }
    }

    /// Fills the checksum field: six octal digits, NUL, space (the form GNU tar and Go write).
    static func putChecksum(_ header: inout [UInt8]) {
        let sum = checksums(header).unsigned
        var v = sum
        for i in stride(from: checksum.lowerBound + 5, through: checksum.lowerBound, by: -1) {
            header[i] = zero + UInt8(v & 7)
            v >>= 3
        }
        header[checksum.lowerBound + 6] = 0
        header[checksum.lowerBound + 7] = space
    }
}
