import Glibc
import SystemIO

/// Where reading a sparse file's content stands.
struct SparseCursor {
    let map: SparseMap
    /// The first fragment not wholly read.
    var index = 0
    /// The offset in the file (holes included) of the next byte of content.
    var position: Int64 = 0

    init(map: SparseMap) { self.map = map }

    /// Moves ``index`` past the fragments that end at or before ``position`` (read, or empty).
    mutating func skipPassed() {
        while index < map.fragments.count && map.fragments[index].end <= position { index += 1 }
    }
}

/// GNU sparse files: reading their maps (GNU tar manual, "Sparse Formats") and their content.
extension TarReader {
    /// Reads the sparse map of the entry just read, if it is a sparse file: the old GNU map from the header and its
    /// extension blocks, a PAX 0.0 or 0.1 map from the records, or a PAX 1.0 map from the start of the data.
    /// - Parameters:
    ///   - pairs: The PAX 0.0 `GNU.sparse.offset`/`numbytes` records in their order.
    /// - Returns: The validated map, or nil when the entry is not sparse.
    /// - Throws: ``TarError/malformed(offset:_:)`` for an invalid map, ``TarError/limitExceeded(_:)`` for one over
    ///   ``Limits/maxSparseEntries`` entries (or, PAX 1.0, over ``Limits/maxMetadataSize`` bytes of text),
    ///   ``TarError/unsupported(_:)`` for an unknown PAX sparse version.
    func readSparseMap(type: UInt8, records: [String: [UInt8]], pairs: [(key: String, value: [UInt8])],
                       entry: TarEntry, at headerOffset: Int64) throws -> SparseMap?
    {
        let isPax = records.keys.contains { $0.hasPrefix("GNU.sparse.") }
        guard type == TarHeader.typeGNUSparse || isPax else { return nil }
        func malformed(_ reason: String) -> TarError {
            .malformed(offset: headerOffset, "\(reason) (sparse file \(entry.path))")
        }
        guard entry.kind == .regular else { throw malformed("GNU.sparse records on a \(entry.kind)") }
        let fragments: [SparseMap.Fragment]
        let realSize: Int64
        if type == TarHeader.typeGNUSparse {
            guard !isPax else { throw malformed("both an old GNU sparse header and GNU.sparse records") }
            guard let size = try number(TarHeader.gnuRealSize, "sparse real size", at: headerOffset) else {
                throw malformed("no real size")
            }
            realSize = size
            fragments = try readOldGNUSparseMap(at: headerOffset, malformed)
        } else {
            guard let size = records["GNU.sparse.realsize"] ?? records["GNU.sparse.size"] else {
                throw malformed("no GNU.sparse.realsize or GNU.sparse.size record")
            }
            realSize = try paxInteger(size, "GNU.sparse.realsize", at: headerOffset)
            let major = records["GNU.sparse.major"].map { String(decoding: $0, as: UTF8.self) }
            let minor = records["GNU.sparse.minor"].map { String(decoding: $0, as: UTF8.self) }
            switch (major, minor) {
            case ("1", "0"):
                fragments = try readSparseMap1x0(at: headerOffset, malformed)
            case (nil, nil), ("0", "0"), ("0", "1"):
                // 0.0 and 0.1 wrote no version records: the map's form tells them apart.
                fragments = try readSparseMap0x(records: records, pairs: pairs, at: headerOffset, malformed)
            default:
                throw TarError.unsupported("PAX sparse format \(major ?? "?").\(minor ?? "?") of \(entry.path)")
            }
        }
        switch SparseMap.validated(fragments, realSize: realSize, storedSize: contentRemaining) {
        case let .success(map): return map
        case let .failure(reason): throw malformed(reason.text)
        }
    }

    /// The old GNU map: four pairs in the header, then 21 in each extension block while `isextended` is set. An
    /// empty offset field ends a block's pairs (as GNU tar reads them). The extension blocks come before the data.
    private func readOldGNUSparseMap(at headerOffset: Int64, _ malformed: (String) -> TarError) throws
        -> [SparseMap.Fragment]
    {
        var fragments: [SparseMap.Fragment] = []
        func appendPairs(count: Int, from start: Int) throws {
            for index in 0..<count {
                let (offsetField, lengthField) = TarHeader.gnuSparsePair(index, from: start)
                guard let offset = try number(offsetField, "sparse offset", at: headerOffset) else { return }
                guard let length = try number(lengthField, "sparse numbytes", at: headerOffset) else {
                    throw malformed("sparse map entry without numbytes")
                }
                guard fragments.count < limits.maxSparseEntries else {
                    throw TarError.limitExceeded("the sparse map at offset \(headerOffset) has more than "
                        + "\(limits.maxSparseEntries) entries")
                }
                fragments.append(SparseMap.Fragment(offset: offset, length: length))
            }
        }
        try appendPairs(count: TarHeader.gnuSparsePairCount, from: TarHeader.gnuSparsePairs)
        var extended = header[TarHeader.gnuIsExtended] != 0
        // Empty extension blocks count too: a chain of them must not run on until the stream ends.
        let maxBlocks = limits.maxSparseEntries / TarHeader.gnuExtensionPairCount + 1
        var blocks = 0
        while extended {
            blocks += 1
            guard blocks <= maxBlocks else {
                throw TarError.limitExceeded("the sparse map at offset \(headerOffset) has more than \(maxBlocks) "
                    + "extension blocks")
            }
            do {
                try readHeaderBlock()
            } catch let error as TarError {
                guard case .truncated = error else { throw error }
                throw TarError.truncated("stream ends inside the sparse map of the entry at offset \(headerOffset)")
            }
            try appendPairs(count: TarHeader.gnuExtensionPairCount, from: 0)
            extended = header[TarHeader.gnuExtensionIsExtended] != 0
        }
        return fragments
    }

    /// PAX 0.1 (`GNU.sparse.map`) or 0.0 (`GNU.sparse.offset`, `GNU.sparse.numbytes` alternating); both may say
    /// how many fragments there are in `GNU.sparse.numblocks`, which must then match.
    private func readSparseMap0x(records: [String: [UInt8]], pairs: [(key: String, value: [UInt8])],
                                 at headerOffset: Int64, _ malformed: (String) -> TarError) throws
        -> [SparseMap.Fragment]
    {
        let tooMany = TarError.limitExceeded("the sparse map at offset \(headerOffset) has more than "
            + "\(limits.maxSparseEntries) entries")
        let fragments: [SparseMap.Fragment]
        if let list = records["GNU.sparse.map"] {
            guard pairs.isEmpty else { throw malformed("both GNU.sparse.map and GNU.sparse.offset records") }
            guard SparseMap.entryCount(ofList: list) <= limits.maxSparseEntries else { throw tooMany }
            switch SparseMap.parseList(list) {
            case let .success(parsed): fragments = parsed
            case let .failure(reason): throw malformed(reason.text)
            }
        } else if records["GNU.sparse.numblocks"] != nil || !pairs.isEmpty {
            guard pairs.count <= 2 * limits.maxSparseEntries else { throw tooMany }
            var numbers: [Int64] = []
            for (index, pair) in pairs.enumerated() {
                let expected = index % 2 == 0 ? "GNU.sparse.offset" : "GNU.sparse.numbytes"
                guard pair.key == expected else { throw malformed("\(pair.key) where \(expected) should be") }
                numbers.append(try paxInteger(pair.value, pair.key, at: headerOffset))
            }
            switch SparseMap.pairs(numbers) {
            case let .success(parsed): fragments = parsed
            case let .failure(reason): throw malformed(reason.text)
            }
        } else {
            throw malformed("GNU.sparse records without a sparse map")
        }
        if let count = records["GNU.sparse.numblocks"] {
            guard try paxInteger(count, "GNU.sparse.numblocks", at: headerOffset) == fragments.count else {
                throw malformed("GNU.sparse.numblocks does not match the map's \(fragments.count) entries")
            }
        }
        return fragments
    }

    /// PAX 1.0: the data starts with the map, decimal numbers one per line (the count, then offset and size of each
    /// fragment), padded with NULs to a block boundary; the fragments follow. Reading it consumes those blocks, so
    /// ``contentRemaining`` is then the fragments' bytes. The map's text is bounded by ``Limits/maxMetadataSize``,
    /// so a line that never ends stops there.
    private func readSparseMap1x0(at headerOffset: Int64, _ malformed: (String) -> TarError) throws
        -> [SparseMap.Fragment]
    {
        var text: [UInt8] = []
        var lineStart = 0
        var scanned = 0
        var count: Int?
        var numbers: [Int64] = []
        var block = [UInt8](repeating: 0, count: TarHeader.blockSize)
        while true {
            while scanned < text.count {
                guard text[scanned] == 0x0a else {
                    scanned += 1
                    continue
                }
                guard let value = PaxRecords.integer(Array(text[lineStart..<scanned])) else {
                    throw malformed("a line of the PAX 1.0 sparse map is not a decimal number")
                }
                scanned += 1
                lineStart = scanned
                if let count {
                    numbers.append(value)
                    if numbers.count == 2 * count { break }
                } else {
                    guard value <= Int64(limits.maxSparseEntries) else {
                        throw TarError.limitExceeded("the sparse map at offset \(headerOffset) has \(value) entries, "
                            + "more than \(limits.maxSparseEntries)")
                    }
                    count = Int(value)
                    numbers.reserveCapacity(2 * Int(value))
                }
            }
            if let count, numbers.count == 2 * count { break }
            guard text.count + TarHeader.blockSize <= limits.maxMetadataSize else {
                throw TarError.limitExceeded("the PAX 1.0 sparse map at offset \(headerOffset) is longer than "
                    + "\(limits.maxMetadataSize) bytes")
            }
            guard contentRemaining >= Int64(TarHeader.blockSize) else {
                throw malformed("the PAX 1.0 sparse map runs past the entry's data")
            }
            var filled = 0
            while filled < block.count {
                filled += try block.withUnsafeMutableBytes {
                    try readStored(into: UnsafeMutableRawBufferPointer(rebasing: $0[filled...]))
                }
            }
            text += block
        }
        switch SparseMap.pairs(numbers) {
        case let .success(fragments): return fragments
        case let .failure(reason): throw malformed(reason.text)
        }
    }

    // MARK: - Content

    /// Reads a sparse file's content: its fragments from the stream, its holes as zeros.
    func readSparseContent(into target: UnsafeMutableRawBufferPointer) throws -> Int {
        guard var cursor = sparseCursor, target.count > 0 else { return 0 }
        cursor.skipPassed()
        guard cursor.position < cursor.map.realSize else { return 0 }
        let fragments = cursor.map.fragments
        let n: Int
        if cursor.index < fragments.count && fragments[cursor.index].offset <= cursor.position {
            let want = Int(min(Int64(target.count), fragments[cursor.index].end - cursor.position))
            n = try readStored(into: UnsafeMutableRawBufferPointer(rebasing: target[..<want]))
        } else {
            let next = cursor.index < fragments.count ? fragments[cursor.index].offset : cursor.map.realSize
            n = Int(min(Int64(target.count), next - cursor.position))
            target.baseAddress!.initializeMemory(as: UInt8.self, repeating: 0, count: n)
        }
        cursor.position += Int64(n)
        sparseCursor = cursor
        return n
    }

    /// Writes the rest of a sparse file's content: each fragment with `pwrite` at its place, relative to the
    /// descriptor's offset, then the size with `ftruncate` (the holes are never written, whatever the real size).
    /// - Parameter skipZeros: Also leave holes for blocks of zeros inside the fragments.
    func copySparseContent(to fd: Int32, skipZeros: Bool, progress: ((_ written: Int64) throws -> Void)?) throws
        -> Int64
    {
        guard var cursor = sparseCursor else { return 0 }
        let base = try TarReader.position(of: fd)
        let first = cursor.position
        let (end, overflow) = base.addingReportingOverflow(cursor.map.realSize - first)
        guard !overflow else { throw TarError.io(SystemError("ftruncate", errno: EFBIG)) }
        while true {
            cursor.skipPassed()
            guard cursor.index < cursor.map.fragments.count else { break }
            let fragment = cursor.map.fragments[cursor.index]
            let from = max(fragment.offset, cursor.position)
            // The cursor is saved first: if the copy fails midway, the reader is unusable for this entry anyway.
            cursor.position = fragment.end
            sparseCursor = cursor
            _ = try copyStored(fragment.end - from, to: fd, at: base + (from - first), skipZeros: skipZeros,
                               progress: progress)
        }
        cursor.position = cursor.map.realSize
        sparseCursor = cursor
        try TarReader.setEnd(of: fd, at: end, truncate: true)
        return cursor.map.realSize - first
    }
}
