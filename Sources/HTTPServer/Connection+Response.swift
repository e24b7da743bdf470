import SystemIO

extension Connection {
    /// Applies `Range` (RFC 9110 §14) to a complete 200 response that offers `Accept-Ranges: bytes`.
    func applyRange(_ response: Response, for head: RequestHead) -> Response {
        if head.method == "GET", response.status.code == 200, let range = head.headers["Range"],
           response.headers["Accept-Ranges"] == "bytes" {
            return ByteRange.apply(range, to: response)
        }
        return response
    }

    /// Frames and writes a response (with `Range` already applied, a stream body already opened into
    /// `streamReader`), leaving the body out for HEAD.
    /// - Parameter sent: the body bytes sent, counted as they go (a streamed body can fail part-way).
    func send(_ response: Response, for head: RequestHead, close: Bool, sent: inout Int64) async throws {
        loop.assertInLoop()
        let isHead = head.method == "HEAD"
        let length: Int64
        if isHead, let declared = response.headers["Content-Length"].flatMap({ Int64($0) }) {
            length = declared
        } else {
            length = response.body.count
        }
        let inline: [UInt8]? = if case .bytes(let b) = response.body, !isHead, !response.status.forbidsBody { b } else { nil }
        // The head and an in-memory body go out in one buffer and one send.
        var bytes = serializeHead(response, method: head.method, versionMinor: head.versionMinor, close: close,
                                  contentLength: length, reserving: inline?.count ?? 0)
        if isHead || response.status.forbidsBody {
            try await write(bytes)
            return
        }
        switch response.body {
        case .empty:
            try await write(bytes)
        case .bytes(let body):
            bytes.append(contentsOf: body)
            try await write(bytes)
            sent = Int64(body.count)
        case .file(let file, let offset, let count):
            try await write(bytes)
            try await sendFile(file, offset: offset, length: count)
            sent = count
        case .stream(_, let range):
            try await write(bytes)
            try await sendStream(expected: Int64(range.count), sent: &sent)
        }
    }

    func bodyBytes(_ response: Response) -> [UInt8]? {
        if case .bytes(let b) = response.body { return b }
        return nil
    }

    /// The status line and header section. Content-Length, Date and Connection are the engine's to set.
    /// - Parameter reserving: body bytes the caller appends to the same buffer.
    func serializeHead(_ response: Response, method: String, versionMinor: Int, close: Bool, contentLength: Int64,
                       reserving bodyCount: Int = 0) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(512 + bodyCount)
        out.append(contentsOf: "HTTP/1.1 ".utf8)
        Self.appendDecimal(Int64(response.status.code), to: &out)
        out.append(0x20)
        Self.appendUTF8(response.status.reason, to: &out)
        out.append(0x0D)
        out.append(0x0A)
        response.headers.appendWire(to: &out)
        if !response.status.forbidsBody {
            out.append(contentsOf: "Content-Length: ".utf8)
            Self.appendDecimal(contentLength, to: &out)
            out.append(0x0D)
            out.append(0x0A)
        }
        out.append(contentsOf: loop.dateHeader)
        if close {
            out.append(contentsOf: "Connection: close\r\n".utf8)
        } else if versionMinor == 0 {
            out.append(contentsOf: "Connection: keep-alive\r\n".utf8)
        }
        out.append(0x0D)
        out.append(0x0A)
        return out
    }

    private static func appendUTF8(_ text: String, to out: inout [UInt8]) {
        var text = text
        text.withUTF8 { out.append(contentsOf: $0) }
    }

    /// Appends a non-negative number in decimal, without building a String.
    static func appendDecimal(_ value: Int64, to out: inout [UInt8]) {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: enough for any Int64
        var n = UInt64(max(value, 0))
        withUnsafeMutableBytes(of: &digits) { buffer in
            var i = buffer.count
            repeat {
                i -= 1
                buffer[i] = UInt8(truncatingIfNeeded: 0x30 + n % 10)
                n /= 10
            } while n > 0
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[i...]))
        }
    }
}
