import BlobStore
import OCIModel

/// Everything an S3 upload needs to continue on any replica, carried in `UploadState.data` (the metadata store
/// persists it with the session after every request).
///
/// The bytes received so far are: parts `1…parts.count` of the multipart upload `multipartID` (`partBytes` in
/// all), then the tail (bytes that did not fill a part: inline here when small, else an object). `hash` is the
/// SHA-256 of all of them, so commit verifies the digest without reading anything back.
struct S3UploadState: Equatable {
    enum Tail: Equatable {
        case none
        /// Small tails ride in the state itself: no object to write, read or delete.
        case inline([UInt8])
        /// A tail object (`S3Layout.uploadTail(id, size:)`, `size` the upload's size when it was written).
        case object(size: Int64, length: Int64)

        var length: Int64 {
            switch self {
            case .none: 0
            case .inline(let bytes): Int64(bytes.count)
            case .object(_, let length): length
            }
        }
    }

    /// The multipart upload, created with the first full part; nil before.
    var multipartID: String?
    /// The parts' ETags, part `i + 1` at index `i`; nil when they did not fit in the state (then commit lists
    /// the parts, see ``partCount``).
    var partETags: [String]?
    var partCount: Int
    /// Bytes in the parts.
    var partBytes: Int64
    var tail: Tail
    /// A tail object the previous state named, superseded by this one: deleted once this state is in use.
    var supersededTailSize: Int64?
    var hash: ResumableSHA256
    /// When the upload began (nanoseconds since the epoch).
    var started: Int64

    var size: Int64 { partBytes + tail.length }

    init(started: Int64) {
        multipartID = nil
        partETags = []
        partCount = 0
        partBytes = 0
        tail = .none
        supersededTailSize = nil
        hash = ResumableSHA256()
        self.started = started
    }

    static func == (a: S3UploadState, b: S3UploadState) -> Bool { a.encoded() == b.encoded() }

    // MARK: - Encoding

    /// Format 1: `"S3U" 1 | started i64 | multipart id (u16 length + bytes) | part count u32 | part bytes u64 |
    /// ETags flag u8 (+ u16 length + bytes each) | tail kind u8 (+ u32 length + bytes, or size u64 + length u64)
    /// | superseded flag u8 (+ u64) | hash state (u16 length + bytes)`, integers little-endian.
    static let magic: [UInt8] = Array("S3U".utf8) + [1]
    /// UploadState allows 64 KiB; beyond this the ETags are left out (commit lists the parts instead).
    static let budget = 60 * 1024
    /// Tails up to this size are inline.
    static let inlineTailLimit = 8 * 1024

    func encoded() -> [UInt8] {
        let full = encode(includingETags: true)
        return full.count <= Self.budget ? full : encode(includingETags: false)
    }

    private func encode(includingETags: Bool) -> [UInt8] {
        var out = Self.magic
        put(UInt64(bitPattern: started), &out)
        putBytes(Array((multipartID ?? "").utf8), lengthBytes: 2, &out)
        put(UInt32(partCount), &out)
        put(UInt64(partBytes), &out)
        if includingETags, let partETags {
            out.append(1)
            for etag in partETags { putBytes(Array(etag.utf8), lengthBytes: 2, &out) }
        } else {
            out.append(0)
        }
        switch tail {
        case .none: out.append(0)
        case .inline(let bytes):
            out.append(1)
            putBytes(bytes, lengthBytes: 4, &out)
        case .object(let size, let length):
            out.append(2)
            put(UInt64(size), &out)
            put(UInt64(length), &out)
        }
        if let supersededTailSize {
            out.append(1)
            put(UInt64(supersededTailSize), &out)
        } else {
            out.append(0)
        }
        putBytes(hash.state(), lengthBytes: 2, &out)
        return out
    }

    /// Decodes a state, checking that its parts agree with each other.
    /// - Returns: nil for anything malformed, or whose size is not `expectedSize`.
    static func decode(_ data: [UInt8], expectedSize: Int64) -> S3UploadState? {
        var reader = Reader(bytes: data)
        guard reader.take(4) == magic, let started = reader.integer(UInt64.self),
              let id = reader.lengthPrefixed(2), let partCount = reader.integer(UInt32.self),
              let partBytes = reader.integer(UInt64.self), partCount <= 10_000, partBytes < UInt64(Int64.max),
              let etagFlag = reader.integer(UInt8.self) else { return nil }
        var state = S3UploadState(started: Int64(bitPattern: started))
        state.multipartID = id.isEmpty ? nil : String(decoding: id, as: UTF8.self)
        state.partCount = Int(partCount)
        state.partBytes = Int64(partBytes)
        switch etagFlag {
        case 0: state.partETags = nil
        case 1:
            var etags: [String] = []
            for _ in 0..<partCount {
                guard let etag = reader.lengthPrefixed(2) else { return nil }
                etags.append(String(decoding: etag, as: UTF8.self))
            }
            state.partETags = etags
        default: return nil
        }
        switch reader.integer(UInt8.self) {
        case 0: state.tail = .none
        case 1:
            guard let bytes = reader.lengthPrefixed(4), bytes.count <= inlineTailLimit else { return nil }
            state.tail = .inline(bytes)
        case 2:
            guard let size = reader.integer(UInt64.self), let length = reader.integer(UInt64.self),
                  size < UInt64(Int64.max), length <= size else { return nil }
            state.tail = .object(size: Int64(size), length: Int64(length))
        default: return nil
        }
        switch reader.integer(UInt8.self) {
        case 0: break
        case 1:
            guard let size = reader.integer(UInt64.self), size < UInt64(Int64.max) else { return nil }
            state.supersededTailSize = Int64(size)
        default: return nil
        }
        guard let hashState = reader.lengthPrefixed(2), let hash = ResumableSHA256(state: hashState),
              reader.atEnd else { return nil }
        state.hash = hash
        // The parts agree with each other: a multipart id when there are parts, an ETag per part, every byte
        // hashed, and a tail object written when the upload was exactly as long as it says.
        guard state.partCount == 0 || state.multipartID != nil, state.partCount > 0 || state.partBytes == 0,
              state.partETags.map({ $0.count == state.partCount }) ?? true,
              hash.byteCount == state.size, state.size == expectedSize else { return nil }
        if case .object(let size, _) = state.tail, size != state.size { return nil }
        return state
    }

    private func put<T: FixedWidthInteger>(_ value: T, _ out: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
    }

    private func putBytes(_ bytes: [UInt8], lengthBytes: Int, _ out: inout [UInt8]) {
        if lengthBytes == 2 { put(UInt16(bytes.count), &out) } else { put(UInt32(bytes.count), &out) }
        out.append(contentsOf: bytes)
    }

    private struct Reader {
        let bytes: [UInt8]
        var index = 0

        var atEnd: Bool { index == bytes.count }

        mutating func take(_ count: Int) -> [UInt8]? {
            guard count >= 0, bytes.count - index >= count else { return nil }
            defer { index += count }
            return Array(bytes[index..<index + count])
        }

        mutating func integer<T: FixedWidthInteger>(_: T.Type) -> T? {
            guard let raw = take(MemoryLayout<T>.size) else { return nil }
            var value = T.zero
            for (i, byte) in raw.enumerated() { value |= T(byte) << (8 * i) }
            return value
        }

        mutating func lengthPrefixed(_ lengthBytes: Int) -> [UInt8]? {
            let length: Int? = lengthBytes == 2 ? integer(UInt16.self).map(Int.init) : integer(UInt32.self).map(Int.init)
            guard let length else { return nil }
            return take(length)
        }
    }
}
