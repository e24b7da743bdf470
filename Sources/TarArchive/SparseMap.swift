/// Where the data of a sparse file lies: the archive stores only its data fragments, each to be placed at an offset
/// of a file of ``realSize`` bytes; everything between them is a hole (reads as zeros, takes no disk).
///
/// GNU tar writes the map in four ways (GNU tar manual, "Sparse Formats"): the old GNU `S` entry (pairs in the
/// header and in extension blocks), PAX 0.0 (repeated `GNU.sparse.offset`/`GNU.sparse.numbytes` records), PAX 0.1
/// (`GNU.sparse.map=off,size,…`) and PAX 1.0 (decimal lines at the start of the entry's data). ``TarReader`` reads
/// them all into this one form.
///
/// A map comes from the archive, so it is checked before any byte is placed (as Go's archive/tar does): offsets
/// and lengths are non-negative and do not overflow, fragments are sorted and do not overlap, each lies within the
/// real size, and their lengths add up to the data the entry stores, so every stored byte lands exactly once and the
/// stream stays in step. Zero-length fragments are allowed: GNU tar ends the map of a file that ends in a hole with
/// `(realSize, 0)`.
public struct SparseMap: Sendable, Hashable {
    /// One run of stored data: `length` bytes at `offset` of the file.
    public struct Fragment: Sendable, Hashable {
        public var offset: Int64
        public var length: Int64

        public init(offset: Int64, length: Int64) {
            self.offset = offset
            self.length = length
        }

        var end: Int64 { offset + length }
    }

    /// The fragments, sorted by offset.
    public let fragments: [Fragment]
    /// The file's size, holes included.
    public let realSize: Int64

    /// The default bound on a map's entries (``TarReader/Limits/maxSparseEntries``): 65536 fragments, 1 MiB in
    /// memory, which PAX 0.1 writes in ~1 MiB of text and the old GNU format in ~3100 extension blocks. GNU tar
    /// itself writes one fragment per data island, so real files stay far below it.
    public static let defaultMaxEntries = 65536

    /// Checks a map read from an archive.
    /// - Parameters:
    ///   - storedSize: The data bytes the entry stores (its size field, without a PAX 1.0 map's own blocks).
    /// - Returns: The map, or what is wrong with it.
    static func validated(_ fragments: [Fragment], realSize: Int64, storedSize: Int64) -> Result<SparseMap, TarReasonText> {
        guard realSize >= 0 else { return .failure("sparse file with a negative real size") }
        var previousEnd: Int64 = 0
        var sum: Int64 = 0
        for fragment in fragments {
            guard fragment.offset >= 0, fragment.length >= 0 else {
                return .failure("sparse map entry with a negative offset or length")
            }
            let (end, overflow) = fragment.offset.addingReportingOverflow(fragment.length)
            guard !overflow else { return .failure("sparse map entry past the largest file offset") }
            guard fragment.offset >= previousEnd else {
                return .failure(TarReasonText("sparse map entries overlap or are out of order (offset "
                    + "\(fragment.offset) before \(previousEnd))"))
            }
            guard end <= realSize else {
                return .failure(TarReasonText("sparse map entry \(fragment.offset)+\(fragment.length) lies beyond "
                    + "the real size \(realSize)"))
            }
            // Cannot overflow: the fragments are disjoint and within realSize.
            sum += fragment.length
            previousEnd = end
        }
        guard sum == storedSize else {
            return .failure(TarReasonText("sparse map places \(sum) bytes but the entry stores \(storedSize)"))
        }
        return .success(SparseMap(fragments: fragments, realSize: realSize))
    }

    /// Pairs a flat list of numbers (`offset, length, offset, length, …`) into fragments.
    static func pairs(_ numbers: [Int64]) -> Result<[Fragment], TarReasonText> {
        guard numbers.count % 2 == 0 else { return .failure("sparse map with an odd count of numbers") }
        return .success(stride(from: 0, to: numbers.count, by: 2).map {
            Fragment(offset: numbers[$0], length: numbers[$0 + 1])
        })
    }

    /// Parses a PAX 0.1 `GNU.sparse.map` value: decimal numbers separated by commas, two per fragment.
    /// The caller bounds the entries first (``entryCount(ofList:)``).
    static func parseList(_ text: [UInt8]) -> Result<[Fragment], TarReasonText> {
        if text.isEmpty { return .success([]) }
        var numbers: [Int64] = []
        for field in text.split(separator: 0x2c, omittingEmptySubsequences: false) {
            guard let number = PaxRecords.integer(Array(field)) else {
                return .failure("GNU.sparse.map holds something other than comma-separated decimal numbers")
            }
            numbers.append(number)
        }
        return pairs(numbers)
    }

    /// The fragments a `GNU.sparse.map` value describes (half its numbers, rounded up), counted without parsing.
    static func entryCount(ofList text: [UInt8]) -> Int {
        text.isEmpty ? 0 : (text.count(where: { $0 == 0x2c }) + 2) / 2
    }
}
