import Glibc
import OCIModel
import Testing
@testable import TarArchive
import TestSupport

@Suite("Tar round trips: TarWriter → TarReader")
struct TarRoundTripTests {
    @Test("every entry kind survives a round trip with its metadata")
    func everyKind() throws {
        let time = TarTimestamp(seconds: 1_700_000_000, nanoseconds: 123_456_789)
        let entries: [(TarEntry, [UInt8])] = [
            (TarEntry(kind: .directory, path: "dir", mode: 0o1777, uid: 0, gid: 0), []),
            (TarEntry(kind: .regular, path: "dir/file", mode: 0o4755, uid: 1000, gid: 100, userName: "alice",
                      groupName: "users", modificationTime: time), bytes("hello\n")),
            (TarEntry(kind: .regular, path: "dir/empty", mode: 0), []),
            (TarEntry(kind: .regular, path: "dir/big", mode: 0o600), noise(70_000)),
            (TarEntry(kind: .hardLink, path: "dir/link", linkTarget: "dir/file"), []),
            (TarEntry(kind: .symbolicLink, path: "dir/sym", linkTarget: "../etc/passwd", mode: 0o777), []),
            (TarEntry(kind: .characterDevice, path: "dev/null", mode: 0o666, deviceMajor: 1, deviceMinor: 3), []),
            (TarEntry(kind: .blockDevice, path: "dev/loop0", mode: 0o660, deviceMajor: 7, deviceMinor: 0), []),
            (TarEntry(kind: .fifo, path: "dev/fifo", mode: 0o644), []),
        ]
        let (archive, summary) = try writeArchive(entries)
        #expect(archive.count % 512 == 0)
        #expect(summary.diffID == Digest.sha256(of: archive))
        #expect(summary.digest == summary.diffID)
        #expect(summary.size == Int64(archive.count))
        let read = try readArchive(archive)
        #expect(read.count == entries.count)
        for (got, (want, content)) in zip(read, entries) {
            var expected = want
            if expected.kind == .directory { expected.path += "/" }
            expected.size = expected.kind == .regular ? Int64(content.count) : 0
            #expect(got.entry == expected)
            #expect(got.content == content)
        }
    }

    @Test("names over 100 bytes use the ustar prefix, over 255 a PAX path; long link targets a PAX linkpath")
    func longNames() throws {
        let medium = String(repeating: "d", count: 90) + "/" + String(repeating: "f", count: 60)   // 151: prefix split
        let long = (0..<30).map { "component\($0)" }.joined(separator: "/")                       // > 255
        let longComponent = String(repeating: "x", count: 150) + "/name"                           // no valid split
        let unicode = String(repeating: "é", count: 80) + "/файл"                                  // multi-byte
        let target = String(repeating: "t/", count: 120) + "end"
        let entries: [(TarEntry, [UInt8])] = [
            (TarEntry(kind: .regular, path: medium), bytes("m")),
            (TarEntry(kind: .regular, path: long), bytes("l")),
            (TarEntry(kind: .regular, path: longComponent), bytes("c")),
            (TarEntry(kind: .regular, path: unicode), bytes("u")),
            (TarEntry(kind: .symbolicLink, path: "s", linkTarget: target), []),
            (TarEntry(kind: .hardLink, path: "h", linkTarget: long), []),
        ]
        let (archive, _) = try writeArchive(entries)
        let read = try readArchive(archive)
        #expect(read.map(\.entry.path) == [medium, long, longComponent, unicode, "s", "h"])
        #expect(read[4].entry.linkTarget == target)
        #expect(read[5].entry.linkTarget == long)
        // The medium name needs no PAX header: the first header is the entry itself, with a prefix.
        #expect(archive[156] == UInt8(ascii: "0"))
        #expect(archive[345] == UInt8(ascii: "d"))
        // GNU tar agrees.
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        writeFile(dir + "/a.tar", archive)
        let listing = try shell("tar -tf '\(dir)/a.tar'").split(separator: "\n").map(String.init)
        #expect(listing == [medium, long, longComponent, unicode, "s", "h"])
    }

    @Test("large ids, sub-second and negative mtimes, xattrs go through PAX records (and base-256 fields)")
    func paxRecords() throws {
        let xattrs: [String: [UInt8]] = ["user.comment": bytes("a=b\nc"), "security.capability": [1, 0, 0, 2, 0xff, 0]]
        let entries: [(TarEntry, [UInt8])] = [
            (TarEntry(kind: .regular, path: "ids", uid: 3_000_000_000, gid: 2_097_152), bytes("x")),
            (TarEntry(kind: .regular, path: "old", modificationTime: TarTimestamp(seconds: -2, nanoseconds: 500_000_000)), []),
            (TarEntry(kind: .regular, path: "future", modificationTime: TarTimestamp(seconds: 1 << 40)), []),
            (TarEntry(kind: .regular, path: "attrs", xattrs: xattrs), bytes("y")),
            (TarEntry(kind: .directory, path: "dattrs", xattrs: ["user.x": []]), []),
            (TarEntry(kind: .characterDevice, path: "dev", deviceMajor: 4_000_000, deviceMinor: 70_000_000), []),
            (TarEntry(kind: .regular, path: "names", userName: String(repeating: "u", count: 40),
                      groupName: String(repeating: "g", count: 33)), []),
        ]
        let (archive, _) = try writeArchive(entries)
        let read = try readArchive(archive)
        #expect(read[0].entry.uid == 3_000_000_000)
        #expect(read[0].entry.gid == 2_097_152)
        #expect(read[1].entry.modificationTime == TarTimestamp(seconds: -2, nanoseconds: 500_000_000))
        #expect(read[2].entry.modificationTime == TarTimestamp(seconds: 1 << 40))
        #expect(read[3].entry.xattrs == xattrs)
        #expect(read[3].content == bytes("y"))
        #expect(read[4].entry.xattrs == ["user.x": []])
        #expect(read[5].entry.deviceMajor == 4_000_000 && read[5].entry.deviceMinor == 70_000_000)
        #expect(read[6].entry.userName.count == 40 && read[6].entry.groupName.count == 33)
        // The ids header field itself carries base-256 (for readers that ignore PAX).
        let idsHeader = try headerOffset(of: "ids", in: archive)
        #expect(archive[idsHeader + 108] == 0x80)
        // Python's tarfile reads the same values.
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        writeFile(dir + "/a.tar", archive)
        let out = try python("""
            import tarfile
            t = tarfile.open('a.tar')
            m = t.getmember('ids'); print(m.uid, m.gid)
            m = t.getmember('attrs'); print(sorted(k for k in m.pax_headers))
            """, in: dir)
        #expect(out.contains("3000000000 2097152"))
        #expect(out.contains("SCHILY.xattr.security.capability"))
    }

    @Test("sizes of 8 GiB and more go into a PAX size record and a base-256 field")
    func hugeSize() throws {
        let size: Int64 = (1 << 33) + 5
        let sink = BytesSink()
        let writer = try TarWriter(sink: sink)
        try writer.append(TarEntry(kind: .regular, path: "huge", size: size))
        try writer.writeContent(noise(1000))
        // Only the headers and the first bytes exist; the reader needs no more to report the entry.
        let reader = TarReader(BytesSource(sink.bytes))
        let entry = try #require(try reader.next())
        #expect(entry.size == size)
        let header = Array(sink.bytes[1024..<1536])
        #expect(header[124] == 0x80)
        #expect(sink.bytes[0..<512].contains(UInt8(ascii: "x")))
        var chunk = [UInt8](repeating: 0, count: 4096)
        let n = try chunk.withUnsafeMutableBytes { try reader.readContent(into: $0) }
        #expect(Array(chunk[..<n]) == noise(1000))
        // Then the stream ends inside the content.
        #expect(throws: TarError.self) { _ = try chunk.withUnsafeMutableBytes { try reader.readContent(into: $0) } }
    }

    @Test("writer output is deterministic and the reader copies content to a descriptor")
    func deterministicAndCopy() throws {
        let entries: [(TarEntry, [UInt8])] = [
            (TarEntry(kind: .regular, path: String(repeating: "p", count: 300), xattrs: ["user.b": [2], "user.a": [1]]),
             noise(200_000, seed: 7)),
        ]
        let first = try writeArchive(entries, compression: .gzip)
        let second = try writeArchive(entries, compression: .gzip)
        #expect(first.bytes == second.bytes)
        #expect(first.summary == second.summary)
        #expect(first.summary.digest == Digest.sha256(of: first.bytes))
        // gzip header: no mtime, no name, fixed OS byte.
        #expect(Array(first.bytes[0..<10]) == [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3])

        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let (_, stream) = try Decompressor.open(BytesSource(first.bytes))
        let hashed = HashingSource(stream)
        let reader = TarReader(hashed)
        let entry = try #require(try reader.next())
        let fd = open(dir + "/out", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        #expect(try reader.copyContent(to: fd) == 200_000)
        close(fd)
        #expect(readFile(dir + "/out") == entries[0].1)
        #expect(entry.xattrs.count == 2)
        #expect(try reader.next() == nil)
        try hashed.drain()
        #expect(hashed.digest() == first.summary.diffID)
        #expect(hashed.byteCount == first.summary.uncompressedSize)
    }

    @Test("a sparse copy leaves holes for blocks of zeros, keeps every other byte and sets the size")
    func sparseCopy() throws {
        // Data at an unaligned offset, 1 MiB of zeros, a block of data, then zeros to the end (a trailing hole).
        var content = [UInt8](repeating: 0, count: 3 << 20)
        for i in 100..<5000 { content[i] = UInt8(truncatingIfNeeded: i) | 1 }
        for i in (1 << 20) + 8192..<(1 << 20) + 12288 { content[i] = 0xA5 }
        content[(2 << 20) + 1] = 7  // one byte in a block of zeros: that block is written
        let entries: [(TarEntry, [UInt8])] = [(TarEntry(kind: .regular, path: "sparse", size: Int64(content.count)), content),
                                              (TarEntry(kind: .regular, path: "zeros", size: 1 << 20), [UInt8](repeating: 0, count: 1 << 20))]
        let archive = try writeArchive(entries, compression: .gzip)
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let (_, stream) = try Decompressor.open(BytesSource(archive.bytes))
        let reader = TarReader(stream)
        for (entry, bytes) in entries {
            #expect(try reader.next()?.path == entry.path)
            let path = "\(dir)/\(entry.path)"
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o644)
            var written: Int64 = 0
            #expect(try reader.copyContent(to: fd, sparse: true) { written += $0 } == Int64(bytes.count))
            close(fd)
            #expect(readFile(path) == bytes)
            var st = stat()
            #expect(stat(path, &st) == 0)
            #expect(st.st_size == bytes.count)
            // Only the blocks holding data were written and allocated.
            let dataBlocks = Int64(entry.path == "zeros" ? 0 : 4 * 4096)
            #expect(written <= dataBlocks)
            #expect(Int64(st.st_blocks) * 512 <= dataBlocks + 64 * 1024, "\(entry.path): \(st.st_blocks) blocks")
        }
        #expect(try reader.next() == nil)
    }

    @Test("writer refuses content beyond the declared size and entries before content is complete")
    func writerMisuse() throws {
        let writer = try TarWriter(sink: BytesSink())
        try writer.append(TarEntry(kind: .regular, path: "f", size: 3))
        #expect(throws: TarError.self) { try writer.writeContent(bytes("four")) }
        try writer.writeContent(bytes("ab"))
        #expect(throws: TarError.self) { try writer.append(TarEntry(kind: .regular, path: "g")) }
        #expect(throws: TarError.self) { _ = try writer.finish() }
        try writer.writeContent(bytes("c"))
        _ = try writer.finish()
        #expect(throws: TarError.self) { try TarWriter(sink: BytesSink()).append(TarEntry(kind: .regular, path: "")) }
    }

    /// The offset of the ustar header whose name field is `name`.
    func headerOffset(of name: String, in archive: [UInt8]) throws -> Int {
        var offset = 0
        while offset + 512 <= archive.count {
            if Array(archive[offset..<offset + name.utf8.count]) == Array(name.utf8) && archive[offset + name.utf8.count] == 0 {
                return offset
            }
            offset += 512
        }
        throw ShellError(description: "no header for \(name)")
    }
}
