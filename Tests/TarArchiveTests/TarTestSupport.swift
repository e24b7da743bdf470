import Foundation
import Glibc
import OCIModel
import TestSupport
@testable import TarArchive

/// A fresh directory under /tmp; remove it with `removeTemporaryDirectory`.
func makeTemporaryDirectory() -> String { makeTemporaryDirectory(prefix: "tartest") }

func removeTemporaryDirectory(_ path: String) {
    _ = try? shell("rm -rf '\(path)'")
}

/// Runs a Python script given on stdin-free form (written to a file first).
@discardableResult
func python(_ script: String, in directory: String) throws -> String {
    let path = directory + "/script.py"
    try script.write(toFile: path, atomically: false, encoding: .utf8)
    return try shell("cd '\(directory)' && python3 '\(path)'")
}

func readFile(_ path: String) -> [UInt8] {
    Array(FileManager.default.contents(atPath: path) ?? Data())
}

func writeFile(_ path: String, _ bytes: [UInt8]) {
    _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
}

/// An entry as read back, with its content.
struct ReadEntry {
    var entry: TarEntry
    var content: [UInt8]
}

/// Reads a whole (small) archive, decompressing if needed.
func readArchive(_ bytes: [UInt8], limits: TarReader.Limits = .init()) throws -> [ReadEntry] {
    let (_, stream) = try Decompressor.open(BytesSource(bytes))
    let reader = TarReader(stream, limits: limits)
    var result: [ReadEntry] = []
    while let entry = try reader.next() {
        result.append(ReadEntry(entry: entry, content: try reader.readAllContent(maxSize: 64 << 20)))
    }
    // As the unpacker does: the rest of the stream must be readable (a cut gzip footer is an error).
    try stream.drain()
    return result
}

/// Reads a whole archive streaming every entry's content into a scratch buffer (nothing kept, whatever the sizes).
func drainArchive(_ bytes: [UInt8], limits: TarReader.Limits = .init()) throws {
    let (_, stream) = try Decompressor.open(BytesSource(bytes))
    let reader = TarReader(stream, limits: limits)
    let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 8)
    defer { scratch.deallocate() }
    while try reader.next() != nil {
        while try reader.readContent(into: scratch) > 0 {}
    }
    try stream.drain()
}

/// Writes entries (content given for regular files) to an in-memory archive.
func writeArchive(_ entries: [(TarEntry, [UInt8])], compression: TarCompression = .none) throws
    -> (bytes: [UInt8], summary: TarWriter.Summary) {
    let sink = BytesSink()
    let writer = try TarWriter(sink: sink, compression: compression)
    for (entry, content) in entries {
        var entry = entry
        if entry.kind == .regular { entry.size = Int64(content.count) }
        try writer.append(entry)
        if entry.kind == .regular { try writer.writeContent(content) }
    }
    let summary = try writer.finish()
    return (sink.bytes, summary)
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// Everything `source` yields, read `readSize` bytes at a time.
func readAll(_ source: ByteSource, readSize: Int = 1000) throws -> [UInt8] {
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: readSize)
    while true {
        let n = try chunk.withUnsafeMutableBytes { try source.read(into: $0) }
        if n == 0 { return out }
        out += chunk[..<n]
    }
}

/// Deterministic pseudo-random bytes.
func noise(_ count: Int, seed: UInt64 = 1) -> [UInt8] {
    var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    return (0..<count).map { _ in
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return UInt8(truncatingIfNeeded: state)
    }
}
