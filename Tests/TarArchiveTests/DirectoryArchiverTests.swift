import Glibc
import OCIModel
import Testing
@testable import TarArchive
import TestSupport

@Suite("DirectoryArchiver")
struct DirectoryArchiverTests {
    func makeTree(_ dir: String) throws {
        try shell("""
            set -e
            mkdir -p '\(dir)/tree/b/c' && cd '\(dir)/tree'
            printf one > b/one && printf two > a && chmod 4755 a
            ln b/one b/c/same
            ln -s ../a b/link
            mkfifo b/pipe
            chmod 0700 b/c
            if [ "$(id -u)" = 0 ]; then chown 1234:5678 b/one; fi
            """)
    }

    func archive(_ dir: String, _ name: String, _ options: DirectoryArchiver.Options) throws -> TarWriter.Summary {
        let fd = open("\(dir)/\(name)", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        defer { close(fd) }
        return try DirectoryArchiver.archive(directory: dir + "/tree", to: fd, options: options)
    }

    @Test("same tree → same bytes; digests match the blob and the uncompressed tar")
    func deterministic() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        try makeTree(dir)
        let first = try archive(dir, "1.tar.gz", .init())
        // Touch everything: with fixed mtimes the output must not change.
        try shell("cd '\(dir)/tree' && touch a b b/one && sleep 0.01")
        let second = try archive(dir, "2.tar.gz", .init())
        let blob = readFile(dir + "/1.tar.gz")
        #expect(blob == readFile(dir + "/2.tar.gz"))
        #expect(first == second)
        #expect(first.digest == Digest.sha256(of: blob))
        #expect(first.size == Int64(blob.count))
        try shell("cd '\(dir)' && gzip -dc 1.tar.gz > 1.tar")
        let tar = readFile(dir + "/1.tar")
        #expect(first.diffID == Digest.sha256(of: tar))
        #expect(first.uncompressedSize == Int64(tar.count))

        let entries = try readArchive(blob)
        #expect(entries.map(\.entry.path) == ["a", "b/", "b/c/", "b/c/same", "b/link", "b/one", "b/pipe"])
        let byPath = Dictionary(uniqueKeysWithValues: entries.map { ($0.entry.path, $0) })
        #expect(byPath["a"]?.entry.mode == 0o4755)
        #expect(byPath["b/c/"]?.entry.mode == 0o700)
        #expect(byPath["b/c/same"]?.content == bytes("one"))
        #expect(byPath["b/one"]?.entry.kind == .hardLink && byPath["b/one"]?.entry.linkTarget == "b/c/same")
        #expect(byPath["b/link"]?.entry.linkTarget == "../a")
        #expect(byPath["b/pipe"]?.entry.kind == .fifo)
        #expect(entries.allSatisfy { $0.entry.uid == 0 && $0.entry.gid == 0 && $0.entry.modificationTime == .epoch })
        // GNU tar extracts it.
        try shell("mkdir '\(dir)/x' && tar -xzf '\(dir)/1.tar.gz' -C '\(dir)/x' && test \"$(cat '\(dir)/x/b/one')\" = one")
    }

    @Test("destination path: parents first, then the directory's content under it; kept mtimes and owners")
    func destinationAndKeptMetadata() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        try makeTree(dir)
        let (source, destination) = DirectoryArchiver.parseLayerArgument("\(dir)/tree:/usr/share/html/")
        #expect(source == dir + "/tree")
        var options = DirectoryArchiver.Options(destinationPath: destination, modificationTime: nil, keepOwnership: true,
                                                compression: .none)
        let fd = open("\(dir)/out.tar", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        _ = try DirectoryArchiver.archive(directory: source, to: fd, options: options)
        close(fd)
        let entries = try readArchive(readFile(dir + "/out.tar"))
        #expect(Array(entries.map(\.entry.path).prefix(4)) == ["usr/", "usr/share/", "usr/share/html/", "usr/share/html/a"])
        let one = try #require(entries.first { $0.entry.path.hasSuffix("/b/c/same") })
        if geteuid() == 0 { #expect(one.entry.uid == 1234 && one.entry.gid == 5678) }
        #expect(one.entry.modificationTime != .epoch)
        #expect(entries.first { $0.entry.path.hasSuffix("/b/one") }?.entry.linkTarget == "usr/share/html/b/c/same")

        options.destinationPath = "../escape"
        #expect(throws: TarError.self) {
            _ = try DirectoryArchiver.archive(directory: source, to: open("/dev/null", O_WRONLY), options: options)
        }
        // A name that would act as a whiteout is refused.
        try shell("touch '\(dir)/tree/.wh.oops'")
        #expect(throws: TarError.self) {
            _ = try DirectoryArchiver.archive(directory: source, to: open("/dev/null", O_WRONLY), options: .init())
        }
    }
}
