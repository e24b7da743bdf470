import TarArchive

/// The tar reader over gzip, zstd or plain input, as `swcopy` and the layer cache read layers; and PAX extended
/// headers, wrapped in a valid archive so that the fuzzer spends its time on the records.
enum TarFuzzing {
    /// Decompressed bytes read per input at most: a small zstd frame can stand for gigabytes of zeros.
    static let maxDecompressed = 64 << 20

    /// Input: a flags byte (bit 0: skip gzip's CRC check, as a reader that checks a digest does; bit 1: tight
    /// metadata limits), then the archive as stored.
    static func archive(_ data: UnsafeRawBufferPointer) {
        var input = FuzzInput(data)
        let flags = input.byte()
        read(input.rest(), flags: flags)
    }

    /// Input: a flags byte (bit 0: a global `g` header instead of a local `x`; bit 1: the entry after it is a
    /// GNU sparse file; bit 2: it is a symlink), a byte of content length, then the PAX records.
    static func pax(_ data: UnsafeRawBufferPointer) {
        var input = FuzzInput(data)
        let flags = input.byte()
        let contentLength = Int(input.byte() % 64)
        let records = input.rest()
        var archive = header(name: "PaxHeaders/file", size: records.count, type: flags & 1 != 0 ? "g" : "x")
        archive += padded(records)
        let type: Character = flags & 2 != 0 ? "S" : (flags & 4 != 0 ? "2" : "0")
        archive += header(name: "file", size: contentLength, type: type, link: "target")
        archive += padded([UInt8](repeating: 0x61, count: contentLength))
        archive += [UInt8](repeating: 0, count: 1024)
        read(archive, flags: 0)
    }

    static func read(_ bytes: [UInt8], flags: UInt8) {
        do {
            let (_, stream) = try Decompressor.open(BytesSource(bytes), verifyChecksums: flags & 1 == 0)
            let limits = flags & 2 != 0 ? TarReader.Limits(maxMetadataSize: 512, maxSparseEntries: 8) : TarReader.Limits()
            let reader = TarReader(CappedSource(stream, limit: maxDecompressed), limits: limits)
            var buffer = [UInt8](repeating: 0, count: 16 * 1024)
            var entries = 0
            while let entry = try reader.next() {
                entries += 1
                check(entry.size >= 0, "entry \(entry.path) has size \(entry.size)")
                check(reader.current == entry, "current entry is not the entry returned")
                // Content is read for real (sparse holes as zeros), up to 1 MiB an entry.
                var total: Int64 = 0
                while total < 1 << 20 {
                    let n = try buffer.withUnsafeMutableBytes { try reader.readContent(into: $0) }
                    check(n >= 0 && n <= buffer.count, "readContent returned \(n)")
                    if n == 0 {
                        check(total == entry.size, "entry \(entry.path) declares \(entry.size) bytes, \(total) read")
                        break
                    }
                    total += Int64(n)
                }
                if entries >= 10_000 { break }
            }
        } catch {
            // A refused archive is the expected outcome of most inputs.
        }
    }

    /// A ustar header block.
    static func header(name: String, size: Int, type: Character, link: String = "") -> [UInt8] {
        var block = [UInt8](repeating: 0, count: 512)
        func put(_ text: String, at offset: Int) {
            for (i, byte) in text.utf8.enumerated() { block[offset + i] = byte }
        }
        put(name, at: 0)
        put("0000644", at: 100)
        put("0001750", at: 108)
        put("0001750", at: 116)
        put(String(repeating: "0", count: 11 - String(size, radix: 8).count) + String(size, radix: 8), at: 124)
        put("14770000000", at: 136)
        put("        ", at: 148)
        block[156] = type.asciiValue ?? 0x30
        put(link, at: 157)
        put("ustar\u{0}00", at: 257)
        let sum = block.reduce(0) { $0 + Int($1) }
        put(String(repeating: "0", count: 6 - String(sum, radix: 8).count) + String(sum, radix: 8) + "\u{0} ", at: 148)
        return block
    }

    static func padded(_ bytes: [UInt8]) -> [UInt8] {
        bytes + [UInt8](repeating: 0, count: (512 - bytes.count % 512) % 512)
    }
}

/// Ends the stream after `limit` bytes, as if the input stopped there.
final class CappedSource: ByteSource {
    private let upstream: ByteSource
    private var left: Int

    init(_ upstream: ByteSource, limit: Int) {
        self.upstream = upstream
        left = limit
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard left > 0 else { return 0 }
        let n = try upstream.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer.prefix(left)))
        left -= n
        return n
    }
}
