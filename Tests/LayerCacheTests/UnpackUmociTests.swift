import Glibc
import OCIModel
import Testing
import TarArchive
@testable import LayerCache
import TestSupport

let umociPath: String? = ["/usr/bin/umoci", "/usr/local/bin/umoci"].first { (path: String) in access(path, X_OK) == 0 }

/// Three layers exercising whiteouts, opaque directories (marker before and after its siblings), hard links
/// within and across layers, replaced paths of every kind, symlinked parents, long names, special modes,
/// ownership, FIFOs and devices.
enum SampleImage {
    static let deepPath = (0..<30).map { "deep\($0)" }.joined(separator: "/") + "/file"
    static let longName = String(repeating: "n", count: 200)

    static let base: [LayerEntry] = [
        dir("etc/"), file("etc/config", "v1"), file("etc/keep", "keep"),
        dir("bin/"), file("bin/su", "su", mode: 0o4755), file("bin/sg", "sg", mode: 0o2755),
        dir("tmp/", mode: 0o1777),
        file("secret", "", mode: 0),
        dir("usr/"), dir("usr/lib/"), file("usr/lib/libfoo.so.1", "libfoo"), hardlink("usr/lib/libfoo.so", "usr/lib/libfoo.so.1"),
        symlink("lib", "usr/lib"),
        file("file1", "1"), dir("a/"), file("a/file2", "2"), dir("a/keep/"), file("a/keep/k", "k"),
        dir("b/"), file("b/x", "x"), dir("c/"), file("c/file3", "3"),
        dir("opq1/"), file("opq1/x", "x"), dir("opq1/y/"), file("opq1/y/z", "z"),
        dir("opq2/"), file("opq2/x", "x"), dir("opq2/y/"), file("opq2/y/z", "z"),
        dir("owned/", mode: 0o750, uid: 1000, gid: 1000), file("owned/f", "f", mode: 0o640, uid: 1000, gid: 100),
        file("owned/big-ids", "b", uid: 3_000_000, gid: 2_500_000),
        dir("dev/"), node(.fifo, "dev/fifo", mode: 0o600),
        node(.characterDevice, "dev/null", mode: 0o666, major: 1, minor: 3),
        node(.blockDevice, "dev/loop0", mode: 0o660, major: 7, minor: 0),
        file(deepPath, "deep"),
        symlink("s", "usr"),
        file("replaced-by-dir", "f"),
        dir("dir-replaced-by-file/"), file("dir-replaced-by-file/inner", "i"),
        file("/abs-file", "stripped"),
    ]

    static let middle: [LayerEntry] = [
        dir("etc/", mode: 0o700),
        file("etc/config", "v2", mode: 0o600),
        whiteout(".wh.file1"), whiteout("a/.wh.file2"), whiteout(".wh.b"), file("file4", "4"),
        dir("opq1/"), whiteout("opq1/.wh..wh..opq"), file("opq1/new", "new"),
        dir("opq2/"), file("opq2/new2", "new2"), dir("opq2/y/"), file("opq2/y/w", "w"), whiteout("opq2/.wh..wh..opq"),
        hardlink("newlink", "usr/lib/libfoo.so.1"),
        file("c", "now a file"),
        dir("s/"), file("s/inside", "inside"),
        file("lib/newlib.so", "through a symlinked parent"),
        dir("replaced-by-dir/"), file("replaced-by-dir/inner", "inner"),
        file("dir-replaced-by-file", "file now"),
        symlink("etc/keep-link", "keep"),
        file(longName, "long", xattrs: ["user.test": Array("xattr".utf8)]),
        file("./dot/slash", "dot"),
    ]

    static let top: [LayerEntry] = [
        whiteout("usr/lib/.wh.libfoo.so"),
        whiteout("a/.wh..wh..opq"),
        file("tmp/x", "in sticky dir", mode: 0o1644),
        hardlink("hl-same-layer", "file4"),
    ]

    static let layers = [base, middle, top]
}

@Suite("Unpack equivalence with umoci")
struct UnpackUmociTests {
    @Test("our flatten of the sample image has the expected content")
    func expectedContent() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let layers = try makeImageLayout(at: dir + "/layout", layers: SampleImage.layers, tag: "t")
        let root = dir + "/rootfs"
        let diffIDs = try LayerUnpacker.unpackLayers(layers, into: root)
        #expect(diffIDs == layers.map(\.diffID))
        let tree = try snapshot(root).entries
        for gone in ["file1", "a/file2", "b", "opq1/x", "opq1/y", "opq2/x", "opq2/y/z", "a/keep", "usr/lib/libfoo.so"] {
            #expect(tree[gone] == nil, "\(gone) should be gone")
        }
        for kept in ["file4", "opq1/new", "opq2/new2", "opq2/y/w", "usr/lib/newlib.so", "s/inside", "replaced-by-dir/inner",
                     "etc/keep", "abs-file", "dot/slash", SampleImage.deepPath, SampleImage.longName] {
            #expect(tree[kept] != nil, "\(kept) should exist")
        }
        #expect(tree.keys.allSatisfy { !$0.contains(".wh.") })
        #expect(tree["a"]?.hasPrefix("dir") == true)
        #expect(tree["c"]?.hasPrefix("file") == true)
        #expect(tree["s"]?.hasPrefix("dir") == true)
        #expect(tree["dir-replaced-by-file"]?.hasPrefix("file") == true)
        #expect(tree["etc"]?.contains("mode 700") == true)
        #expect(tree["bin/su"]?.contains("mode 4755") == true)
        #expect(tree["secret"]?.contains("mode 0 ") == true)
        #expect(tree["tmp"]?.contains("mode 1777") == true)
        #expect(readFile(root + "/etc/config") == Array("v2".utf8))
        let lib = try #require(lstatus(root + "/usr/lib/libfoo.so.1"))
        let link = try #require(lstatus(root + "/newlink"))
        #expect(lib.st_ino == link.st_ino && lib.st_nlink == 2)
        if geteuid() == 0 {
            #expect(tree["owned/f"]?.contains("1000:100 ") == true)
            #expect(tree["owned/big-ids"]?.contains("3000000:2500000 ") == true)
            #expect(tree["dev/null"]?.hasPrefix("char") == true)
        }
        #expect(try getXattr(root + "/" + SampleImage.longName, "user.test") == "xattr")
    }

    @Test("flattened rootfs equals `umoci unpack` of the same OCI layout",
          .enabled(if: umociPath != nil, "umoci is not installed (Debian package umoci 0.4.7: apt-get install -y umoci); comparison skipped"),
          .enabled(if: geteuid() == 0, "umoci unpack comparison needs root (ownership and devices)"))
    func matchesUmoci() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let layers = try makeImageLayout(at: dir + "/layout", layers: SampleImage.layers, tag: "sample")
        try LayerUnpacker.unpackLayers(layers, into: dir + "/ours")
        try shell("cd '\(dir)' && '\(umociPath!)' unpack --image layout:sample bundle")
        let ours = try snapshot(dir + "/ours")
        let theirs = try snapshot(dir + "/bundle/rootfs")
        // The comparison covers the whole sample: every kind, and the cross-layer hard link.
        #expect(theirs.entries.count > 60)
        #expect(theirs.entries["dev/loop0"]?.hasPrefix("block") == true)
        #expect(theirs.hardLinks.contains(["newlink", "usr/lib/libfoo.so.1"]))
        let diff = differences(ours, theirs)
        #expect(diff.isEmpty, "\(diff.joined(separator: "\n"))")
    }
}
