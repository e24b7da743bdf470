import Glibc
import OCIModel
import Testing
@testable import TarArchive
import TestSupport

/// Archives made by GNU tar and Python's tarfile, in each of their formats, read back entry by entry.
@Suite("Reading archives made by GNU tar and Python tarfile")
struct TarInteropTests {
    static let longName = String(repeating: "long-directory-name/", count: 8) + "file-with-a-long-name.txt"  // > 155+100

    /// A tree with every kind GNU tar can archive without privileges beyond ours.
    func makeTree(_ dir: String, longNames: Bool) throws {
        try shell("""
            set -e
            cd '\(dir)' && mkdir -p src/sub && cd src
            printf 'hello\\n' > sub/file && chmod 0640 sub/file
            head -c 70000 /dev/urandom > sub/random
            ln sub/file sub/hardlink
            ln -s ../sub/file sub/symlink
            mkfifo sub/fifo
            mkdir -m 1777 sticky
            touch -d '2001-02-03 04:05:06.789' sub/file
            """)
        if longNames {
            try shell("cd '\(dir)/src' && mkdir -p \"$(dirname '\(Self.longName)')\" && printf 'x' > '\(Self.longName)' "
                + "&& ln -s '\(Self.longName)' longlink")
        }
        try python("import os; os.setxattr('src/sub/random', 'user.test', b'value\\x00bin')", in: dir)
    }

    func entriesByPath(_ archive: [UInt8]) throws -> [String: ReadEntry] {
        var map: [String: ReadEntry] = [:]
        for e in try readArchive(archive) {
            var path = e.entry.path
            if path.hasPrefix("./") { path.removeFirst(2) }
            while path.hasSuffix("/") { path.removeLast() }
            map[path] = e
        }
        return map
    }

    @Test("GNU tar, formats gnu, pax, ustar (and gzip)", arguments: ["gnu", "pax", "ustar", "oldgnu"])
    func gnuTar(format: String) throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let longNames = format != "ustar"
        try makeTree(dir, longNames: longNames)
        let xattrs = format == "pax" ? "--xattrs" : ""
        try shell("cd '\(dir)' && tar --format=\(format) \(xattrs) -C src -cf a.tar . && gzip -k a.tar")
        for file in ["a.tar", "a.tar.gz"] {
            let entries = try entriesByPath(readFile("\(dir)/\(file)"))
            let fileEntry = try #require(entries["sub/file"])
            #expect(fileEntry.entry.kind == .regular)
            #expect(fileEntry.entry.mode == 0o640)
            #expect(fileEntry.content == bytes("hello\n"))
            #expect(fileEntry.entry.uid == Int64(getuid()))
            #expect(fileEntry.entry.modificationTime.seconds == 981_173_106)
            if format == "pax" { #expect(fileEntry.entry.modificationTime.nanoseconds == 789_000_000) }
            #expect(entries["sub/random"]?.content == readFile("\(dir)/src/sub/random"))
            #expect(entries["sub/hardlink"]?.entry.kind == .hardLink)
            #expect(entries["sub/hardlink"]?.entry.linkTarget.hasSuffix("sub/file") == true)
            #expect(entries["sub/symlink"]?.entry.kind == .symbolicLink)
            #expect(entries["sub/symlink"]?.entry.linkTarget == "../sub/file")
            #expect(entries["sub/fifo"]?.entry.kind == .fifo)
            #expect(entries["sticky"]?.entry.kind == .directory)
            #expect(entries["sticky"]?.entry.mode == 0o1777)
            if longNames {
                #expect(entries[Self.longName]?.content == bytes("x"))
                #expect(entries["longlink"]?.entry.linkTarget == Self.longName)
            }
            if format == "pax" {
                #expect(entries["sub/random"]?.entry.xattrs["user.test"] == bytes("value") + [0] + bytes("bin"))
            }
        }
    }

    @Test("PAX global headers apply to every following entry; local records override them")
    func paxGlobalHeader() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        try python("""
            import io, tarfile
            t = tarfile.open('g.tar', 'w', format=tarfile.PAX_FORMAT, pax_headers={'uid': '4242', 'mtime': '5.5'})
            for name in ('a', 'b'):
                i = tarfile.TarInfo(name); i.size = 1
                if name == 'b': i.pax_headers = {'uid': '7'}
                t.addfile(i, io.BytesIO(b'x'))
            t.close()
            """, in: dir)
        let entries = try readArchive(readFile(dir + "/g.tar"))
        #expect(entries.map(\.entry.path) == ["a", "b"])
        #expect(entries[0].entry.uid == 4242)
        #expect(entries[1].entry.uid == 7)
        #expect(entries[0].entry.modificationTime == TarTimestamp(seconds: 5, nanoseconds: 500_000_000))
    }

    @Test("Python tarfile, formats GNU, PAX, USTAR: devices, big ids (base-256 / PAX), sub-second mtimes",
          arguments: ["GNU_FORMAT", "PAX_FORMAT", "USTAR_FORMAT"])
    func pythonTarfile(format: String) throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let bigIDs = format != "USTAR_FORMAT"
        try python("""
            import io, tarfile
            fmt = tarfile.\(format)
            t = tarfile.open('a.tar', 'w', format=fmt)
            def add(name, type, data=b'', **kw):
                i = tarfile.TarInfo(name); i.type = type; i.size = len(data)
                for k, v in kw.items(): setattr(i, k, v)
                t.addfile(i, io.BytesIO(data) if data else None)
            add('etc/', tarfile.DIRTYPE, mode=0o755)
            add('etc/passwd', tarfile.REGTYPE, b'root:x:0:0\\n', mode=0o644, mtime=1234567890)
            add('dev/null', tarfile.CHRTYPE, mode=0o666, devmajor=1, devminor=3)
            add('dev/sda', tarfile.BLKTYPE, mode=0o660, devmajor=8, devminor=0)
            add('dev/fifo', tarfile.FIFOTYPE, mode=0o600)
            add('v7', tarfile.AREGTYPE, b'old', mode=0o600)
            add('bin/su', tarfile.REGTYPE, b'su', mode=0o4755)
            add('link', tarfile.LNKTYPE, linkname='etc/passwd')
            if \(bigIDs ? "True" : "False"):
                add('big', tarfile.REGTYPE, b'b', uid=3000000000, gid=2**31, mtime=1700000000.25 if fmt == tarfile.PAX_FORMAT else 1700000000)
                add('n' * 120 + '/' + 'm' * 120 + '/' + 'o' * 60, tarfile.REGTYPE, b'long')
            t.close()
            """, in: dir)
        let entries = try entriesByPath(readFile(dir + "/a.tar"))
        #expect(entries["etc"]?.entry.kind == .directory)
        #expect(entries["etc/passwd"]?.content == bytes("root:x:0:0\n"))
        #expect(entries["etc/passwd"]?.entry.modificationTime == TarTimestamp(seconds: 1_234_567_890))
        #expect(entries["dev/null"]?.entry.kind == .characterDevice)
        #expect(entries["dev/null"]?.entry.deviceMajor == 1 && entries["dev/null"]?.entry.deviceMinor == 3)
        #expect(entries["dev/sda"]?.entry.kind == .blockDevice)
        #expect(entries["dev/sda"]?.entry.deviceMajor == 8)
        #expect(entries["dev/fifo"]?.entry.kind == .fifo)
        #expect(entries["v7"]?.entry.kind == .regular && entries["v7"]?.content == bytes("old"))
        #expect(entries["bin/su"]?.entry.mode == 0o4755)
        #expect(entries["link"]?.entry.kind == .hardLink && entries["link"]?.entry.linkTarget == "etc/passwd")
        if bigIDs {
            let big = try #require(entries["big"])
            #expect(big.entry.uid == 3_000_000_000)
            #expect(big.entry.gid == 1 << 31)
            if format == "PAX_FORMAT" {
                #expect(big.entry.modificationTime == TarTimestamp(seconds: 1_700_000_000, nanoseconds: 250_000_000))
            }
            let long = String(repeating: "n", count: 120) + "/" + String(repeating: "m", count: 120) + "/"
                + String(repeating: "o", count: 60)
            #expect(entries[long]?.content == bytes("long"))
        }
        if format == "GNU_FORMAT" {
            // GNU format stores the big uid as base-256 in the header itself.
            let archive = readFile(dir + "/a.tar")
            #expect(archive.contains(0x80))
        }
    }
}
