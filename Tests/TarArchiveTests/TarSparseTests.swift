import Glibc
import Testing
@testable import TarArchive
import TestSupport

/// GNU sparse files, as GNU tar writes them in each of its four formats, and hostile sparse maps.
@Suite("GNU sparse files: old GNU, PAX 0.0, 0.1 and 1.0")
struct TarSparseTests {
    /// GNU tar's options for each sparse format.
    static let formats: [String: String] = [
        "gnu": "--format=gnu",
        "pax-0.0": "--format=posix --sparse-version=0.0",
        "pax-0.1": "--format=posix --sparse-version=0.1",
        "pax-1.0": "--format=posix --sparse-version=1.0",
    ]
    /// The files of ``makeSparseFiles(_:)`` and their real sizes.
    static let files: [(name: String, size: Int64)] = [
        ("islands", 10 << 20), ("hole", 64 << 20), ("many", 3 << 20), ("plain", 6),
    ]

    /// Makes `src/` in `dir`: a file with data islands (unaligned, one of random bytes, one at the very end), one
    /// that is a single hole, one with 40 islands (old GNU extension blocks) ending in a hole, and a plain file; then
    /// archives them with GNU tar in `format` into `a.tar`.
    static func makeSparseArchive(_ dir: String, format: String) throws {
        try shell("""
            set -e
            cd '\(dir)' && mkdir -p src && cd src
            truncate -s 10M islands
            printf 'hello' | dd of=islands bs=1 seek=1048579 conv=notrunc status=none
            head -c 70000 /dev/urandom | dd of=islands bs=1000 seek=5000 conv=notrunc status=none
            printf 'tail' | dd of=islands bs=1 seek=$((10 * 1048576 - 4)) conv=notrunc status=none
            truncate -s 64M hole
            truncate -s 3M many
            for i in $(seq 0 39); do
                printf "island $i" | dd of=many bs=1 seek=$((i * 65536 + 100)) conv=notrunc status=none
            done
            printf 'plain\\n' > plain
            cd .. && tar --sparse \(try #require(formats[format])) -C src -cf a.tar islands hole many plain
            """)
    }

    /// Reads every entry of `archive` with ``TarReader/readContent(into:)`` in odd-sized chunks, comparing the
    /// content with the source file as it goes (a 64 MiB hole is never held whole).
    static func expectContentMatches(_ archive: String, sources: String) throws {
        let fd = open(archive, O_RDONLY | O_CLOEXEC)
        #expect(fd >= 0)
        defer { close(fd) }
        let reader = try TarReader(fileDescriptor: fd)
        var seen: [String] = []
        let chunk = 65536 + 7
        var got = [UInt8](repeating: 0, count: chunk)
        var expected = [UInt8](repeating: 0, count: chunk)
        while let entry = try reader.next() {
            seen.append(entry.path)
            let size = try #require(files.first { $0.name == entry.path }?.size, "unexpected entry \(entry.path)")
            #expect(entry.kind == .regular)
            #expect(entry.size == size, "\(entry.path)")
            let source = open("\(sources)/\(entry.path)", O_RDONLY | O_CLOEXEC)
            defer { close(source) }
            var total: Int64 = 0, mismatches = 0
            while true {
                let n = try got.withUnsafeMutableBytes { try reader.readContent(into: $0) }
                if n == 0 { break }
                let m = expected.withUnsafeMutableBytes { pread(source, $0.baseAddress!, n, off_t(total)) }
                let same = got.withUnsafeBytes { g in expected.withUnsafeBytes { memcmp(g.baseAddress!, $0.baseAddress!, n) } }
                if m != n || same != 0 { mismatches += 1 }
                total += Int64(n)
            }
            #expect(total == size, "\(entry.path)")
            #expect(mismatches == 0, "\(entry.path)")
        }
        #expect(seen == files.map(\.name))
    }

    @Test("GNU tar's sparse archives read back as their files, holes as zeros", arguments: ["gnu", "pax-0.0", "pax-0.1", "pax-1.0"])
    func readsGNUTarSparse(format: String) throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        try Self.makeSparseArchive(dir, format: format)
        try Self.expectContentMatches("\(dir)/a.tar", sources: "\(dir)/src")
        // The archive holds the data, not the holes.
        var st = stat()
        #expect(stat("\(dir)/a.tar", &st) == 0)
        #expect(st.st_size < 1 << 20)
    }

    @Test("copyContent writes a sparse file's fragments at their offsets and keeps its holes",
          arguments: ["gnu", "pax-0.0", "pax-0.1", "pax-1.0"])
    func copiesGNUTarSparse(format: String) throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        try Self.makeSparseArchive(dir, format: format)
        for skipZeros in [false, true] {
            let out = "\(dir)/out-\(skipZeros)"
            try shell("mkdir '\(out)'")
            let fd = open("\(dir)/a.tar", O_RDONLY | O_CLOEXEC)
            defer { close(fd) }
            let reader = try TarReader(fileDescriptor: fd)
            while let entry = try reader.next() {
                let file = open("\(out)/\(entry.path)", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
                #expect(file >= 0)
                defer { close(file) }
                if entry.path == "islands" {
                    // Part read as a stream first: the copy carries on where the reading stopped.
                    var head = [UInt8](repeating: 0xff, count: 3)
                    #expect(try head.withUnsafeMutableBytes { try reader.readContent(into: $0) } == 3)
                    #expect(head == [0, 0, 0])
                    #expect(lseek(file, 3, SEEK_SET) == 3)
                }
                var written: Int64 = 0
                let copied = try reader.copyContent(to: file, sparse: skipZeros) { written += $0 }
                #expect(copied == entry.size - (entry.path == "islands" ? 3 : 0))
                #expect(lseek(file, 0, SEEK_CUR) == entry.size)
                #expect(written < 1 << 20, "\(entry.path): \(written) bytes written")
            }
            for (name, size) in Self.files {
                _ = try shell("cmp '\(dir)/src/\(name)' '\(out)/\(name)'")
                var st = stat()
                #expect(stat("\(out)/\(name)", &st) == 0)
                #expect(Int64(st.st_size) == size)
                #expect(Int64(st.st_blocks) * 512 < 1 << 20, "\(name) takes \(st.st_blocks * 512) bytes")
            }
        }
    }

    // MARK: - Hostile maps

    /// A PAX extended header with `records`, a regular file header named `name` with `size`, `data` padded, and
    /// the end-of-archive blocks.
    static func paxArchive(_ records: [(String, String)], typeflag: UInt8 = TarHeader.typeRegular,
                           name: String = "GNUSparseFile.0/f", size: Int? = nil, data: [UInt8] = []) -> [UInt8] {
        let pax = records.flatMap { PaxRecords.encode(key: $0.0, value: Array($0.1.utf8)) }
        var archive = header(name: "PaxHeaders/f", typeflag: TarHeader.typePaxLocal, size: pax.count) + padded(pax)
        archive += header(name: name, typeflag: typeflag, size: size ?? data.count) + padded(data)
        return archive + [UInt8](repeating: 0, count: 1024)
    }

    static func header(name: String, typeflag: UInt8, size: Int, edit: (inout [UInt8]) -> Void = { _ in })
        -> [UInt8] {
        var header = [UInt8](repeating: 0, count: 512)
        TarHeader.putString(bytes(name), &header, TarHeader.name)
        TarHeader.putOctal(0o644, &header, TarHeader.mode)
        TarHeader.putNumber(Int64(size), &header, TarHeader.size)
        header[TarHeader.typeflag] = typeflag
        TarHeader.putString(TarHeader.ustarMagic, &header, TarHeader.magic)
        edit(&header)
        TarHeader.putChecksum(&header)
        return header
    }

    static func padded(_ data: [UInt8]) -> [UInt8] {
        data + [UInt8](repeating: 0, count: Int(TarReader.padding(Int64(data.count))))
    }

    /// An old GNU `S` header with `pairs` (the first four in the header, the rest in extension blocks), `realSize`
    /// and `data`; `emptyExtensions` more extension blocks with no pairs are chained after them.
    static func oldGNUArchive(_ pairs: [(Int64, Int64)], realSize: Int64, data: [UInt8], emptyExtensions: Int = 0)
        -> [UInt8] {
        let inHeader = Array(pairs.prefix(4)), rest = Array(pairs.dropFirst(4))
        var blocks: [[UInt8]] = stride(from: 0, to: rest.count, by: 21).map { start in
            var block = [UInt8](repeating: 0, count: 512)
            for (i, pair) in rest[start..<min(rest.count, start + 21)].enumerated() {
                let (o, l) = TarHeader.gnuSparsePair(i, from: 0)
                TarHeader.putNumber(pair.0, &block, o)
                TarHeader.putNumber(pair.1, &block, l)
            }
            return block
        }
        blocks += [[UInt8]](repeating: [UInt8](repeating: 0, count: 512), count: emptyExtensions)
        for i in blocks.indices.dropLast() { blocks[i][TarHeader.gnuExtensionIsExtended] = 1 }
        var archive = header(name: "f", typeflag: TarHeader.typeGNUSparse, size: data.count) { h in
            for (i, pair) in inHeader.enumerated() {
                let (o, l) = TarHeader.gnuSparsePair(i, from: TarHeader.gnuSparsePairs)
                TarHeader.putNumber(pair.0, &h, o)
                TarHeader.putNumber(pair.1, &h, l)
            }
            h[TarHeader.gnuIsExtended] = blocks.isEmpty ? 0 : 1
            TarHeader.putNumber(realSize, &h, TarHeader.gnuRealSize)
        }
        for block in blocks { archive += block }
        return archive + padded(data) + [UInt8](repeating: 0, count: 1024)
    }

    /// Expects reading `archive` to fail with an error that passes `check` and whose text contains `word`.
    func expectError(_ archive: [UInt8], limits: TarReader.Limits = .init(), _ word: String = "",
                     sourceLocation: SourceLocation = #_sourceLocation, _ check: (TarError) -> Bool) {
        do {
            try drainArchive(archive, limits: limits)
            Issue.record("archive accepted", sourceLocation: sourceLocation)
        } catch let error as TarError {
            #expect(check(error), "unexpected error: \(error)", sourceLocation: sourceLocation)
            if !word.isEmpty {
                #expect("\(error)".contains(word), "\(error) does not say \(word)", sourceLocation: sourceLocation)
            }
        } catch {
            Issue.record("unexpected error type: \(error)", sourceLocation: sourceLocation)
        }
    }

    static func isMalformed(_ error: TarError) -> Bool { if case .malformed = error { true } else { false } }
    static func isLimit(_ error: TarError) -> Bool { if case .limitExceeded = error { true } else { false } }

    @Test("a hand-made PAX 0.1 map: fragments at their offsets, a huge real size costs nothing")
    func handMadeMap() throws {
        let archive = Self.paxArchive([("GNU.sparse.size", "\(1 << 40)"), ("GNU.sparse.name", "big"),
                                       ("GNU.sparse.map", "3,2,4096,3,\(1 << 40),0")],
                                      data: bytes("abxyz"))
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let reader = TarReader(BytesSource(archive))
        let entry = try #require(try reader.next())
        #expect(entry.path == "big")
        #expect(entry.size == 1 << 40)
        var head = [UInt8](repeating: 0xff, count: 5000)
        var filled = 0
        while filled < head.count {
            filled += try head.withUnsafeMutableBytes { try reader.readContent(into: UnsafeMutableRawBufferPointer(rebasing: $0[filled...])) }
        }
        var expected = [UInt8](repeating: 0, count: 5000)
        expected[3...4] = [0x61, 0x62]
        expected[4096...4098] = [0x78, 0x79, 0x7a]
        #expect(head == expected)
        // Refused as a whole in memory; skipped by next() without reading a TiB of zeros.
        #expect(throws: TarError.self) { _ = try reader.readAllContent() }
        #expect(try reader.next() == nil)

        // Written out: 1 TiB of size, a block or two of disk.
        let copy = TarReader(BytesSource(archive))
        _ = try copy.next()
        let fd = open("\(dir)/big", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        defer { close(fd) }
        #expect(try copy.copyContent(to: fd, sparse: true) == 1 << 40)
        var st = stat()
        #expect(fstat(fd, &st) == 0)
        #expect(Int64(st.st_size) == 1 << 40)
        #expect(st.st_blocks * 512 <= 64 << 10)
        // Not seekable: a clear error, never a TiB of zeros down a pipe.
        var pipeFDs: [Int32] = [0, 0]
        #expect(pipe(&pipeFDs) == 0)
        defer { close(pipeFDs[0]); close(pipeFDs[1]) }
        let piped = TarReader(BytesSource(archive))
        _ = try piped.next()
        #expect(throws: TarError.self) { _ = try piped.copyContent(to: pipeFDs[1]) }
    }

    @Test("invalid PAX 0.x maps are refused with a malformed-header error saying why")
    func invalidPaxMaps() throws {
        func sparse(_ map: String, size: String = "100", stored: Int = 20) -> [UInt8] {
            Self.paxArchive([("GNU.sparse.size", size), ("GNU.sparse.name", "f"), ("GNU.sparse.map", map)],
                            data: [UInt8](repeating: 0x61, count: stored))
        }
        expectError(sparse("0,10,5,10"), "overlap", Self.isMalformed)
        expectError(sparse("50,10,0,10"), "out of order", Self.isMalformed)
        expectError(sparse("90,20"), "beyond the real size", Self.isMalformed)
        expectError(sparse("0,10"), "places 10 bytes but the entry stores 20", Self.isMalformed)
        expectError(sparse("0,10,20,30"), "places 40 bytes", Self.isMalformed)
        expectError(sparse("0,10,5"), "odd", Self.isMalformed)
        expectError(sparse("-1,10,20,10"), "decimal", Self.isMalformed)
        expectError(sparse("0,x"), "decimal", Self.isMalformed)
        // 19 nines overflow 64 bits (this used to trap in the PAX integer parser); 20 digits are too long.
        expectError(sparse("9999999999999999999,20"), "decimal", Self.isMalformed)
        expectError(sparse("0,20", size: "9999999999999999999"), "not a non-negative decimal", Self.isMalformed)
        expectError(sparse("9223372036854775800,20", size: "9223372036854775807"), "largest file offset",
                    Self.isMalformed)
        expectError(Self.paxArchive([("GNU.sparse.size", "100"), ("GNU.sparse.numblocks", "2"),
                                     ("GNU.sparse.map", "0,20")], data: [UInt8](repeating: 1, count: 20)),
                    "numblocks", Self.isMalformed)
        // No real size; a name alone; an unknown version.
        expectError(Self.paxArchive([("GNU.sparse.map", "0,0")]), "GNU.sparse.realsize", Self.isMalformed)
        expectError(Self.paxArchive([("GNU.sparse.size", "0"), ("GNU.sparse.name", "f")]), "without a sparse map", Self.isMalformed)
        expectError(Self.paxArchive([("GNU.sparse.major", "2"), ("GNU.sparse.minor", "0"),
                                     ("GNU.sparse.realsize", "0")]), "PAX sparse format 2.0") {
            if case .unsupported = $0 { true } else { false }
        }
        // On a directory.
        expectError(Self.paxArchive([("GNU.sparse.size", "0"), ("GNU.sparse.map", "")],
                                    typeflag: TarHeader.typeDirectory, name: "d/"), "directory", Self.isMalformed)
        // PAX 0.0: the records must alternate, offset first.
        let pairs = Self.paxArchive([("GNU.sparse.size", "100"), ("GNU.sparse.numbytes", "10"),
                                     ("GNU.sparse.offset", "0")], data: [UInt8](repeating: 1, count: 10))
        expectError(pairs, "where GNU.sparse.offset should be", Self.isMalformed)
    }

    @Test("PAX 0.0 repeated records are read in order, not collapsed")
    func pax00Order() throws {
        let archive = Self.paxArchive([("GNU.sparse.size", "30"), ("GNU.sparse.numblocks", "2"),
                                       ("GNU.sparse.offset", "2"), ("GNU.sparse.numbytes", "3"),
                                       ("GNU.sparse.offset", "20"), ("GNU.sparse.numbytes", "2")],
                                      name: "f", data: bytes("abcde"))
        let entries = try readArchive(archive)
        var expected = [UInt8](repeating: 0, count: 30)
        expected[2...4] = [0x61, 0x62, 0x63]
        expected[20...21] = [0x64, 0x65]
        #expect(entries.map(\.entry.path) == ["f"])
        #expect(entries.first?.content == expected)
    }

    @Test("sparse maps over the entry limit are refused before they are held", arguments: [4, 65536])
    func tooManyEntries(limit: Int) throws {
        let limits = TarReader.Limits(maxSparseEntries: limit)
        let n = limit + 1
        // PAX 0.1: n empty fragments.
        let list = Array(repeating: "0,0", count: n).joined(separator: ",")
        expectError(Self.paxArchive([("GNU.sparse.size", "0"), ("GNU.sparse.map", list)]), limits: limits,
                    "more than \(limit) entries", Self.isLimit)
        // PAX 0.0.
        let records = [("GNU.sparse.size", "0")] + (0..<n).flatMap { _ in
            [("GNU.sparse.offset", "0"), ("GNU.sparse.numbytes", "0")]
        }
        if limit < 1000 {
            expectError(Self.paxArchive(records), limits: limits, "more than \(limit) entries", Self.isLimit)
        }
        // PAX 1.0: the count alone is refused.
        let map1 = Self.padded(bytes("\(n)\n"))
        expectError(Self.paxArchive([("GNU.sparse.major", "1"), ("GNU.sparse.minor", "0"),
                                     ("GNU.sparse.realsize", "0")], data: map1), limits: limits,
                    "more than \(limit)", Self.isLimit)
        // Old GNU: n pairs in extension blocks.
        let old = Self.oldGNUArchive(Array(repeating: (0, 0), count: n), realSize: 0, data: [])
        expectError(old, limits: limits, "more than \(limit) entries", Self.isLimit)
        // At the limit, each is fine.
        let atLimit = Self.oldGNUArchive(Array(repeating: (0, 0), count: limit), realSize: 0, data: [])
        #expect(try readArchive(atLimit, limits: limits).map(\.entry.size) == [0])
    }

    @Test("PAX 1.0 maps: a line that never ends, a map past the data, a map that is not numbers")
    func pax10Hostile() throws {
        let version = [("GNU.sparse.major", "1"), ("GNU.sparse.minor", "0"), ("GNU.sparse.realsize", "100"),
                       ("GNU.sparse.name", "f")]
        // 2 MiB of digits and no newline: stops at the 1 MiB metadata bound, not at the end of the data.
        let endless = [UInt8](repeating: 0x31, count: 2 << 20)
        expectError(Self.paxArchive(version, data: endless), "longer than 1048576 bytes", Self.isLimit)
        // The map's numbers stop at the end of the entry's data.
        expectError(Self.paxArchive(version, data: Self.padded(bytes("2\n0\n10\n"))), "runs past", Self.isMalformed)
        expectError(Self.paxArchive(version, data: Self.padded(bytes("1\nzero\n10\n"))), "decimal", Self.isMalformed)
        // A valid one, for contrast: the map block, then 10 stored bytes.
        let good = Self.paxArchive(version, data: Self.padded(bytes("1\n90\n10\n")) + bytes("0123456789"))
        let entries = try readArchive(good)
        #expect(entries.first?.entry.size == 100)
        #expect(entries.first?.content == [UInt8](repeating: 0, count: 90) + bytes("0123456789"))
        // The map says 10 bytes, the entry stores 11.
        let extra = Self.paxArchive(version, data: Self.padded(bytes("1\n90\n10\n")) + bytes("0123456789!"))
        expectError(extra, "places 10 bytes but the entry stores 11", Self.isMalformed)
    }

    @Test("old GNU maps: overlaps, an endless chain of extension blocks, a truncated chain")
    func oldGNUHostile() throws {
        let data = [UInt8](repeating: 0x62, count: 20)
        expectError(Self.oldGNUArchive([(0, 10), (5, 10)], realSize: 100, data: data), "overlap", Self.isMalformed)
        expectError(Self.oldGNUArchive([(0, 10), (95, 10)], realSize: 100, data: data), "beyond", Self.isMalformed)
        expectError(Self.oldGNUArchive([(0, 10)], realSize: 100, data: data), "stores 20", Self.isMalformed)
        // Extension blocks with no pairs, each saying another follows.
        let chain = Self.oldGNUArchive([(0, 20)], realSize: 100, data: data, emptyExtensions: 5000)
        expectError(chain, "extension blocks", Self.isLimit)
        // A chain cut short by the end of the stream.
        let cut = Self.oldGNUArchive([(0, 20)], realSize: 100, data: data, emptyExtensions: 3)
        expectError(Array(cut[..<(512 * 3)]), "inside the sparse map") { if case .truncated = $0 { true } else { false } }
        // Valid: the 25 pairs span the header and an extension block; the stream stays in step.
        let pairs = (0..<25).map { (Int64($0) * 10, Int64(1)) }
        let valid = Self.oldGNUArchive(pairs, realSize: 250, data: Array(0..<25))
        let next = try writeArchive([(TarEntry(kind: .regular, path: "next"), bytes("n"))]).bytes
        let entries = try readArchive(Array(valid.dropLast(1024)) + next)
        #expect(entries.map(\.entry.path) == ["f", "next"])
        #expect(entries.last?.content == bytes("n"))
        var expected = [UInt8](repeating: 0, count: 250)
        for i in 0..<25 { expected[i * 10] = UInt8(i) }
        #expect(entries.first?.content == expected)
    }

    @Test("GNU.sparse records in a global header are ignored: they would make every file sparse")
    func globalSparseIgnored() throws {
        var archive = Self.paxArchive([("GNU.sparse.map", "0,1")])
        archive[156] = TarHeader.typePaxGlobal
        var first = Array(archive[0..<512])
        TarHeader.putChecksum(&first)
        archive.replaceSubrange(0..<512, with: first)
        let entries = try readArchive(Array(archive[..<1024]) + (try writeArchive([(TarEntry(kind: .regular, path: "f"), bytes("x"))]).bytes))
        #expect(entries.map(\.content) == [bytes("x")])
    }
}
