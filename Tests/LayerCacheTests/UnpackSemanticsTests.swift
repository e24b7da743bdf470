import Foundation
import Glibc
import OCIModel
import Testing
import TarArchive
@testable import LayerCache
import TestSupport

@Suite("Layer application semantics")
struct UnpackSemanticsTests {
    @Test("a hard-link clone of a tree is never modified through shared inodes")
    func hardLinkCloneIsolation() throws {
        let tmp = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(tmp) }
        let base = tmp + "/base"
        try shell("mkdir '\(base)'")
        try applyLayer([dir("etc/"), file("etc/conf", "original", mode: 0o644), file("bin", "binary", mode: 0o755),
                        symlink("link", "etc/conf"), node(.fifo, "pipe", mode: 0o600)], onto: base)
        // Clone: directories recreated, every other inode hard-linked (cp -al).
        try shell("cp -al '\(base)' '\(tmp)/clone'")
        try applyLayer([file("etc/conf", "changed", mode: 0o600), file("bin", "new binary", mode: 0o4711),
                        symlink("link", "elsewhere"), node(.fifo, "pipe", mode: 0o644), hardlink("extra", "bin"),
                        whiteout("etc/.wh.nothing")], onto: tmp + "/clone")
        #expect(readFile(base + "/etc/conf") == Array("original".utf8))
        #expect((lstatus(base + "/etc/conf")?.st_mode ?? 0) & 0o7777 == 0o644)
        #expect(readFile(base + "/bin") == Array("binary".utf8))
        #expect((lstatus(base + "/bin")?.st_mode ?? 0) & 0o7777 == 0o755)
        #expect(lstatus(base + "/bin")?.st_nlink == 1)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: base + "/link") == "etc/conf")
        #expect((lstatus(base + "/pipe")?.st_mode ?? 0) & 0o7777 == 0o600)
        #expect(readFile(tmp + "/clone/etc/conf") == Array("changed".utf8))
        #expect((lstatus(tmp + "/clone/bin")?.st_mode ?? 0) & 0o7777 == 0o4711)
    }

    @Test("whiteouts never hide this layer's own entries, before or after them")
    func sameLayerWhiteouts() throws {
        let tmp = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(tmp) }
        let root = tmp + "/root"
        try shell("mkdir '\(root)'")
        try applyLayer([dir("d/"), file("d/lower", "l"), dir("d/sub/"), file("d/sub/lower", "l"), file("f", "lower")],
                       onto: root)
        try applyLayer([file("d/mine", "m"), file("d/sub/mine", "m"), whiteout("d/.wh..wh..opq"),
                        file("f", "upper"), whiteout(".wh.f")], onto: root)
        #expect(!exists(root + "/d/lower"))
        #expect(!exists(root + "/d/sub/lower"))
        #expect(exists(root + "/d/mine") && exists(root + "/d/sub/mine"))
        #expect(readFile(root + "/f") == Array("upper".utf8))
        // A whiteout of a directory this layer also writes removes only the lower content.
        try applyLayer([dir("d/"), file("d/again", "a"), whiteout(".wh.d")], onto: root)
        #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/d") == ["again"])
    }

    @Test("directory attributes are replaced; directory mtimes are set after their content")
    func directoryMetadata() throws {
        let tmp = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(tmp) }
        let root = tmp + "/root"
        try shell("mkdir '\(root)'")
        try applyLayer([dir("d/", mode: 0o755), file("d/f", "f")], onto: root)
        try setXattr(root + "/d", "user.stale", "x")
        try applyLayer([(TarEntry(kind: .directory, path: "d/", mode: 0o700, modificationTime: .init(seconds: 12345, nanoseconds: 600),
                                  xattrs: ["user.new": [1]]), []), file("d/g", "g"), dir("./", mode: 0o711)], onto: root)
        let st = try #require(lstatus(root + "/d"))
        #expect(st.st_mode & 0o7777 == 0o700)
        #expect(st.st_mtim.tv_sec == 12345 && st.st_mtim.tv_nsec == 600)
        #expect(try getXattr(root + "/d", "user.stale") == nil)
        #expect(try getXattr(root + "/d", "user.new") == "\u{1}")
        #expect(exists(root + "/d/f") && exists(root + "/d/g"))
        #expect((lstatus(root)?.st_mode ?? 0) & 0o7777 == 0o711)
        // Entries that cannot be applied.
        #expect(throws: UnpackError.self) { try applyLayer([file("./", "root as a file")], onto: root) }
        #expect(throws: UnpackError.self) { try applyLayer([file("d/f/child", "under a file")], onto: root) }
        #expect(throws: UnpackError.self) { try applyLayer([hardlink("hl", "missing")], onto: root) }
        #expect(throws: UnpackError.self) { try applyLayer([hardlink("hl", "d")], onto: root) }
    }

    @Test("without privileges devices are skipped with a warning; overlay xattrs are never restored")
    func warnings() throws {
        let tmp = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(tmp) }
        let root = tmp + "/root"
        try shell("mkdir '\(root)'")
        let log = WarningLog()
        let options = UnpackOptions(preserveOwnership: false, createDevices: false, warningHandler: { log.record($0) })
        try applyLayer([node(.characterDevice, "null", mode: 0o666, major: 1, minor: 3), node(.fifo, "fifo", mode: 0o600),
                        file("f", "f", xattrs: ["trusted.overlay.opaque": Array("y".utf8), "user.ok": [1]])],
                       onto: root, options: options)
        #expect(!exists(root + "/null"))
        #expect(exists(root + "/fifo"))
        #expect(log.all.contains { $0.contains("null") && $0.contains("character device") })
        #expect(log.all.contains { $0.contains("trusted.overlay.opaque") })
        #expect(try getXattr(root + "/f", "user.ok") == "\u{1}")
        #expect(try getXattr(root + "/f", "trusted.overlay.opaque") == nil)
    }

    @Test("ownership: set when permitted, otherwise a warning (user namespaces, non-root)")
    func ownership() throws {
        let tmp = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(tmp) }
        let root = tmp + "/root"
        try shell("mkdir '\(root)'")
        let log = WarningLog()
        let link: LayerEntry = (TarEntry(kind: .symbolicLink, path: "l", linkTarget: "f", uid: 4321, gid: 8765), [])
        try applyLayer([file("f", "f", uid: 4321, gid: 8765), link, dir("d/", uid: 4321, gid: 8765)], onto: root,
                       options: UnpackOptions(preserveOwnership: true, warningHandler: { log.record($0) }))
        if geteuid() == 0 {
            #expect(lstatus(root + "/f").map { ($0.st_uid, $0.st_gid) } ?? (0, 0) == (4321, 8765))
            #expect(lstatus(root + "/l")?.st_uid == 4321)
            #expect(lstatus(root + "/d")?.st_gid == 8765)
            #expect(log.all.isEmpty)
        } else {
            #expect(log.all.filter { $0.contains("owner 4321:8765 not set") }.count == 3)
        }
        #expect(throws: UnpackError.self) {
            try applyLayer([file("g", "g", uid: Int64(UInt32.max))], onto: root, options: UnpackOptions(preserveOwnership: true))
        }
    }

    @Test("read-only lower directories take new entries and whiteouts, and keep their mode")
    func readOnlyLowerDirectories() throws {
        let tmp = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(tmp) }
        let root = tmp + "/root"
        try shell("mkdir '\(root)'")
        try applyLayer([dir("ro/", mode: 0o555), file("ro/f", "f"), dir("ro/sub/", mode: 0o500), file("ro/sub/g", "g"),
                        dir("gone/", mode: 0o555), dir("gone/inner/", mode: 0o555), file("gone/inner/x", "x")], onto: root)
        try applyLayer([file("ro/new", "n"), whiteout("ro/.wh.f"), whiteout("ro/sub/.wh..wh..opq"), whiteout(".wh.gone")],
                       onto: root)
        #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/ro").sorted() == ["new", "sub"])
        #expect((lstatus(root + "/ro")?.st_mode ?? 0) & 0o7777 == 0o555)
        #expect((lstatus(root + "/ro/sub")?.st_mode ?? 0) & 0o7777 == 0o500)
        #expect(!exists(root + "/gone"))
    }

    @Test("tar+zstd layers are applied and their digests checked",
          .enabled(if: ZstdInflater.isAvailable, "libzstd.so.1 is not installed"),
          .enabled(if: access("/usr/bin/zstd", X_OK) == 0, "the zstd command (Debian package zstd) is not installed"))
    func zstdLayer() throws {
        let tmp = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(tmp) }
        let summary = try writeLayer([dir("etc/"), file("etc/z", "zstd layer")], to: tmp + "/layer.tar", gzip: false)
        try shell("cd '\(tmp)' && zstd -q layer.tar -o layer.tar.zst && mkdir root")
        let blob = readFile(tmp + "/layer.tar.zst") ?? []
        let diffID = try LayerUnpacker.apply(layerFile: tmp + "/layer.tar.zst", mediaType: .ociLayerZstd, onto: tmp + "/root",
                                             options: UnpackOptions(expectedDiffID: summary.diffID,
                                                                    expectedDigest: Digest.sha256(of: blob)))
        #expect(diffID == summary.diffID)
        #expect(readFile(tmp + "/root/etc/z") == Array("zstd layer".utf8))
    }

    @Test("deep paths (hundreds of levels) are created, whited out and removed")
    func deepPaths() throws {
        let tmp = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(tmp) }
        let root = tmp + "/root"
        try shell("mkdir '\(root)'")
        // 2000 levels pass too (checked by hand) but cost ext4 ~15 s of mkdir/rmdir; 250 keep the test fast.
        let deep = String(repeating: "a/", count: 250) + "f"
        try applyLayer([file(deep, "deep")], onto: root)
        try applyLayer([whiteout(".wh.a"), file("b", "b")], onto: root)
        #expect(!exists(root + "/a"))
        try applyLayer([file(deep, "deep"), whiteout(String(repeating: "a/", count: 3) + ".wh..wh..opq")], onto: root)
        try LayerUnpacker.removeTree(root)
        #expect(!exists(root))
    }

    @Test("staging directory, unpack, rename; removeTree does not follow symlinks")
    func stagingAndRemoval() throws {
        let tmp = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(tmp) }
        try shell("mkdir '\(tmp)/keep' && printf k > '\(tmp)/keep/file'")
        let staging = try LayerUnpacker.makeStagingDirectory(in: tmp)
        #expect(staging.hasPrefix(tmp + "/.unpack-"))
        try applyLayer([symlink("out", tmp + "/keep"), dir("ro/", mode: 0o555), file("ro/f", "f", mode: 0)], onto: staging)
        try LayerUnpacker.syncFilesystem(of: staging)
        #expect(rename(staging, tmp + "/final") == 0)
        try LayerUnpacker.removeTree(tmp + "/final")
        #expect(!exists(tmp + "/final"))
        #expect(readFile(tmp + "/keep/file") == Array("k".utf8))
        try LayerUnpacker.removeTree(tmp + "/does-not-exist")
    }
}
