import Glibc
import OCIModel
import Synchronization
import SystemIO

/// The store's write-ahead log of metadata changes (`journal` under the root), as databases keep one: a change is
/// appended here and applied to the tree at once, and it is acknowledged once the log is durable (one `fdatasync`,
/// shared by every writer waiting at that moment, see `GroupCommit`). The tree's own writes are not flushed one by
/// one: a checkpoint flushes the whole tree (`syncfs`) and empties the log, when the log grows past
/// `checkpointBytes`, before anything is deleted (so that a replay never brings back what a later deletion
/// removed, nor names what the collector took), and when the store closes. After a crash the store replays the
/// log onto the tree before anything reads it (`BlobStore.replayJournal`).
///
/// Why: a manifest push made four ordered flushes (its data, the blob's entry, the revision link, the tag), each
/// a journal commit of the filesystem (1–5 ms on this machine's disk); with the log it makes one, whatever the
/// number of files, and a mount one. The guarantees are those of before: an acknowledged change survives a crash,
/// and a crash never leaves a tag, revision or link naming what is not there (the replay rewrites every file a
/// change made, the manifest's bytes included, from the log).
///
/// A record: payload length (UInt32, little-endian), CRC-32C of the payload (UInt32), payload. A torn tail (a
/// crash during an append) fails its length or checksum; the replay stops there, and what follows it was never
/// acknowledged.
final class MetadataJournal: Sendable {
    /// A checkpoint follows the append that takes the log past this size.
    static let checkpointBytes: Int64 = 8 << 20
    /// Larger lengths are a damaged log, not a record (a manifest is at most 64 MiB in this store).
    static let maximumRecordBytes = 80 << 20

    let path: String
    private let fd: Int32
    private let commit: GroupCommit
    private struct State {
        /// Bytes in the file.
        var size: Int64
        /// Every byte appended since the store opened, across checkpoints: positions stay comparable.
        var appended: UInt64 = 0
    }
    private let state: Mutex<State>
    /// Every position up to this one is durable (in the log, or in the tree by a checkpoint).
    private let durable = Atomic<UInt64>(0)

    /// Opens (creating it, durably) the log at `path`.
    init(path: String) throws(SystemError) {
        self.path = path
        let existed = FileSystem.exists(path)
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SystemError("open \(path)", errno: errno) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let e = errno
            close(fd)
            throw SystemError("fstat \(path)", errno: e)
        }
        do throws(SystemError) {
            if !existed { try FileSystem.syncDirectory(FileSystem.parent(of: path)) }
            commit = try GroupCommit(syncing: fd)
        } catch {
            close(fd)
            throw error
        }
        state = Mutex(State(size: Int64(st.st_size)))
    }

    deinit { close(fd) }

    /// Whether the log holds records (a checkpoint has something to do).
    var isEmpty: Bool { state.withLock { $0.size == 0 } }

    /// Whether the log has grown past `checkpointBytes`.
    var wantsCheckpoint: Bool { state.withLock { $0.size >= Self.checkpointBytes } }

    /// The position after the last record appended.
    var end: UInt64 { state.withLock { $0.appended } }

    /// Appends a record (not yet durable: see `waitDurable`). Call it holding the store's metadata lock, and apply
    /// the change to the tree under the same hold, so that the log's order is the tree's.
    /// - Returns: the position to wait for.
    func append(_ record: JournalRecord) throws(SystemError) -> UInt64 {
        let payload = record.encoded()
        var frame: [UInt8] = []
        frame.reserveCapacity(payload.count + 8)
        frame.appendLittleEndian(UInt32(payload.count))
        frame.appendLittleEndian(CRC32C.checksum(payload))
        frame += payload
        return try state.withLock { state throws(SystemError) -> UInt64 in
            var offset = 0
            while offset < frame.count {
                let n = frame.withUnsafeBytes { raw in
                    pwrite(fd, raw.baseAddress! + offset, raw.count - offset, off_t(state.size) + off_t(offset))
                }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else {
                    let error = SystemError("write \(path)", errno: n < 0 ? errno : ENOSPC)
                    // A partial record would hide every later one from a replay: cut it off.
                    _ = ftruncate(fd, off_t(state.size))
                    throw error
                }
                offset += n
            }
            state.size += Int64(frame.count)
            state.appended += UInt64(frame.count)
            return state.appended
        }
    }

    /// Takes back the last record appended, whose change could not be applied (a full disk): the client is told
    /// it failed, and a replay must not make it afterwards. Call it holding the store's metadata lock, as the
    /// append. Cutting a file short needs no space.
    func retract(_ position: UInt64, size recordSize: Int) throws(SystemError) {
        try state.withLock { state throws(SystemError) in
            guard state.appended == position, state.size >= Int64(recordSize) else { return }
            guard ftruncate(fd, off_t(state.size - Int64(recordSize))) == 0 else {
                throw SystemError("ftruncate \(path)", errno: errno)
            }
            state.size -= Int64(recordSize)
            state.appended -= UInt64(recordSize)
        }
    }

    /// The bytes `append` writes for `record` (for `retract`).
    static func frameSize(_ record: JournalRecord) -> Int { record.encoded().count + 8 }

    /// Returns once every record up to `position` is durable.
    func waitDurable(_ position: UInt64) throws(SystemError) {
        if durable.load(ordering: .acquiring) >= position { return }
        try commit.flush(files: [fd], directories: [])
        _ = durable.max(position, ordering: .releasing)
    }

    /// Empties the log once the tree holds everything in it durably (the caller flushed it), durably: a replay
    /// must not apply these records again over later changes. Call it holding the store's metadata lock.
    func reset() throws(SystemError) {
        try state.withLock { state throws(SystemError) in
            guard state.size > 0 else { return }
            guard ftruncate(fd, 0) == 0 else { throw SystemError("ftruncate \(path)", errno: errno) }
            guard fsync(fd) == 0 else { throw SystemError("fsync \(path)", errno: errno) }
            state.size = 0
            _ = durable.max(state.appended, ordering: .releasing)
        }
    }

    /// The records in the log, in order, up to the first damaged one (a torn tail).
    /// - Returns: the records, and the bytes they span (what follows is cut off by the next `reset`).
    func records() throws(SystemError) -> (records: [JournalRecord], validBytes: Int64) {
        let size = state.withLock { $0.size }
        var records: [JournalRecord] = []
        var offset: Int64 = 0
        while offset + 8 <= size {
            let header = try read(at: offset, count: 8)
            let length = Int(header.littleEndianUInt32(at: 0))
            let checksum = header.littleEndianUInt32(at: 4)
            guard length <= Self.maximumRecordBytes, offset + 8 + Int64(length) <= size else { break }
            let payload = try read(at: offset + 8, count: length)
            guard CRC32C.checksum(payload) == checksum, let record = JournalRecord(decoding: payload) else { break }
            records.append(record)
            offset += 8 + Int64(length)
        }
        return (records, offset)
    }

    private func read(at offset: Int64, count: Int) throws(SystemError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = bytes.withUnsafeMutableBytes { raw in
                pread(fd, raw.baseAddress! + done, count - done, off_t(offset) + off_t(done))
            }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw SystemError("read \(path)", errno: n < 0 ? errno : EIO) }
            done += n
        }
        return bytes
    }
}

/// A change to the store's metadata, as `MetadataJournal` records it.
enum JournalRecord: Equatable {
    /// A repository links a stored blob (a mount, or an upload's commit).
    case link(RepositoryName, Digest)
    /// A manifest stored in a repository: its bytes, its revision, and its tag and referrer entry when it has them.
    case manifest(ManifestWrite)

    struct ManifestWrite: Equatable {
        let name: RepositoryName
        let digest: Digest
        let mediaType: String
        let bytes: [UInt8]
        let tag: Tag?
        let subject: Digest?
        /// The referrer entry's bytes (a descriptor, JSON), with `subject`.
        let referrer: [UInt8]?
    }

    private static let linkKind: UInt8 = 1
    private static let manifestKind: UInt8 = 2

    func encoded() -> [UInt8] {
        var out: [UInt8] = []
        func field(_ bytes: some Collection<UInt8>) {
            out.appendLittleEndian(UInt32(bytes.count))
            out += bytes
        }
        switch self {
        case .link(let name, let digest):
            out.append(Self.linkKind)
            field(name.value.utf8)
            field(digest.description.utf8)
        case .manifest(let write):
            out.reserveCapacity(write.bytes.count + 256)
            out.append(Self.manifestKind)
            field(write.name.value.utf8)
            field(write.digest.description.utf8)
            field(write.mediaType.utf8)
            field((write.tag?.value ?? "").utf8)
            field((write.subject?.description ?? "").utf8)
            field(write.referrer ?? [])
            field(write.bytes)
        }
        return out
    }

    /// Decodes a payload; nil when it is not a record this version writes.
    init?(decoding payload: [UInt8]) {
        var offset = 1
        func field() -> ArraySlice<UInt8>? {
            guard offset + 4 <= payload.count else { return nil }
            let length = Int(payload.littleEndianUInt32(at: offset))
            guard length <= payload.count - offset - 4 else { return nil }
            defer { offset += 4 + length }
            return payload[(offset + 4)..<(offset + 4 + length)]
        }
        func text() -> String? { field().map { String(decoding: $0, as: UTF8.self) } }
        guard let kind = payload.first else { return nil }
        switch kind {
        case Self.linkKind:
            guard let nameText = text(), let digestText = text(),
                  let name = try? RepositoryName(validating: nameText),
                  let digest = try? Digest(parsing: digestText) else { return nil }
            self = .link(name, digest)
        case Self.manifestKind:
            guard let nameText = text(), let digestText = text(), let mediaType = text(), let tagText = text(),
                  let subjectText = text(), let referrer = field(), let bytes = field(),
                  let name = try? RepositoryName(validating: nameText),
                  let digest = try? Digest(parsing: digestText) else { return nil }
            let tag = tagText.isEmpty ? nil : try? Tag(validating: tagText)
            let subject = subjectText.isEmpty ? nil : try? Digest(parsing: subjectText)
            guard tagText.isEmpty || tag != nil, subjectText.isEmpty || subject != nil else { return nil }
            self = .manifest(ManifestWrite(name: name, digest: digest, mediaType: mediaType, bytes: Array(bytes),
                                           tag: tag, subject: subject, referrer: referrer.isEmpty ? nil : Array(referrer)))
        default:
            return nil
        }
        guard offset == payload.count else { return nil }
    }
}

/// CRC-32C (Castagnoli), the checksum of `MetadataJournal`'s records: it tells a torn or damaged record from a
/// whole one, not an attacker's (the log is the store's own file, 0600).
enum CRC32C {
    private static let table: [UInt32] = (0..<256).map { index -> UInt32 in
        var crc = UInt32(index)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        return crc
    }

    static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        table.withUnsafeBufferPointer { table in
            for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        }
        return ~crc
    }
}

extension [UInt8] {
    fileprivate mutating func appendLittleEndian(_ value: UInt32) {
        for shift in stride(from: 0, to: 32, by: 8) { append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
    }

    fileprivate func littleEndianUInt32(at offset: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(self[offset + $1]) << UInt32(8 * $1) }
    }
}
