import HTTPServer
import Registry
import RegistryClient

/// `Range` of a blob GET (server), `Content-Range` of an upload chunk (server), and the `Range` and
/// `Content-Range` a registry answers (client). Every accepted range must lie inside the representation.
///
/// Input: 8 bytes of representation length (its top bit cleared; bit 62 too when the first byte is even, so that
/// small lengths are common), then the header value.
enum RangeFuzzing {
    static func run(_ data: UnsafeRawBufferPointer) {
        var input = FuzzInput(data)
        var length = Int64(bitPattern: input.integer(8) & 0x7FFF_FFFF_FFFF_FFFF)
        if length & 1 == 0 { length %= 4096 }
        let header = input.text(0)

        switch ByteRange.resolve(header, length: length) {
        case .whole, .unsatisfiable:
            break
        case .partial(let range):
            check(range.lowerBound >= 0 && range.upperBound < length, "range \(range) outside 0..<\(length)")
        }
        // A small body is sliced for real: a range outside it would trap in the slice.
        let small = Int(length % 97)
        let response = ByteRange.apply(header, to: Response(status: .ok, body: .bytes([UInt8](repeating: 7, count: small))))
        check(response.body.count <= Int64(small), "range response longer than its body")

        if let chunk = UploadChunkRange(header) {
            check(chunk.first >= 0 && chunk.last >= chunk.first, "chunk range \(chunk.first)-\(chunk.last)")
            check(chunk.count == chunk.last - chunk.first + 1, "chunk count \(chunk.count)")
        }
        if let held = RangeHeaders.uploadedLength(header) {
            check(held > 0, "upload length \(held)")
        }
        if let start = RangeHeaders.contentRangeStart(header) {
            check(start >= 0, "content range start \(start)")
        }
    }
}
