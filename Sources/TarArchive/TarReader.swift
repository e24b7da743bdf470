import CLinuxShim
import Glibc
import SystemIO

/// Reads a tar stream entry by entry, pulling bytes from a ``ByteSource`` as it goes.
///
/// Understands ustar (with `prefix`), old V7 headers, GNU long names and link names (`L`, `K`), PAX local (`x`)
/// and global (`g`) extended headers (`path`, `linkpath`, `size`, `uid`, `gid`, `uname`, `gname`, `mtime` with
/// sub-second precision, `SCHILY.xattr.*`, `SCHILY.devmajor/devminor`), GNU base-256 numbers and GNU sparse files
/// (old GNU `S` entries, PAX sparse formats 0.0, 0.1 and 1.0; see ``SparseMap``). Each header's checksum is verified.
/// A sparse file is presented as a regular file of its real size: ``readContent(into:)`` yields its holes as zeros,
/// ``copyContent(to:sparse:progress:)`` places its data at its offsets and leaves the holes unwritten. Content is
/// never buffered whole: read it with ``readContent(into:)`` or ``copyContent(to:sparse:progress:)``, or let
/// ``next()`` skip it. Extended headers are bounded by ``Limits/maxMetadataSize`` and sparse maps by
/// ``Limits/maxSparseEntries``, so a hostile size field or map cannot make the reader allocate.
///
/// ```swift
/// let reader = TarReader(FileDescriptorSource(fileDescriptor: fd))
/// while let entry = try reader.next() {
///     if entry.kind == .regular { try reader.copyContent(to: out) }
/// }
/// ```
public final class TarReader {
    /// Bounds on what the reader holds in memory.
    public struct Limits: Sendable {
        /// The largest PAX extended header or GNU long name/link accepted, in bytes; also bounds the text of a PAX
        /// 1.0 sparse map.
        public var maxMetadataSize: Int
        /// The most fragments in one sparse file's map (see ``SparseMap/defaultMaxEntries``).
        public var maxSparseEntries: Int

        public init(maxMetadataSize: Int = 1 << 20, maxSparseEntries: Int = SparseMap.defaultMaxEntries) {
            self.maxMetadataSize = maxMetadataSize
            self.maxSparseEntries = maxSparseEntries
        }
    }

    private let source: ByteSource
    let limits: Limits
    private let buffer: UnsafeMutableRawBufferPointer
    private var bufferStart = 0
    private var bufferEnd = 0
    private var sourceEnded = false
    var header = [UInt8](repeating: 0, count: TarHeader.blockSize)
    private var globalRecords: [String: [UInt8]] = [:]
    /// Bytes of the current entry's data still in the stream (a sparse file's stored fragments, not its holes).
    var contentRemaining: Int64 = 0
    private var paddingRemaining: Int64 = 0
    private var ended = false
    /// The current entry's map and read position, when it is a sparse file.
    var sparseCursor: SparseCursor?
    /// Whether the current entry is a sparse file (GNU or PAX sparse format): its size is what it declares, not
    /// what the stream holds.
    public var currentEntryIsSparse: Bool { sparseCursor != nil }

    /// Bytes of the tar stream consumed so far.
    public private(set) var offset: Int64 = 0
    /// The entry whose content is being read, if any.
    public private(set) var current: TarEntry?

    /// - Parameters:
    ///   - source: The uncompressed tar stream (wrap compressed input with ``Decompressor/open(_:)``).
    ///   - limits: Memory bounds for extended headers.
    public init(_ source: ByteSource, limits: Limits = Limits()) {
        self.source = source
        self.limits = limits
        buffer = .allocate(byteCount: 128 * 1024, alignment: 16)
    }

    /// Reads a tar file from a descriptor (not closed by the reader), inflating it if it is gzip-compressed.
    /// - Throws: ``TarError/unsupported(_:)`` for zstd.
    public convenience init(fileDescriptor: Int32, limits: Limits = Limits()) throws {
        let (_, stream) = try Decompressor.open(FileDescriptorSource(fileDescriptor: fileDescriptor))
        self.init(stream, limits: limits)
    }

    deinit { buffer.deallocate() }

    // MARK: - Entries

    /// Advances to the next entry, skipping whatever is left of the current one's content.
    /// - Returns: The entry, or nil at the end-of-archive marker (a zero block).
    /// - Throws: ``TarError`` for a truncated, corrupt or unsupported archive.
    public func next() throws -> TarEntry? {
        current = nil
        sparseCursor = nil
        try skip(contentRemaining + paddingRemaining)
        contentRemaining = 0
        paddingRemaining = 0
        if ended { return nil }

        var local: [String: [UInt8]] = [:]
        // PAX sparse 0.0 repeats GNU.sparse.offset and GNU.sparse.numbytes: their order is the map.
        var sparsePairs: [(key: String, value: [UInt8])] = []
        var longName: [UInt8]?
        var longLink: [UInt8]?
        // Extended headers in a row all count against one entry's metadata limit, so a hostile stream of them
        // cannot grow memory without bound.
        var pendingMetadata: Int64 = 0
        while true {
            let headerOffset = offset
            try readHeaderBlock()
            if TarHeader.isZeroBlock(header) {
                ended = true
                return nil
            }
            guard case let .success(stored?) = TarHeader.number(header, TarHeader.checksum) else {
                throw TarError.badChecksum(offset: headerOffset)
            }
            let sums = TarHeader.checksums(header)
            guard stored == sums.unsigned || stored == sums.signed else {
                throw TarError.badChecksum(offset: headerOffset)
            }
            let type = header[TarHeader.typeflag]
            let headerSize = try number(TarHeader.size, "size", at: headerOffset) ?? 0
            if type == TarHeader.typePaxLocal || type == TarHeader.typePaxGlobal || type == TarHeader.typeGNULongName
                || type == TarHeader.typeGNULongLink {
                pendingMetadata += headerSize
                guard pendingMetadata <= Int64(limits.maxMetadataSize) else {
                    throw TarError.limitExceeded("extended headers before the entry at offset \(headerOffset) "
                        + "exceed \(limits.maxMetadataSize) bytes")
                }
            }
            switch type {
            case TarHeader.typePaxLocal, TarHeader.typePaxGlobal:
                let data = try readMetadata(size: headerSize, what: "PAX extended header", at: headerOffset)
                let records: [(key: String, value: [UInt8])]
                switch PaxRecords.parse(data) {
                case let .success(parsed): records = parsed
                case let .failure(reason): throw TarError.malformed(offset: headerOffset, reason.text)
                }
                for (key, value) in records {
                    if type == TarHeader.typePaxLocal {
                        local[key] = value
                        if key == "GNU.sparse.offset" || key == "GNU.sparse.numbytes" { sparsePairs.append((key, value)) }
                    } else if key != "path" && key != "linkpath" && key != "size" && !key.hasPrefix("GNU.sparse.") {
                        // Per-file keys in a global header would give every member one name, size or sparse map:
                        // ignored.
                        if value.isEmpty { globalRecords[key] = nil } else { globalRecords[key] = value }
                    }
                }
                let globalSize = globalRecords.reduce(0) { $0 + $1.key.utf8.count + $1.value.count }
                guard globalSize <= limits.maxMetadataSize else {
                    throw TarError.limitExceeded("PAX global records exceed \(limits.maxMetadataSize) bytes")
                }
                continue
            case TarHeader.typeGNULongName, TarHeader.typeGNULongLink:
                var data = try readMetadata(size: headerSize, what: "GNU long name", at: headerOffset)
                while data.last == 0 { data.removeLast() }
                if type == TarHeader.typeGNULongName { longName = data } else { longLink = data }
                continue
            case TarHeader.typeGNUVolumeLabel:
                try skip(headerSize + TarReader.padding(headerSize))
                continue
            default:
                break
            }
            var records = globalRecords
            for (key, value) in local {
                // An empty value unsets a global one, except for xattrs, whose value may legitimately be empty.
                if value.isEmpty && !key.hasPrefix("SCHILY.xattr.") { records[key] = nil } else { records[key] = value }
            }
            var entry = try makeEntry(type: type, headerSize: headerSize, records: records, longName: longName,
                                      longLink: longLink, at: headerOffset)
            // Header-only types carry no data blocks, whatever their size field says (as Go's archive/tar
            // reads them); a GNU dump directory's listing is skipped.
            let dataSize: Int64 = switch type {
            case TarHeader.typeRegular, TarHeader.typeRegularV7, TarHeader.typeContiguous, TarHeader.typeGNUSparse:
                entry.size
            case TarHeader.typeGNUDumpDir: headerSize
            default: 0
            }
            if entry.kind == .regular {
                contentRemaining = dataSize
                paddingRemaining = TarReader.padding(dataSize)
            } else {
                paddingRemaining = dataSize + TarReader.padding(dataSize)
            }
            current = entry
            if let map = try readSparseMap(type: type, records: records, pairs: sparsePairs, entry: entry,
                                           at: headerOffset) {
                entry.size = map.realSize
                sparseCursor = SparseCursor(map: map)
                current = entry
            }
            return entry
        }
    }

    private func makeEntry(type: UInt8, headerSize: Int64, records: [String: [UInt8]], longName: [UInt8]?,
                           longLink: [UInt8]?, at headerOffset: Int64) throws -> TarEntry {
        let isUSTAR = Array(header[TarHeader.magic]) == TarHeader.ustarMagic
        var nameBytes: [UInt8]
        // A PAX sparse file's header name is a placeholder (`./GNUSparseFile.<pid>/<name>`) for readers that do not
        // know the format; its real name is in GNU.sparse.name (as Go's archive/tar reads it).
        if let path = records["GNU.sparse.name"] ?? records["path"] {
            nameBytes = path
        } else if let longName {
            nameBytes = longName
        } else {
            nameBytes = Array(TarHeader.bytes(header, TarHeader.name))
            let prefix = TarHeader.bytes(header, TarHeader.prefix)
            if isUSTAR && !prefix.isEmpty { nameBytes = Array(prefix) + [0x2f] + nameBytes }
        }
        let linkBytes = records["linkpath"] ?? longLink ?? Array(TarHeader.bytes(header, TarHeader.linkname))
        let path = try text(nameBytes, "path", at: headerOffset)
        guard !path.isEmpty else { throw TarError.malformed(offset: headerOffset, "empty member name") }
        let linkTarget = try text(linkBytes, "link target", at: headerOffset)

        let kind: TarEntry.Kind
        switch type {
        case TarHeader.typeRegular, TarHeader.typeContiguous, TarHeader.typeGNUSparse: kind = .regular
        case TarHeader.typeRegularV7: kind = path.hasSuffix("/") ? .directory : .regular
        case TarHeader.typeHardLink: kind = .hardLink
        case TarHeader.typeSymlink: kind = .symbolicLink
        case TarHeader.typeChar: kind = .characterDevice
        case TarHeader.typeBlock: kind = .blockDevice
        case TarHeader.typeDirectory, TarHeader.typeGNUDumpDir: kind = .directory
        case TarHeader.typeFIFO: kind = .fifo
        case TarHeader.typeGNUMultiVolume: throw TarError.unsupported("multi-volume continuation of \(path)")
        default:
            throw TarError.unsupported("entry type '\(TarReader.describe(type))' for \(path)")
        }

        var entry = TarEntry(kind: kind, path: path, linkTarget: linkTarget)
        entry.mode = UInt32(truncatingIfNeeded: (try number(TarHeader.mode, "mode", at: headerOffset) ?? 0) & 0o7777)
        entry.uid = try records["uid"].map { try paxInteger($0, "uid", at: headerOffset) }
            ?? number(TarHeader.uid, "uid", at: headerOffset) ?? 0
        entry.gid = try records["gid"].map { try paxInteger($0, "gid", at: headerOffset) }
            ?? number(TarHeader.gid, "gid", at: headerOffset) ?? 0
        entry.userName = try text(records["uname"] ?? Array(TarHeader.bytes(header, TarHeader.uname)), "uname",
                                  at: headerOffset, lossy: true)
        entry.groupName = try text(records["gname"] ?? Array(TarHeader.bytes(header, TarHeader.gname)), "gname",
                                   at: headerOffset, lossy: true)
        if kind == .regular {
            // The data stored in the archive; a sparse file's real size replaces it once its map is read.
            entry.size = try records["size"].map { try paxInteger($0, "size", at: headerOffset) } ?? headerSize
        }
        if let mtime = records["mtime"] {
            guard let time = PaxRecords.timestamp(mtime) else {
                throw TarError.malformed(offset: headerOffset, "PAX mtime is not a number")
            }
            entry.modificationTime = time
        } else {
            entry.modificationTime = TarTimestamp(seconds: try number(TarHeader.mtime, "mtime", at: headerOffset) ?? 0)
        }
        if kind == .characterDevice || kind == .blockDevice {
            let major = try records["SCHILY.devmajor"].map { try paxInteger($0, "devmajor", at: headerOffset) }
                ?? number(TarHeader.devmajor, "devmajor", at: headerOffset) ?? 0
            let minor = try records["SCHILY.devminor"].map { try paxInteger($0, "devminor", at: headerOffset) }
                ?? number(TarHeader.devminor, "devminor", at: headerOffset) ?? 0
            guard let major32 = UInt32(exactly: major), let minor32 = UInt32(exactly: minor) else {
                throw TarError.malformed(offset: headerOffset, "device number out of range for \(path)")
            }
            entry.deviceMajor = major32
            entry.deviceMinor = minor32
        }
        for (key, value) in records where key.hasPrefix("SCHILY.xattr.") {
            let name = String(key.dropFirst("SCHILY.xattr.".count))
            guard !name.isEmpty else { throw TarError.malformed(offset: headerOffset, "empty xattr name") }
            entry.xattrs[name] = value
        }
        return entry
    }

    // MARK: - Content

    /// Reads the current entry's content into `buffer`; a sparse file's holes read as zeros (its real size may be
    /// far beyond the stream's: to write it to a file, ``copyContent(to:sparse:progress:)`` keeps the holes).
    /// - Returns: Bytes read; 0 once the whole content has been read.
    /// - Throws: ``TarError/truncated(_:)`` if the stream ends before the declared size.
    public func readContent(into target: UnsafeMutableRawBufferPointer) throws -> Int {
        if sparseCursor != nil { return try readSparseContent(into: target) }
        return try readStored(into: target)
    }

    /// Reads the current entry's data as stored in the stream (a sparse file's fragments back to back).
    func readStored(into target: UnsafeMutableRawBufferPointer) throws -> Int {
        guard contentRemaining > 0, target.count > 0 else { return 0 }
        let want = Int(min(Int64(target.count), contentRemaining))
        var n: Int
        if bufferEnd > bufferStart {
            n = min(want, bufferEnd - bufferStart)
            target.baseAddress!.copyMemory(from: buffer.baseAddress! + bufferStart, byteCount: n)
            bufferStart += n
        } else if want >= buffer.count / 2 {
            // Large reads go straight into the caller's buffer.
            n = try sourceEnded ? 0 : source.read(into: UnsafeMutableRawBufferPointer(rebasing: target[..<want]))
        } else {
            n = try fill() ? min(want, bufferEnd - bufferStart) : 0
            if n > 0 {
                target.baseAddress!.copyMemory(from: buffer.baseAddress! + bufferStart, byteCount: n)
                bufferStart += n
            }
        }
        if n == 0 { throw contentTruncated() }
        contentRemaining -= Int64(n)
        offset += Int64(n)
        return n
    }

    /// Writes the rest of the current entry's content to a file descriptor.
    ///
    /// With `sparse`, a block of zeros is not written but skipped, leaving a hole that reads as zeros and takes
    /// no disk space, and the size is set with `ftruncate` at the end when the content ends in zeros: a 10 GiB file
    /// of zeros, which gzip packs into 10 MiB, then costs a few blocks instead of 10 GiB. Blocks are
    /// ``sparseBlockSize`` bytes, aligned to file offsets (the filesystem's allocation unit).
    ///
    /// A sparse file from the archive (see ``SparseMap``) is always written that way, whatever `sparse` says: its
    /// fragments with `pwrite` at their offsets, its holes never written, its size set with `ftruncate`. Its holes
    /// cost no disk and no time, however large its real size; `fd` must be a regular file, empty past its offset.
    /// - Parameters:
    ///   - fd: The destination. With `sparse`, a new (empty) regular file: a hole leaves what the file held there.
    ///   - sparse: Leave holes for blocks of zeros (`pwrite` at the file's offset, which ends up past the content).
    ///   - progress: Called after each chunk with the bytes it wrote to the file (holes excluded); what it throws
    ///     stops the copy.
    /// - Returns: The number of content bytes (holes included).
    public func copyContent(to fd: Int32, sparse: Bool = false, progress: ((_ written: Int64) throws -> Void)? = nil)
        throws -> Int64
    {
        if sparseCursor != nil { return try copySparseContent(to: fd, skipZeros: sparse, progress: progress) }
        let total = contentRemaining
        let start = sparse ? try TarReader.position(of: fd) : nil
        let endsInHole = try copyStored(total, to: fd, at: start, skipZeros: sparse, progress: progress)
        if let start {
            // The file's size: a trailing hole was never written, so the file is shorter until it is extended.
            try TarReader.setEnd(of: fd, at: start + total, truncate: endsInHole)
        }
        return total
    }

    /// Copies the next `count` bytes of stored data (at most ``contentRemaining``) to `fd`: at `fileOffset`
    /// onward with `pwrite` (blocks of zeros skipped with `skipZeros`), or at the descriptor's offset when nil.
    /// - Returns: Whether the last block was skipped as zeros.
    func copyStored(_ count: Int64, to fd: Int32, at fileOffset: Int64?, skipZeros: Bool,
                    progress: ((_ written: Int64) throws -> Void)?) throws -> Bool
    {
        var copied: Int64 = 0
        var endsInHole = false
        while copied < count {
            if bufferEnd == bufferStart {
                guard try fill() else { throw contentTruncated() }
            }
            let n = Int(min(Int64(bufferEnd - bufferStart), count - copied))
            let chunk = UnsafeRawBufferPointer(start: buffer.baseAddress! + bufferStart, count: n)
            let written: Int64
            if let fileOffset, skipZeros {
                (written, endsInHole) = try TarReader.writeSparse(chunk, to: fd, at: fileOffset + copied)
            } else {
                try TarReader.writeAll(chunk, to: fd, at: fileOffset.map { $0 + copied })
                (written, endsInHole) = (Int64(n), false)
            }
            bufferStart += n
            contentRemaining -= Int64(n)
            offset += Int64(n)
            copied += Int64(n)
            try progress?(written)
        }
        return endsInHole
    }

    /// The descriptor's file offset.
    static func position(of fd: Int32) throws -> Int64 {
        let position = lseek(fd, 0, SEEK_CUR)
        guard position >= 0 else { throw TarError.io(SystemError("lseek", errno: errno)) }
        return Int64(position)
    }

    /// Moves the descriptor's offset to `end`, first setting the file's size there with `truncate`.
    static func setEnd(of fd: Int32, at end: Int64, truncate: Bool) throws {
        if truncate && ftruncate(fd, off_t(end)) != 0 { throw TarError.io(SystemError("ftruncate", errno: errno)) }
        if lseek(fd, off_t(end), SEEK_SET) < 0 { throw TarError.io(SystemError("lseek", errno: errno)) }
    }

    /// The granule of ``copyContent(to:sparse:progress:)``'s holes: the usual filesystem block.
    public static let sparseBlockSize = 4096

    /// Writes the blocks of `bytes` that are not all zeros at `fileOffset` onward, skipping the others.
    /// - Returns: Bytes written, and whether the last block was skipped.
    static func writeSparse(_ bytes: UnsafeRawBufferPointer, to fd: Int32, at fileOffset: Int64) throws
        -> (written: Int64, endsInHole: Bool)
    {
        var written: Int64 = 0
        var run: Int?  // start of the pending run of non-zero blocks
        var lastWasZero = false
        var index = 0
        while index < bytes.count {
            let misalignment = Int((fileOffset + Int64(index)) % Int64(sparseBlockSize))
            let end = min(bytes.count, index + sparseBlockSize - misalignment)
            lastWasZero = swshim_is_zero(bytes.baseAddress! + index, end - index) != 0
            if lastWasZero {
                if let start = run {
                    try writeAll(UnsafeRawBufferPointer(rebasing: bytes[start..<index]), to: fd,
                                 at: fileOffset + Int64(start))
                    written += Int64(index - start)
                    run = nil
                }
            } else if run == nil {
                run = index
            }
            index = end
        }
        if let start = run {
            try writeAll(UnsafeRawBufferPointer(rebasing: bytes[start...]), to: fd, at: fileOffset + Int64(start))
            written += Int64(bytes.count - start)
        }
        return (written, lastWasZero)
    }

    /// Writes all of `bytes`, at `fileOffset` (`pwrite`) or at the descriptor's offset (`write`) when nil.
    static func writeAll(_ bytes: UnsafeRawBufferPointer, to fd: Int32, at fileOffset: Int64?) throws {
        var done = 0
        while done < bytes.count {
            let pointer = bytes.baseAddress! + done, count = bytes.count - done
            let w = if let fileOffset { pwrite(fd, pointer, count, off_t(fileOffset + Int64(done))) } else { Glibc.write(fd, pointer, count) }
            if w < 0 {
                if errno == EINTR { continue }
                throw TarError.io(SystemError(fileOffset == nil ? "write" : "pwrite", errno: errno))
            }
            done += w
        }
    }

    /// Reads the rest of the current entry's content into memory, for small files.
    /// - Throws: ``TarError/limitExceeded(_:)`` when it is larger than `maxSize`.
    public func readAllContent(maxSize: Int = 1 << 20) throws -> [UInt8] {
        let remaining = sparseCursor.map { $0.map.realSize - $0.position } ?? contentRemaining
        guard remaining <= Int64(maxSize) else {
            throw TarError.limitExceeded("content of \(current?.path ?? "entry") is larger than \(maxSize) bytes")
        }
        var bytes = [UInt8](repeating: 0, count: Int(remaining))
        var filled = 0
        while filled < bytes.count {
            filled += try bytes.withUnsafeMutableBytes {
                try readContent(into: UnsafeMutableRawBufferPointer(rebasing: $0[filled...]))
            }
        }
        return bytes
    }

    // MARK: - Stream plumbing

    func contentTruncated() -> TarError {
        .truncated("stream ends inside the content of \(current?.path ?? "an entry") (\(contentRemaining) bytes missing)")
    }

    /// Reads more from the source into the internal buffer. - Returns: false at the end of the source.
    private func fill() throws -> Bool {
        if sourceEnded { return false }
        if bufferStart == bufferEnd {
            bufferStart = 0
            bufferEnd = 0
        } else if bufferStart > 0 {
            let left = bufferEnd - bufferStart
            buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + bufferStart, byteCount: left)
            bufferStart = 0
            bufferEnd = left
        }
        let n = try source.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[bufferEnd...]))
        if n == 0 {
            sourceEnded = true
            return false
        }
        bufferEnd += n
        return true
    }

    func readHeaderBlock() throws {
        var filled = 0
        while filled < TarHeader.blockSize {
            if bufferEnd == bufferStart {
                guard try fill() else {
                    if filled == 0 {
                        throw TarError.truncated("stream ends at offset \(offset) without an end-of-archive block")
                    }
                    throw TarError.truncated("stream ends inside a header block at offset \(offset)")
                }
            }
            let n = min(TarHeader.blockSize - filled, bufferEnd - bufferStart)
            let start = bufferStart
            header.withUnsafeMutableBytes { raw in
                (raw.baseAddress! + filled).copyMemory(from: buffer.baseAddress! + start, byteCount: n)
            }
            bufferStart += n
            filled += n
        }
        offset += Int64(TarHeader.blockSize)
    }

    private func skip(_ count: Int64) throws {
        var left = count
        while left > 0 {
            if bufferEnd == bufferStart {
                guard try fill() else { throw TarError.truncated("stream ends \(left) bytes before the next header") }
            }
            let n = Int(min(Int64(bufferEnd - bufferStart), left))
            bufferStart += n
            left -= Int64(n)
            offset += Int64(n)
        }
    }

    private func readMetadata(size: Int64, what: String, at headerOffset: Int64) throws -> [UInt8] {
        guard size <= Int64(limits.maxMetadataSize) else {
            throw TarError.limitExceeded("\(what) at offset \(headerOffset) is \(size) bytes (limit \(limits.maxMetadataSize))")
        }
        var data = [UInt8](repeating: 0, count: Int(size))
        var filled = 0
        while filled < data.count {
            if bufferEnd == bufferStart {
                guard try fill() else { throw TarError.truncated("stream ends inside the \(what) at offset \(headerOffset)") }
            }
            let n = min(data.count - filled, bufferEnd - bufferStart)
            let start = bufferStart
            data.withUnsafeMutableBytes { raw in
                (raw.baseAddress! + filled).copyMemory(from: buffer.baseAddress! + start, byteCount: n)
            }
            bufferStart += n
            filled += n
            offset += Int64(n)
        }
        try skip(TarReader.padding(size))
        return data
    }

    // MARK: - Field decoding

    func number(_ range: Range<Int>, _ field: String, at headerOffset: Int64) throws -> Int64? {
        switch TarHeader.number(header, range) {
        case let .success(value): return value
        case let .failure(error): throw TarError.malformed(offset: headerOffset, "\(field) field: \(error.text)")
        }
    }

    func paxInteger(_ value: [UInt8], _ key: String, at headerOffset: Int64) throws -> Int64 {
        guard let number = PaxRecords.integer(value) else {
            throw TarError.malformed(offset: headerOffset, "PAX \(key) is not a non-negative decimal number")
        }
        return number
    }

    private func text(_ bytes: [UInt8], _ field: String, at headerOffset: Int64, lossy: Bool = false) throws -> String {
        if let string = String(validating: bytes, as: UTF8.self) {
            guard !string.utf8.contains(0) else { throw TarError.malformed(offset: headerOffset, "\(field) contains NUL") }
            return string
        }
        if lossy { return String(decoding: bytes, as: UTF8.self) }
        throw TarError.malformed(offset: headerOffset, "\(field) is not valid UTF-8")
    }

    static func padding(_ size: Int64) -> Int64 {
        let rest = size % Int64(TarHeader.blockSize)
        return rest == 0 ? 0 : Int64(TarHeader.blockSize) - rest
    }

    static func describe(_ byte: UInt8) -> String {
        byte >= 0x21 && byte < 0x7f ? String(UnicodeScalar(byte)) : "\\x" + String(byte, radix: 16)
    }
}
