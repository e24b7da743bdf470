import Glibc
import OCIModel
import Testing
@testable import TarArchive
import TestSupport

@Suite("gzip streams")
struct GzipTests {
    func compress(_ data: [UInt8], level: Int32 = 6) throws -> [UInt8] {
        let sink = BytesSink()
        let deflater = try GzipDeflater(sink, level: level)
        try data.withUnsafeBytes { try deflater.write($0) }
        try deflater.finish()
        return sink.bytes
    }

    func inflate(_ data: [UInt8], readSize: Int = 1000) throws -> [UInt8] {
        try readAll(GzipInflater(BytesSource(data)), readSize: readSize)
    }

    @Test("round trip, with small and large reads")
    func roundTrip() throws {
        let data = noise(300_000) + [UInt8](repeating: 0, count: 300_000)
        let compressed = try compress(data)
        #expect(compressed.count < data.count)
        #expect(try inflate(compressed, readSize: 7) == data)
        #expect(try inflate(compressed, readSize: 1 << 20) == data)
    }

    @Test("gzip(1) reads our output; we read gzip(1) output")
    func interoperates() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let data = noise(100_000, seed: 3)
        writeFile(dir + "/ours.gz", try compress(data))
        try shell("cd '\(dir)' && gzip -dc ours.gz > ours && gzip -9 -k -n ours -c > theirs.gz")
        #expect(readFile(dir + "/ours") == data)
        #expect(try inflate(readFile(dir + "/theirs.gz")) == data)
    }

    @Test("multi-member files inflate to the concatenation; zero padding after the end is tolerated")
    func multiMember() throws {
        let a = noise(5000, seed: 1)
        let b = noise(7000, seed: 2)
        #expect(try inflate(try compress(a) + compress(b)) == a + b)
        #expect(try inflate(try compress(a) + [UInt8](repeating: 0, count: 1024)) == a)
    }

    @Test("truncated streams, corrupt data and trailing garbage are errors")
    func corruptInput() throws {
        let data = noise(50_000)
        let compressed = try compress(data)
        for cut in [5, 10, compressed.count / 2, compressed.count - 1] {
            #expect(throws: TarError.self) { try inflate(Array(compressed[..<cut])) }
        }
        #expect(throws: TarError.self) { try inflate([]) == [] ? () : () }
        var corrupt = compressed
        corrupt[compressed.count / 2] ^= 0xff
        corrupt[compressed.count / 2 + 1] ^= 0x55
        #expect(throws: TarError.self) { try inflate(corrupt) }
        #expect(throws: TarError.self) { try inflate(compressed + bytes("garbage")) }
    }

    @Test("format detection: gzip and zstd decompressed, plain passed through")
    func detection() throws {
        let plain = bytes("not compressed at all")
        let (kind, stream) = try Decompressor.open(BytesSource(plain))
        #expect(kind == .none)
        var buffer = [UInt8](repeating: 0, count: 100)
        let n = try buffer.withUnsafeMutableBytes { try stream.readFully(into: $0) }
        #expect(Array(buffer[..<n]) == plain)
        let (gzipKind, _) = try Decompressor.open(BytesSource(try compress(plain)))
        #expect(gzipKind == .gzip)
        if ZstdInflater.isAvailable {
            let (zstdKind, zstdStream) = try Decompressor.open(BytesSource([0x28, 0xb5, 0x2f, 0xfd, 0, 0]))
            #expect(zstdKind == .zstd)
            #expect(throws: TarError.self) { try zstdStream.drain() }
        }
        let (emptyKind, _) = try Decompressor.open(BytesSource([1]))
        #expect(emptyKind == .none)
    }

    func unzstd(_ data: [UInt8]) throws -> [UInt8] {
        try readAll(ZstdInflater(BytesSource(data)), readSize: 3000)
    }

    @Test("zstd: frames from zstd(1), multi-frame, truncated and corrupt input",
          .enabled(if: ZstdInflater.isAvailable, "libzstd.so.1 is not installed"),
          .enabled(if: access("/usr/bin/zstd", X_OK) == 0, "the zstd command (Debian package zstd) is not installed"))
    func zstd() throws {
        let dir = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(dir) }
        let a = noise(200_000, seed: 5) + [UInt8](repeating: 7, count: 100_000)
        let b = noise(1000, seed: 6)
        writeFile(dir + "/a", a)
        writeFile(dir + "/b", b)
        try shell("cd '\(dir)' && zstd -q -19 a -o a.zst && zstd -q b -o b.zst && cat a.zst b.zst > ab.zst")
        #expect(try unzstd(readFile(dir + "/a.zst")) == a)
        #expect(try unzstd(readFile(dir + "/ab.zst")) == a + b)
        let compressed = readFile(dir + "/a.zst")
        for cut in [4, 10, compressed.count / 2, compressed.count - 1] {
            #expect(throws: TarError.self) { try unzstd(Array(compressed[..<cut])) }
        }
        var corrupt = compressed
        corrupt[compressed.count / 2] ^= 0xff
        #expect(throws: TarError.self) { try unzstd(corrupt) }
    }
}
