import Glibc
import OCIModel
import SystemIO

/// Writes a tar stream: ustar headers, with a PAX extended header before any entry whose fields do not fit ustar
/// (long names and link targets, sizes ≥ 8 GiB, large ids, sub-second or negative mtimes, xattrs).
///
/// Output is deterministic: the same entries and content always give the same bytes (PAX records are sorted, the
/// PAX header's own name and metadata are fixed). While writing, the SHA-256 and size of the tar stream (the
/// layer's diffID) and of the bytes written out (the blob digest, after optional gzip) are computed;
/// ``finish()`` returns both.
///
/// ```swift
/// let writer = try TarWriter(fileDescriptor: fd, compression: .gzip)
/// try writer.append(TarEntry(kind: .regular, path: "etc/motd", size: 6))
/// try writer.writeContent(Array("hello\n".utf8))
/// let summary = try writer.finish()   // summary.diffID, summary.digest, summary.size
/// ```
public final class TarWriter {
    /// What was written, for a layer descriptor and the config's `rootfs.diff_ids`.
    public struct Summary: Sendable, Hashable {
        /// SHA-256 of the uncompressed tar stream.
        public let diffID: Digest
        /// Size of the uncompressed tar stream.
        public let uncompressedSize: Int64
        /// SHA-256 of the bytes written to the output (equal to ``diffID`` when uncompressed).
        public let digest: Digest
        /// Size of the bytes written to the output.
        public let size: Int64
    }

    private let tarStream: HashingSink
    private let output: HashingSink
    private var contentRemaining: Int64 = 0
    private var paddingPending = 0
    private var currentPath = ""
    private var finished = false
    private static let zeros = [UInt8](repeating: 0, count: 2 * TarHeader.blockSize)

    /// Writes to a file descriptor (not closed by the writer).
    /// - Parameters:
    ///   - fileDescriptor: Where the (possibly compressed) archive goes, from its current offset.
    ///   - compression: `.none` or `.gzip`.
    ///   - level: gzip level when compressing.
    /// - Throws: ``TarError/unsupported(_:)`` for zstd.
    public convenience init(fileDescriptor: Int32, compression: TarCompression = .none, level: Int32 = 6) throws {
        try self.init(sink: FileDescriptorSink(fileDescriptor: fileDescriptor), compression: compression, level: level)
    }

    /// Writes to any sink.
    public init(sink: ByteSink, compression: TarCompression = .none, level: Int32 = 6) throws {
        output = HashingSink(sink)
        switch compression {
        case .none: tarStream = HashingSink(output)
        case .gzip: tarStream = HashingSink(try GzipDeflater(output, level: level))
        case .zstd: throw TarError.unsupported("writing zstd: only zstd decompression is available")
        }
    }

    /// Writes the header(s) of `entry`. For a regular file, exactly `entry.size` bytes of content must follow
    /// through ``writeContent(_:)-(UnsafeRawBufferPointer)`` before the next entry; other kinds carry none.
    /// - Throws: ``TarError/usage(_:)`` if the previous entry's content is incomplete or the entry cannot be
    ///   represented (empty path, NUL in a name, negative size).
    public func append(_ entry: TarEntry) throws {
        guard !finished else { throw TarError.usage("append after finish") }
        guard contentRemaining == 0 else {
            throw TarError.usage("\(contentRemaining) bytes of content missing for \(currentPath)")
        }
        try writePadding()
        var entry = entry
        if !entry.hasContent { entry.size = 0 }
        guard entry.size >= 0 else { throw TarError.usage("negative size for \(entry.path)") }
        guard !entry.path.isEmpty else { throw TarError.usage("empty path") }
        guard !entry.path.utf8.contains(0), !entry.linkTarget.utf8.contains(0) else {
            throw TarError.usage("NUL in the path or link target of \(entry.path)")
        }
        if entry.kind == .directory && !entry.path.hasSuffix("/") { entry.path += "/" }

        var header = [UInt8](repeating: 0, count: TarHeader.blockSize)
        var pax: [(String, [UInt8])] = []

        let path = Array(entry.path.utf8)
        if path.count <= TarHeader.name.count {
            TarHeader.putString(path, &header, TarHeader.name)
        } else if let split = TarWriter.splitUSTARPath(path) {
            TarHeader.putString(path[..<split], &header, TarHeader.prefix)
            TarHeader.putString(path[(split + 1)...], &header, TarHeader.name)
        } else {
            pax.append(("path", path))
            TarHeader.putString(TarWriter.truncated(entry.path, TarHeader.name.count), &header, TarHeader.name)
        }
        let link = Array(entry.linkTarget.utf8)
        if link.count > TarHeader.linkname.count {
            pax.append(("linkpath", link))
            TarHeader.putString(TarWriter.truncated(entry.linkTarget, TarHeader.linkname.count), &header,
                                TarHeader.linkname)
        } else {
            TarHeader.putString(link, &header, TarHeader.linkname)
        }
        TarHeader.putOctal(Int64(entry.mode & 0o7777), &header, TarHeader.mode)
        for (value, range, key) in [(entry.uid, TarHeader.uid, "uid"), (entry.gid, TarHeader.gid, "gid"),
                                    (entry.size, TarHeader.size, "size")] {
            guard value >= 0 else { throw TarError.usage("negative \(key) for \(entry.path)") }
            if !TarHeader.putNumber(value, &header, range) { pax.append((key, Array(String(value).utf8))) }
        }
        let mtime = entry.modificationTime
        if mtime.nanoseconds != 0 || !TarHeader.putOctal(mtime.seconds, &header, TarHeader.mtime) {
            pax.append(("mtime", PaxRecords.format(mtime)))
            TarHeader.putNumber(max(0, mtime.seconds), &header, TarHeader.mtime)
        }
        for (name, range, key) in [(entry.userName, TarHeader.uname, "uname"),
                                   (entry.groupName, TarHeader.gname, "gname")] {
            if name.utf8.count > range.count {
                pax.append((key, Array(name.utf8)))
                TarHeader.putString(TarWriter.truncated(name, range.count), &header, range)
            } else {
                TarHeader.putString(name.utf8, &header, range)
            }
        }
        for (value, range, key) in [(entry.deviceMajor, TarHeader.devmajor, "SCHILY.devmajor"),
                                    (entry.deviceMinor, TarHeader.devminor, "SCHILY.devminor")] {
            if !TarHeader.putNumber(Int64(value), &header, range) { pax.append((key, Array(String(value).utf8))) }
        }
        for (name, value) in entry.xattrs {
            guard !name.isEmpty, !name.utf8.contains(0x3d), !name.utf8.contains(0) else {
                throw TarError.usage("xattr name \"\(name)\" of \(entry.path) cannot be archived")
            }
            pax.append(("SCHILY.xattr." + name, value))
        }
        header[TarHeader.typeflag] = TarWriter.typeflag(entry.kind)
        TarHeader.putString(TarHeader.ustarMagic, &header, TarHeader.magic)
        TarHeader.putString([TarHeader.zero, TarHeader.zero], &header, TarHeader.version)
        TarHeader.putChecksum(&header)

        if !pax.isEmpty { try writePaxHeader(pax, for: entry.path) }
        try write(header)
        currentPath = entry.path
        contentRemaining = entry.size
        paddingPending = Int(TarReader.padding(entry.size))
    }

    /// Writes part of the current regular file's content.
    /// - Throws: ``TarError/usage(_:)`` if this goes past the size declared in the header.
    public func writeContent(_ bytes: UnsafeRawBufferPointer) throws {
        guard Int64(bytes.count) <= contentRemaining else {
            throw TarError.usage("content of \(currentPath) is longer than its declared size")
        }
        try tarStream.write(bytes)
        contentRemaining -= Int64(bytes.count)
    }

    /// Writes part of the current regular file's content.
    public func writeContent(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try writeContent($0) }
    }

    /// Copies the rest of the current regular file's content from a descriptor, reading exactly the bytes still
    /// due.
    /// - Throws: ``TarError/truncated(_:)`` if the descriptor ends first (the file shrank while being archived).
    public func writeContent(from fd: Int32) throws {
        guard contentRemaining > 0 else { return }
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 * 1024, alignment: 16)
        defer { chunk.deallocate() }
        while contentRemaining > 0 {
            let want = Int(min(Int64(chunk.count), contentRemaining))
            let n = Glibc.read(fd, chunk.baseAddress!, want)
            if n < 0 {
                if errno == EINTR { continue }
                throw TarError.io(SystemError("read", errno: errno))
            }
            if n == 0 { throw TarError.truncated("\(currentPath) ended \(contentRemaining) bytes early (file changed?)") }
            try writeContent(UnsafeRawBufferPointer(rebasing: chunk[..<n]))
        }
    }

    /// Ends the archive (two zero blocks), flushes the compressor, and reports digests and sizes.
    public func finish() throws -> Summary {
        guard !finished else { throw TarError.usage("finish called twice") }
        guard contentRemaining == 0 else {
            throw TarError.usage("\(contentRemaining) bytes of content missing for \(currentPath)")
        }
        try writePadding()
        try write(TarWriter.zeros)
        finished = true
        try tarStream.finish()
        return Summary(diffID: tarStream.digest(), uncompressedSize: tarStream.byteCount,
                       digest: output.digest(), size: output.byteCount)
    }

    // MARK: - Helpers

    private func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try tarStream.write($0) }
    }

    private func writePadding() throws {
        guard paddingPending > 0 else { return }
        try write(Array(TarWriter.zeros[..<paddingPending]))
        paddingPending = 0
    }

    /// A PAX `x` header with a fixed name (`PaxHeaders.0/<base name>`), mode and mtime, so output is reproducible.
    private func writePaxHeader(_ records: [(String, [UInt8])], for path: String) throws {
        var data: [UInt8] = []
        for (key, value) in records.sorted(by: { $0.0 < $1.0 }) {
            data += PaxRecords.encode(key: key, value: value)
        }
        var header = [UInt8](repeating: 0, count: TarHeader.blockSize)
        var base = path
        while base.hasSuffix("/") { base.removeLast() }
        if let slash = base.lastIndex(of: "/") { base = String(base[base.index(after: slash)...]) }
        TarHeader.putString(TarWriter.truncated("PaxHeaders.0/" + base, TarHeader.name.count), &header, TarHeader.name)
        TarHeader.putOctal(0o644, &header, TarHeader.mode)
        TarHeader.putOctal(0, &header, TarHeader.uid)
        TarHeader.putOctal(0, &header, TarHeader.gid)
        TarHeader.putNumber(Int64(data.count), &header, TarHeader.size)
        TarHeader.putOctal(0, &header, TarHeader.mtime)
        header[TarHeader.typeflag] = TarHeader.typePaxLocal
        TarHeader.putString(TarHeader.ustarMagic, &header, TarHeader.magic)
        TarHeader.putString([TarHeader.zero, TarHeader.zero], &header, TarHeader.version)
        TarHeader.putOctal(0, &header, TarHeader.devmajor)
        TarHeader.putOctal(0, &header, TarHeader.devminor)
        TarHeader.putChecksum(&header)
        try write(header)
        try write(data)
        let padding = Int(TarReader.padding(Int64(data.count)))
        if padding > 0 { try write(Array(TarWriter.zeros[..<padding])) }
    }

    /// Where to cut a path into ustar `prefix` (≤ 155 bytes) and `name` (≤ 100 bytes) at a `/`, as Go's
    /// archive/tar does: the first slash that leaves a name short enough.
    static func splitUSTARPath(_ path: [UInt8]) -> Int? {
        let nameSize = TarHeader.name.count
        let prefixSize = TarHeader.prefix.count
        guard path.count > nameSize, path.count <= prefixSize + 1 + nameSize else { return nil }
        let start = max(0, path.count - nameSize - 1)
        guard let slash = path[start...].firstIndex(of: 0x2f), slash > 0, slash <= prefixSize,
              path.count - slash - 1 > 0 else { return nil }
        return slash
    }

    /// The longest prefix of `string` that fits `limit` UTF-8 bytes without cutting a character.
    static func truncated(_ string: String, _ limit: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        for character in string.unicodeScalars {
            let utf8 = Array(String(character).utf8)
            if bytes.count + utf8.count > limit { break }
            bytes += utf8
        }
        return bytes
    }

    static func typeflag(_ kind: TarEntry.Kind) -> UInt8 {
        switch kind {
        case .regular: TarHeader.typeRegular
        case .hardLink: TarHeader.typeHardLink
        case .symbolicLink: TarHeader.typeSymlink
        case .characterDevice: TarHeader.typeChar
        case .blockDevice: TarHeader.typeBlock
        case .directory: TarHeader.typeDirectory
        case .fifo: TarHeader.typeFIFO
        }
    }
}
