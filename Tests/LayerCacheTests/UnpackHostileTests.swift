import Foundation
import Glibc
import OCIModel
import Testing
import TarArchive
@testable import LayerCache
import TestSupport

/// Each escape is refused (or, for symlinks met while resolving, kept inside the root) and the directory outside
/// the root is untouched.
@Suite("Hostile layers")
struct UnpackHostileTests {
    /// A root and, beside it, an "outside" directory with a file that no layer may touch.
    struct Fixture {
        let dir = makeTemporaryDirectory()
        var root: String { dir + "/root" }
        var outside: String { dir + "/outside" }

        init() throws {
            try shell("mkdir '\(dir)/root' '\(dir)/outside' && printf precious > '\(dir)/outside/secret'")
        }

        /// The outside directory holds exactly the untouched secret.
        func outsideUntouched(sourceLocation: SourceLocation = #_sourceLocation) {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: outside)) ?? []
            #expect(names == ["secret"], sourceLocation: sourceLocation)
            #expect(readFile(outside + "/secret") == Array("precious".utf8), sourceLocation: sourceLocation)
            #expect(lstatus(outside + "/secret")?.st_nlink == 1, sourceLocation: sourceLocation)
        }

        func cleanUp() { removeTemporaryDirectory(dir) }
    }

    func expectRefused(_ entries: [LayerEntry], _ fixture: Fixture, options: UnpackOptions = UnpackOptions(),
                       sourceLocation: SourceLocation = #_sourceLocation, _ check: (UnpackError) -> Bool) {
        do {
            try applyLayer(entries, onto: fixture.root, options: options)
            Issue.record("hostile layer accepted", sourceLocation: sourceLocation)
        } catch let error as UnpackError {
            #expect(check(error), "unexpected error: \(error)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected error type \(error)", sourceLocation: sourceLocation)
        }
        fixture.outsideUntouched(sourceLocation: sourceLocation)
    }

    @Test("'..' in an entry name, a hard link target or a whiteout")
    func dotDot() throws {
        let f = try Fixture()
        defer { f.cleanUp() }
        let isUnsafe: (UnpackError) -> Bool = { if case .unsafePath = $0 { true } else { false } }
        expectRefused([file("../outside/pwned", "x")], f, isUnsafe)
        expectRefused([file("a/../../outside/pwned", "x")], f, isUnsafe)
        expectRefused([hardlink("steal", "../outside/secret")], f, isUnsafe)
        expectRefused([whiteout("../outside/.wh.secret")], f, isUnsafe)
        expectRefused([whiteout(".wh..."), file("x", "")], f, isUnsafe)
    }

    @Test("an absolute name lands inside the root, as tar strips the leading '/'")
    func absolutePath() throws {
        let f = try Fixture()
        defer { f.cleanUp() }
        try applyLayer([file(f.outside + "/pwned", "x")], onto: f.root)
        #expect(exists(f.root + f.outside + "/pwned"))
        f.outsideUntouched()
    }

    @Test("a symlinked parent pointing outside (same layer or lower layer) resolves inside the root")
    func symlinkParent() throws {
        let f = try Fixture()
        defer { f.cleanUp() }
        try applyLayer([symlink("a", f.outside), file("a/pwned", "x")], onto: f.root)
        #expect(exists(f.root + f.outside + "/pwned"))
        f.outsideUntouched()
        // Lower layer `evil -> /`, upper layer writes `evil/<outside>/pwned2`.
        try applyLayer([symlink("evil", "/")], onto: f.root)
        try applyLayer([file("evil" + f.outside + "/pwned2", "x")], onto: f.root)
        #expect(exists(f.root + f.outside + "/pwned2"))
        // Relative climb.
        try applyLayer([symlink("up", "../../../../../../.."), file("up" + f.outside + "/pwned3", "x")], onto: f.root)
        #expect(exists(f.root + f.outside + "/pwned3"))
        f.outsideUntouched()
    }

    @Test("with beneath resolution, a symlink leading outside fails the layer")
    func beneathRefuses() throws {
        let f = try Fixture()
        defer { f.cleanUp() }
        let beneath = UnpackOptions(symlinkResolution: .beneath)
        let escapes: (UnpackError) -> Bool = { if case .escapesRoot = $0 { true } else { false } }
        expectRefused([symlink("a", f.outside), file("a/pwned", "x")], f, options: beneath, escapes)
        expectRefused([symlink("up", "../.."), file("up/outside/pwned", "x")], f, options: beneath, escapes)
        expectRefused([symlink("h", f.outside), hardlink("steal", "h/secret")], f, options: beneath, escapes)
    }

    @Test("hard links through a symlink to outside find nothing to link")
    func hardLinkThroughSymlink() throws {
        let f = try Fixture()
        defer { f.cleanUp() }
        expectRefused([symlink("l", f.outside), hardlink("steal", "l/secret")], f) {
            if case .hardLinkTarget = $0 { true } else { false }
        }
        // A hard link to a symlink links the symlink itself, never its target.
        try applyLayer([symlink("sl", f.outside + "/secret"), hardlink("hl", "sl")], onto: f.root)
        #expect(lstatus(f.root + "/hl").map { $0.st_mode & S_IFMT == S_IFLNK } == true)
        f.outsideUntouched()
    }

    @Test("a symlink replaced by a directory, then written into, stays inside")
    func symlinkReplacedByDirectory() throws {
        let f = try Fixture()
        defer { f.cleanUp() }
        try applyLayer([symlink("d", f.outside)], onto: f.root)
        try applyLayer([dir("d/"), file("d/pwned", "x")], onto: f.root)
        #expect(lstatus(f.root + "/d").map { $0.st_mode & S_IFMT == S_IFDIR } == true)
        #expect(exists(f.root + "/d/pwned"))
        // And within a single layer.
        try applyLayer([symlink("e", f.outside), dir("e/"), file("e/pwned", "x")], onto: f.root)
        #expect(exists(f.root + "/e/pwned"))
        f.outsideUntouched()
    }

    @Test("entries over an existing symlink replace the link, never write through it")
    func replaceSymlinkNotTarget() throws {
        let f = try Fixture()
        defer { f.cleanUp() }
        try applyLayer([symlink("f", f.outside + "/secret"), symlink("p", f.outside + "/secret"),
                        symlink("d", f.outside)], onto: f.root)
        try applyLayer([file("f", "overwritten"), node(.fifo, "p", mode: 0o600), hardlink("d", "f")], onto: f.root)
        #expect(readFile(f.root + "/f") == Array("overwritten".utf8))
        #expect(lstatus(f.root + "/p").map { $0.st_mode & S_IFMT == S_IFIFO } == true)
        #expect(lstatus(f.root + "/d")?.st_nlink == 2)
        f.outsideUntouched()
    }

    @Test("whiteouts and opaque markers under a symlink to outside remove nothing outside")
    func whiteoutThroughSymlink() throws {
        let f = try Fixture()
        defer { f.cleanUp() }
        try applyLayer([symlink("w", f.outside)], onto: f.root)
        try applyLayer([whiteout("w/.wh.secret"), whiteout("w/.wh..wh..opq")], onto: f.root)
        f.outsideUntouched()
        #expect(lstatus(f.root + "/w").map { $0.st_mode & S_IFMT == S_IFLNK } == true)
    }

    @Test("limits: entries, uncompressed size (zip bomb), name length, metadata size")
    func limits() throws {
        let f = try Fixture()
        defer { f.cleanUp() }
        let limited: (UnpackError) -> Bool = { if case .limitExceeded = $0 { true } else { false } }
        expectRefused([file("1", ""), file("2", ""), file("3", "")], f,
                      options: UnpackOptions(limits: UnpackLimits(maxEntries: 2)), limited)
        expectRefused([file("name-" + String(repeating: "x", count: 300), "")], f,
                      options: UnpackOptions(limits: UnpackLimits(maxPathLength: 255)), limited)
        expectRefused([symlink("s", String(repeating: "t/", count: 200))], f,
                      options: UnpackOptions(limits: UnpackLimits(maxPathLength: 255)), limited)
        expectRefused([file(String(repeating: "p/", count: 400), "")], f,
                      options: UnpackOptions(limits: UnpackLimits(maxMetadataSize: 512)), limited)

        // 16 MiB of zeros compress to ~16 KiB; a 1 MiB limit stops it early.
        let bomb = f.dir + "/bomb.tar.gz"
        let fd = open(bomb, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let writer = try TarWriter(fileDescriptor: fd, compression: .gzip, level: 9)
        try writer.append(TarEntry(kind: .regular, path: "zeros", size: 16 << 20))
        let zeros = [UInt8](repeating: 0, count: 1 << 20)
        for _ in 0..<16 { try writer.writeContent(zeros) }
        _ = try writer.finish()
        close(fd)
        #expect(throws: UnpackError.self) {
            try LayerUnpacker.apply(layerFile: bomb, mediaType: .ociLayerGzip, onto: f.root,
                                    options: UnpackOptions(limits: UnpackLimits(maxUncompressedBytes: 1 << 20)))
        }
        f.outsideUntouched()
    }

    @Test("digest mismatches, wrong media types, corrupt and truncated blobs are errors")
    func verification() throws {
        let f = try Fixture()
        defer { f.cleanUp() }
        let blob = f.dir + "/layer.tar.gz"
        let summary = try writeLayer([file("a", "a"), file("b", String(repeating: "b", count: 5000))], to: blob)
        let wrong = Digest.sha256(of: Array("other".utf8))
        let diffID = try LayerUnpacker.apply(layerFile: blob, mediaType: .dockerLayerGzip, onto: f.root,
                                             options: UnpackOptions(expectedDiffID: summary.diffID,
                                                                    expectedDigest: summary.digest))
        #expect(diffID == summary.diffID)
        for options in [UnpackOptions(expectedDiffID: wrong), UnpackOptions(expectedDigest: wrong)] {
            #expect {
                try LayerUnpacker.apply(layerFile: blob, mediaType: .ociLayerGzip, onto: f.root, options: options)
            } throws: { error in
                if case .digestMismatch = error as? UnpackError { true } else { false }
            }
        }
        #expect(throws: UnpackError.self) {
            try LayerUnpacker.apply(layerFile: blob, mediaType: .ociConfig, onto: f.root)
        }
        // Declared zstd, holds gzip.
        #expect(throws: UnpackError.self) {
            try LayerUnpacker.apply(layerFile: blob, mediaType: .ociLayerZstd, onto: f.root)
        }
        var bytes = readFile(blob)!
        bytes.removeLast(20)
        _ = FileManager.default.createFile(atPath: blob, contents: .init(bytes))
        #expect {
            try LayerUnpacker.apply(layerFile: blob, mediaType: .ociLayerGzip, onto: f.root)
        } throws: { error in
            if case .archive = error as? UnpackError { true } else { false }
        }
        f.outsideUntouched()
    }
}
