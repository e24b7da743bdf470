import SystemIO

extension Connection {
    /// Frames and writes a response; applies `Range` (RFC 9110 §14) to complete 200 responses that offer
    /// `Accept-Ranges: bytes`, and leaves the body out for HEAD.
    /// - Returns: the body bytes sent.
    func send(_ original: Response, for head: RequestHead, close: Bool) async throws -> Int64 {
        var response = original
        if head.method == "GET", response.status.code == 200, let range = head.headers["Range"],
           response.headers["Accept-Ranges"] == "bytes" {
            response = ByteRange.apply(range, to: response)
        }
        let isHead = head.method == "HEAD"
        let length: Int64
        if isHead, let declared = response.headers["Content-Length"].flatMap({ Int64($0) }) {
            length = declared
        } else {
            length = response.body.count
        }
        var bytes = serializeHead(response, method: head.method, versionMinor: head.versionMinor, close: close,
                                  contentLength: length)
        if isHead || response.status.forbidsBody {
            try await write(bytes)
            return 0
        }
        switch response.body {
        case .empty:
            try await write(bytes)
        case .bytes(let body):
            bytes.append(contentsOf: body)
            try await write(bytes)
        case .file(let file, let offset, let count):
            try await write(bytes)
            try await sendFile(file, offset: offset, length: count)
        }
        return response.body.count
    }

    func bodyBytes(_ response: Response) -> [UInt8]? {
        if case .bytes(let b) = response.body { return b }
        return nil
    }

    /// The status line and header section. Content-Length, Date and Connection are the engine's to set.
    func serializeHead(_ response: Response, method: String, versionMinor: Int, close: Bool, contentLength: Int64) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        out.append(contentsOf: "HTTP/1.1 \(response.status.code) \(response.status.reason)\r\n".utf8)
        for (name, value) in response.headers {
            if HTTPHeaders.equalNames(name, "Content-Length") || HTTPHeaders.equalNames(name, "Connection")
                || HTTPHeaders.equalNames(name, "Date") || HTTPHeaders.equalNames(name, "Transfer-Encoding") {
                continue
            }
            // A value with CR or LF would split the response (header injection): drop such fields.
            if value.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A }) || name.utf8.contains(where: { $0 <= 0x20 || $0 == 0x3A }) {
                continue
            }
            out.append(contentsOf: name.utf8)
            out.append(0x3A)
            out.append(0x20)
            out.append(contentsOf: value.utf8)
            out.append(0x0D)
            out.append(0x0A)
        }
        if !response.status.forbidsBody {
            out.append(contentsOf: "Content-Length: \(contentLength)\r\n".utf8)
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
}
