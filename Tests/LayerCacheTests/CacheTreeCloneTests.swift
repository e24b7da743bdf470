import Glibc
import Testing
@testable import LayerCache

@Suite("TreeClone: hard-link clone and independent copy")
struct CacheTreeCloneTests {
    /// A tree with every entry type, odd modes, owners, xattrs and timestamps.
    static func makeSource(_ root: String) throws {
        Fixture.mkdirs(root)
        Fixture.mkdirs("\(root)/dir/sub")
        Fixture.write("\(root)/dir/file", "content", mode: 0o640)
        Fixture.write("\(root)/setuid", "#!/bin/sh\n", mode: 0o4755)
        Fixture.write("\(root)/dir/sub/deep", "deep")
        #expect(Glibc.link("\(root)/dir/file", "\(root)/hardlink") == 0)
        #expect(Glibc.symlink("/etc/passwd", "\(root)/abs-link") == 0)  // must never be followed to the host's file
        #expect(Glibc.symlink("../dir/file", "\(root)/dir/rel-link") == 0)
        #expect(Glibc.symlink("nowhere", "\(root)/dangling") == 0)
        #expect(mkfifo("\(root)/fifo", 0o620) == 0)
        Fixture.mkdirs("\(root)/readonly")
        Fixture.write("\(root)/readonly/inside", "ro")
        chmod("\(root)/readonly", 0o555)
        chmod("\(root)/dir/sub", 0o2751)
        #expect(Fixture.setAttribute("\(root)/dir/file", "user.origin", "layer") == 0)
        #expect(Fixture.setAttribute("\(root)/dir", "user.dirattr", "d") == 0)
        if Fixture.isRoot {
            #expect(mknod("\(root)/null", S_IFCHR | 0o666, makedevice(1, 3)) == 0)
            #expect(lchown("\(root)/dir/file", 1234, 5678) == 0)
            #expect(lchown("\(root)/abs-link", 42, 43) == 0)
            #expect(chown("\(root)/dir/sub", 7, 8) == 0)
            chmod("\(root)/setuid", 0o4755)  // chown cleared nothing here, but keep the bit explicit
            #expect(Fixture.setAttribute("\(root)/dir", "trusted.overlaytest", "t") == 0)
        }
        // Distinctive times, set last (creating entries moves directory mtimes).
        var times = [timespec(tv_sec: 1_000_000_000, tv_nsec: 123_456_789), timespec(tv_sec: 1_100_000_000, tv_nsec: 5)]
        for path in ["dir/file", "dir/sub", "dir", "abs-link", "fifo", "readonly", ""] {
            #expect(utimensat(AT_FDCWD, "\(root)/\(path)", &times, AT_SYMLINK_NOFOLLOW) == 0)
        }
    }

    static func makedevice(_ major: UInt32, _ minor: UInt32) -> dev_t {
        dev_t((UInt64(major & 0xfff) << 8) | UInt64(minor & 0xff) | (UInt64(minor & ~0xff) << 12) | (UInt64(major & ~0xfff) << 32))
    }

    /// Type, permission bits, owner, size, mtime, rdev, link target and xattrs of every entry match.
    static func expectSameMetadata(_ source: String, _ clone: String) throws {
        let a = try Fixture.tree(source), b = try Fixture.tree(clone)
        #expect(a.keys.sorted() == b.keys.sorted())
        for (path, sa) in a {
            guard let sb = b[path] else { continue }
            #expect(sa.st_mode == sb.st_mode, "mode of \(path)")
            #expect(sa.st_uid == sb.st_uid && sa.st_gid == sb.st_gid, "owner of \(path)")
            #expect(sa.st_mtim.tv_sec == sb.st_mtim.tv_sec && sa.st_mtim.tv_nsec == sb.st_mtim.tv_nsec, "mtime of \(path)")
            #expect(sa.st_rdev == sb.st_rdev, "rdev of \(path)")
            if (sa.st_mode & S_IFMT) == S_IFREG { #expect(sa.st_size == sb.st_size, "size of \(path)") }
            if (sa.st_mode & S_IFMT) == S_IFLNK {
                #expect(try TreeClone.readLink("\(source)/\(path)") == (try TreeClone.readLink("\(clone)/\(path)")))
            }
            let names = try TreeClone.extendedAttributeNames("\(source)/\(path)").sorted()
            #expect(names == (try TreeClone.extendedAttributeNames("\(clone)/\(path)").sorted()), "xattrs of \(path)")
            for name in names {
                #expect(try TreeClone.extendedAttribute("\(source)/\(path)", name)
                    == (try TreeClone.extendedAttribute("\(clone)/\(path)", name)))
            }
        }
        let rootA = Fixture.lstatOf(source), rootB = Fixture.lstatOf(clone)
        #expect(rootA.st_mode == rootB.st_mode && rootA.st_mtim.tv_sec == rootB.st_mtim.tv_sec)
    }

    @Test func hardLinkCloneSharesEveryNonDirectory() throws {
        let scratch = ScratchDirectory("clone")
        let source = scratch.sub("src"), clone = scratch.sub("dst")
        try Self.makeSource(source)
        let summary = try TreeClone.clone(from: source, to: clone, mode: .hardLink)
        try Self.expectSameMetadata(source, clone)
        for (path, st) in try Fixture.tree(source) {
            let cloned = Fixture.lstatOf("\(clone)/\(path)")
            if (st.st_mode & S_IFMT) == S_IFDIR {
                #expect(cloned.st_ino != st.st_ino, "\(path) is a new directory")
            } else {
                #expect(cloned.st_ino == st.st_ino, "\(path) is hard-linked")
                #expect(summary.linkedInodes.contains(UInt64(st.st_ino)))
            }
        }
        // The symlink itself was linked, not the host file it names.
        #expect((Fixture.lstatOf("\(clone)/abs-link").st_mode & S_IFMT) == S_IFLNK)
        #expect(summary.bytesCopied == 0)
    }

    @Test func copySharesNoInodeButKeepsInternalHardLinks() throws {
        let scratch = ScratchDirectory("clone")
        let source = scratch.sub("src"), copy = scratch.sub("dst")
        try Self.makeSource(source)
        let summary = try TreeClone.clone(from: source, to: copy, mode: .copy)
        try Self.expectSameMetadata(source, copy)
        let sourceInodes = Set(try Fixture.tree(source).values.map { $0.st_ino })
        let copied = try Fixture.tree(copy)
        #expect(copied.values.allSatisfy { !sourceInodes.contains($0.st_ino) })
        #expect(copied["hardlink"]?.st_ino == copied["dir/file"]?.st_ino)
        #expect(copied["hardlink"]?.st_nlink == 2)
        #expect(Fixture.read("\(copy)/dir/file") == "content")
        #expect(summary.bytesCopied == 7 + 10 + 4 + 2)
        // Writing into the copy leaves the source alone.
        Fixture.write("\(copy)/dir/file", "changed", mode: 0o640)
        #expect(Fixture.read("\(source)/dir/file") == "content")
    }

    @Test func copyOfACachedStackKeepsOnlyTheLinksInsideIt() throws {
        // A cached stack's files are hard-linked from the stacks below it: each has several links, mostly outside
        // the tree being copied. The copy must make one independent file per inode and link only names inside.
        let scratch = ScratchDirectory("clone")
        let source = scratch.sub("src"), outside = scratch.sub("outside"), copy = scratch.sub("dst")
        Fixture.mkdirs("\(source)/a/b")
        Fixture.mkdirs(outside)
        for i in 0..<200 {
            Fixture.write("\(source)/a/\(i < 100 ? "" : "b/")f\(i)", String(repeating: "\(i)", count: i), mode: 0o640)
            #expect(link("\(source)/a/\(i < 100 ? "" : "b/")f\(i)", "\(outside)/f\(i)") == 0)
        }
        #expect(link("\(source)/a/f7", "\(source)/a/b/also-f7") == 0)
        let summary = try TreeClone.clone(from: source, to: copy, mode: .copy)
        try Self.expectSameMetadata(source, copy)
        let sourceInodes = Set(try Fixture.tree(source).values.map { $0.st_ino })
        let copied = try Fixture.tree(copy)
        #expect(copied.count == 203)
        #expect(copied.values.allSatisfy { !sourceInodes.contains($0.st_ino) })
        #expect(copied["a/f7"]?.st_ino == copied["a/b/also-f7"]?.st_ino)
        #expect(copied["a/f7"]?.st_nlink == 2)
        #expect(copied["a/f8"]?.st_nlink == 1)
        #expect(Fixture.read("\(copy)/a/b/f150") == String(repeating: "150", count: 150))
        #expect(summary.bytesCopied == (0..<200).reduce(Int64(0)) { $0 + Int64("\($1)".count * $1) })
    }

    @Test func refusesASymlinkedOrMissingSource() throws {
        let scratch = ScratchDirectory("clone")
        Fixture.mkdirs(scratch.sub("real"))
        #expect(Glibc.symlink(scratch.sub("real"), scratch.sub("link")) == 0)
        #expect(throws: (any Error).self) { try TreeClone.clone(from: scratch.sub("link"), to: scratch.sub("x"), mode: .copy) }
        #expect(throws: (any Error).self) { try TreeClone.clone(from: scratch.sub("none"), to: scratch.sub("y"), mode: .copy) }
    }
}

@Suite("TreeClone: names that are not UTF-8")
struct CacheRawNameTests {
    /// Latin-1 "café" (0x63 0x61 0x66 0xE9): not valid UTF-8, so a `String` path would name another file.
    static let name: [CChar] = [0x63, 0x61, 0x66, CChar(bitPattern: 0xE9)]

    @Test(arguments: [TreeClone.Mode.hardLink, .copy])
    func rawNamesAndLinkTargetsSurvive(mode: TreeClone.Mode) throws {
        let scratch = ScratchDirectory("raw")
        let source = RawPath(scratch.sub("src"))
        Fixture.mkdirs(scratch.sub("src"))
        let file = source.appending(Self.name)
        let fd = open(file.bytes, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        #expect(fd >= 0)
        close(fd)
        #expect(Glibc.symlink(Self.name + [0], source.appending(Array("link".utf8).map { CChar(bitPattern: $0) }).bytes) == 0)
        #expect(mkdir(source.appending(Self.name + [0x64]).bytes, 0o755) == 0)

        try TreeClone.clone(from: scratch.sub("src"), to: scratch.sub("dst"), mode: mode)
        let destination = RawPath(scratch.sub("dst"))
        #expect(destination.appending(Self.name).lstatOrNil() != nil)
        #expect(destination.appending(Self.name + [0x64]).lstatOrNil() != nil)
        #expect(try TreeClone.readLink(destination.appending(Array("link".utf8).map { CChar(bitPattern: $0) })) == Self.name)
        #expect(try destination.list().count == 3)

        let measured = try CacheStore.measure(scratch.sub("dst"), sharedInodes: [])
        #expect(measured.entries == 3)
        try destination.removeTree()
        #expect(destination.lstatOrNil() == nil)
    }
}
