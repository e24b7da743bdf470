import Glibc

extension TestClient {
    /// Sends one whole request and reads its response.
    ///
    /// Adds `Host` (unless `headers` has one) and `Content-Length` when there is a body or the method is
    /// `PUT`, `POST` or `PATCH` (unless `headers` has one, so hostile tests can lie about it). If the server
    /// answers early and closes while the body is still being sent (say 413 for an oversized manifest), the
    /// send error is swallowed and the response that did arrive is returned.
    ///
    /// - Parameters:
    ///   - method: The request method; for `HEAD` the response is read without a body.
    ///   - target: The request-target, path and query, sent as is (no encoding).
    ///   - headers: Extra header fields, in order.
    ///   - body: The body bytes.
    /// - Returns: The parsed response.
    /// - Throws: `SystemError` or `ClosedError` when no response can be read.
    public func request(_ method: String, _ target: String, headers: [(String, String)] = [],
                        body: [UInt8] = []) throws -> Response {
        func has(_ name: String) -> Bool { headers.contains { $0.0.lowercased() == name } }
        var head = "\(method) \(target) HTTP/1.1\r\n"
        if !has("host") { head += "Host: 127.0.0.1\r\n" }
        if !has("content-length") && !has("transfer-encoding")
            && (!body.isEmpty || method == "PUT" || method == "POST" || method == "PATCH") {
            head += "Content-Length: \(body.count)\r\n"
        }
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "\r\n"
        var sendError: (any Error)?
        do {
            try send(Array(head.utf8))
            if !body.isEmpty { try send(body) }
        } catch {
            sendError = error
        }
        do {
            return try readResponse(head: method == "HEAD")
        } catch {
            throw sendError ?? error
        }
    }
}
