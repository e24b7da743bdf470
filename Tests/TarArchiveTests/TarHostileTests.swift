import Testing
@testable import TarArchive

/// Corrupt and hostile archives end in a ``TarError``, never a crash or a huge allocation.
@Suite("Hostile and malformed tar input")
struct TarHostileTests {
    /// A valid one-file archive to corrupt.
    func sample() throws -> [UInt8] {
        try writeArchive([(TarEntry(kind: .regular, path: "file"), noise(1000))]).bytes
    }

    /// Re-computes the checksum of the header at `offset` after a test edited it.
    func resum(_ archive: inout [UInt8], at offset: Int = 0) {
        var header = Array(archive[offset..<offset + 512])
        TarHeader.putChecksum(&header)
        archive.replaceSubrange(offset..<offset + 512, with: header)
    }

    func expectError(_ archive: [UInt8], limits: TarReader.Limits = .init(), _ check: (TarError) -> Bool,
                     sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            try drainArchive(archive, limits: limits)
            Issue.record("archive accepted", sourceLocation: sourceLocation)
        } catch let error as TarError {
            #expect(check(error), "unexpected error: \(error)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected error type: \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test("a flipped byte in a header fails the checksum")
    func badChecksum() throws {
        var archive = try sample()
        archive[10] ^= 0x01
        expectError(archive) { if case .badChecksum(0) = $0 { true } else { false } }
        // Random bytes are not a tar archive.
        expectError(noise(4096)) { if case .badChecksum = $0 { true } else { false } }
    }

    @Test("truncation anywhere is an error, never a short success")
    func truncated() throws {
        let archive = try sample()
        // In the header, in the content, before the end-of-archive block.
        for cut in [100, 512, 700, 1536] {
            expectError(Array(archive[..<cut])) { if case .truncated = $0 { true } else { false } }
        }
        expectError([]) { if case .truncated = $0 { true } else { false } }
    }

    @Test("negative, huge and garbage size fields")
    func sizeFields() throws {
        var negative = try sample()
        for i in 124..<136 { negative[i] = 0xff }
        resum(&negative)
        expectError(negative) { if case .malformed = $0 { true } else { false } }

        // Base-256 size of ~2^62: the reader streams, so it just runs out of input.
        var huge = try sample()
        huge[124] = 0x80
        for i in 125..<136 { huge[i] = 0 }
        huge[128] = 0x40
        resum(&huge)
        expectError(huge) { if case .truncated = $0 { true } else { false } }

        // A number that overflows 64 bits.
        var overflow = try sample()
        overflow[124] = 0x80
        for i in 125..<136 { overflow[i] = 0xff }
        resum(&overflow)
        expectError(overflow) { if case .malformed = $0 { true } else { false } }

        var garbage = try sample()
        for (i, c) in "12x45".utf8.enumerated() { garbage[124 + i] = c }
        resum(&garbage)
        expectError(garbage) { if case .malformed = $0 { true } else { false } }
    }

    @Test("a PAX header or GNU long name over the metadata limit is refused before allocation")
    func metadataLimits() throws {
        let long = String(repeating: "a/", count: 3000)
        let (archive, _) = try writeArchive([(TarEntry(kind: .regular, path: long), [])])
        expectError(archive, limits: .init(maxMetadataSize: 1024)) {
            if case .limitExceeded = $0 { true } else { false }
        }
        // A PAX header claiming 2^40 bytes.
        var pax = archive
        pax[124] = 0x80
        for i in 125..<136 { pax[i] = 0 }
        pax[130] = 1
        resum(&pax)
        expectError(pax) { if case .limitExceeded = $0 { true } else { false } }
    }

    @Test("a run of extended headers counts against one metadata limit")
    func extendedHeaderRun() throws {
        var archive: [UInt8] = []
        for i in 0..<8 {
            let record = PaxRecords.encode(key: "comment\(i)", value: [UInt8](repeating: 0x61, count: 400))
            var header = [UInt8](repeating: 0, count: 512)
            TarHeader.putString(bytes("PaxHeaders/x"), &header, TarHeader.name)
            TarHeader.putOctal(Int64(record.count), &header, TarHeader.size)
            header[TarHeader.typeflag] = TarHeader.typePaxLocal
            TarHeader.putString(TarHeader.ustarMagic, &header, TarHeader.magic)
            TarHeader.putChecksum(&header)
            archive += header + record + [UInt8](repeating: 0, count: 512 - record.count)
        }
        archive += try sample()
        expectError(archive, limits: .init(maxMetadataSize: 2048)) { if case .limitExceeded = $0 { true } else { false } }
        #expect(try readArchive(archive, limits: .init(maxMetadataSize: 8192)).count == 1)
    }

    @Test("malformed PAX records")
    func malformedPax() throws {
        for record in ["5 a=b\n", "99 path=x\n", "x path=y\n", "9 path=y", "11 noequals\n"] {
            var archive: [UInt8] = []
            var header = [UInt8](repeating: 0, count: 512)
            TarHeader.putString(bytes("PaxHeaders/x"), &header, TarHeader.name)
            TarHeader.putOctal(Int64(record.utf8.count), &header, TarHeader.size)
            header[TarHeader.typeflag] = TarHeader.typePaxLocal
            TarHeader.putString(TarHeader.ustarMagic, &header, TarHeader.magic)
            TarHeader.putChecksum(&header)
            archive += header
            var data = bytes(record)
            data += [UInt8](repeating: 0, count: 512 - data.count)
            archive += data
            archive += try sample()
            expectError(archive) { if case .malformed = $0 { true } else { false } }
        }
    }

    @Test("multi-volume continuations and unknown entry types are refused by name")
    func unsupportedTypes() throws {
        for type in [TarHeader.typeGNUMultiVolume, UInt8(ascii: "Z")] {
            var archive = try sample()
            archive[156] = type
            resum(&archive)
            expectError(archive) { if case .unsupported = $0 { true } else { false } }
        }
    }

    @Test("names that are not UTF-8 are refused, not mangled")
    func invalidUTF8() throws {
        var archive = try sample()
        archive[0] = 0xff
        resum(&archive)
        expectError(archive) { if case .malformed = $0 { true } else { false } }
    }

    @Test("every prefix of a valid archive either fails cleanly or (at the end) succeeds")
    func everyPrefix() throws {
        let (archive, _) = try writeArchive([
            (TarEntry(kind: .regular, path: String(repeating: "n", count: 200), xattrs: ["user.a": [1]]), bytes("abc")),
            (TarEntry(kind: .symbolicLink, path: "s", linkTarget: "t"), []),
        ], compression: .gzip)
        for cut in 0..<archive.count {
            #expect(throws: TarError.self) { _ = try readArchive(Array(archive[..<cut])) }
        }
        #expect(try readArchive(archive).count == 2)
    }
}
