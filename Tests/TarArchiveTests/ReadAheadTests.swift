import Glibc
import OCIModel
import Testing
@testable import TarArchive
import TestSupport

/// A source that fails after `failAfter` bytes and counts how much it was asked for.
private final class FailingSource: ByteSource, @unchecked Sendable {
    private let upstream: BytesSource
    private let failAfter: Int
    private(set) var delivered = 0

    init(_ bytes: [UInt8], failAfter: Int) {
        upstream = BytesSource(bytes)
        self.failAfter = failAfter
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if delivered >= failAfter { throw TarError.compression("broken on purpose at \(delivered)") }
        let n = try upstream.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<min(buffer.count, failAfter - delivered)]))
        delivered += n
        return n
    }
}

@Suite("read-ahead source")
struct ReadAheadTests {
    @Test("delivers the upstream bytes in order, for read sizes above, below and across its buffers",
          arguments: [1, 777, 4096, 100_000])
    func order(readSize: Int) throws {
        let data = noise(1_000_003, seed: 9)
        let hashing = HashingSource(BytesSource(data))
        let ahead = ReadAheadSource(hashing, bufferSize: 4096, depth: 3)
        #expect(try readAll(ahead, readSize: readSize) == data)
        try ahead.finish()
        // Handed back: the upstream's state is whole and visible to this thread.
        #expect(hashing.byteCount == Int64(data.count))
        #expect(hashing.digest() == Digest.sha256(of: data))
    }

    @Test("an upstream error reaches the reader after the bytes before it, and finish() rethrows it")
    func upstreamError() throws {
        let data = noise(50_000, seed: 2)
        let ahead = ReadAheadSource(FailingSource(data, failAfter: 30_000), bufferSize: 10_000, depth: 2)
        var received = 0
        var chunk = [UInt8](repeating: 0, count: 1000)
        let error = #expect(throws: TarError.self) {
            while true {
                let n = try chunk.withUnsafeMutableBytes { try ahead.read(into: $0) }
                #expect(n > 0, "the stream must not end quietly")
                if n == 0 { break }
                #expect(Array(chunk[..<n]) == Array(data[received..<received + n]))
                received += n
            }
        }
        #expect("\(String(describing: error))".contains("broken on purpose"))
        #expect(received == 30_000)
        #expect(throws: TarError.self) { try ahead.finish() }
    }

    @Test("memory stays bounded: the producer waits for the reader")
    func bounded() throws {
        let source = FailingSource(noise(1_000_000, seed: 4), failAfter: .max)
        let ahead = ReadAheadSource(source, bufferSize: 1000, depth: 4)
        var chunk = [UInt8](repeating: 0, count: 10)
        _ = try chunk.withUnsafeMutableBytes { try ahead.read(into: $0) }
        usleep(50_000)
        ahead.cancel()
        // One buffer with the reader, four in flight at most, and one read the producer may have begun.
        #expect(source.delivered <= 6 * 1000)
    }

    @Test("released early, it stops its thread without reading the rest")
    func releasedEarly() throws {
        let source = FailingSource(noise(5_000_000, seed: 5), failAfter: .max)
        do {
            let ahead = ReadAheadSource(source, bufferSize: 1000, depth: 2)
            var chunk = [UInt8](repeating: 0, count: 10)
            _ = try chunk.withUnsafeMutableBytes { try ahead.read(into: $0) }
        }
        #expect(source.delivered < 5_000_000)
    }

    @Test("finish() reads the rest itself when the reader stopped early, and hands the upstream back whole")
    func finishWithoutReadingToTheEnd() throws {
        let data = noise(300_000, seed: 6)
        let hashing = HashingSource(BytesSource(data))
        let ahead = ReadAheadSource(hashing, bufferSize: 4096, depth: 2)
        var chunk = [UInt8](repeating: 0, count: 100)
        _ = try chunk.withUnsafeMutableBytes { try ahead.read(into: $0) }
        try ahead.finish()
        #expect(hashing.digest() == Digest.sha256(of: data))
    }

    @Test("an empty upstream ends at once")
    func empty() throws {
        let ahead = ReadAheadSource(BytesSource([]))
        #expect(try readAll(ahead, readSize: 100) == [])
        try ahead.finish()
    }

    @Test("gzip without its CRC check still inflates, and a corrupt CRC then goes unnoticed only by request")
    func skippedChecksum() throws {
        let data = noise(100_000, seed: 8)
        let sink = BytesSink()
        let deflater = try GzipDeflater(sink)
        try data.withUnsafeBytes { try deflater.write($0) }
        try deflater.finish()
        var corrupt = sink.bytes
        corrupt[corrupt.count - 8] ^= 0xff  // the CRC-32 in the trailer
        #expect(throws: TarError.self) { try readAll(GzipInflater(BytesSource(corrupt)), readSize: 4096) }
        #expect(try readAll(GzipInflater(BytesSource(corrupt), verifyChecksum: false), readSize: 4096) == data)
    }
}
