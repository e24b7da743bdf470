import COpenSSL
import OCIModel

/// A client for one S3 bucket over libcurl, signed with SigV4 (libcurl's `CURLOPT_AWS_SIGV4` for requests, a hand
/// implementation for presigned URLs). No SDK, no Foundation.
///
/// Every call is synchronous: it blocks its thread until S3 answers (run it on a blocking pool, never an event
/// loop). Calls may come from any number of threads at once; each takes a pooled easy handle, so connections are
/// reused across calls. Bodies stream: a GET hands the object to a callback in pieces as they arrive, a streamed
/// PUT or UploadPart pulls its body from a callback; neither holds an object in memory.
///
/// ```swift
/// let s3 = try S3Client(S3Configuration.resolve(endpoint: "http://127.0.0.1:7480", bucket: "registry"))
/// _ = try s3.putObject("a/b", bytes: Array("hello".utf8))
/// try s3.getObject("a/b", range: .from(1, through: 3)) { chunk in print(chunk.count) }
/// ```
public final class S3Client: Sendable {
    public let configuration: S3Configuration
    let transport: S3Transport

    /// - Throws: ``S3ConfigurationError`` when the endpoint is malformed.
    public init(_ configuration: S3Configuration) throws(S3ConfigurationError) {
        self.configuration = configuration
        transport = try S3Transport(configuration)
    }

    // MARK: - Objects

    /// HeadObject: the object's size and ETag.
    /// - Returns: nil when there is no such object.
    public func headObject(_ key: String) throws(S3Error) -> S3ObjectInfo? {
        let response = try transport.perform(S3Request(method: "HEAD", key: key))
        if response.status == 404 { return nil }
        try Self.expectSuccess(response)
        guard let length = response.header("content-length").flatMap({ Int64($0) }) else {
            throw .invalidResponse("HEAD \(key) gave no Content-Length")
        }
        return S3ObjectInfo(size: length, etag: response.header("etag") ?? "",
                            lastModified: response.header("last-modified"),
                            contentType: response.header("content-type"))
    }

    /// GetObject, streamed: `body` receives the object (or the range) in pieces as they arrive.
    ///
    /// - Parameters:
    ///   - key: The object.
    ///   - range: One byte range, or nil for the whole object.
    ///   - head: Called once with the answer's head before the first piece (to start a response of one's own).
    ///   - body: Called with each piece; throwing stops the transfer.
    /// - Returns: The head (also given to `head`).
    /// - Throws: ``S3Error`` (`isNotFound` for a missing key; status 416 for a range past the end).
    @discardableResult
    public func getObject(_ key: String, range: S3ByteRange? = nil,
                          head: (S3GetHead) throws -> Void = { _ in },
                          body: (UnsafeRawBufferPointer) throws -> Void) throws(S3Error) -> S3GetHead
    {
        var request = S3Request(method: "GET", key: key)
        if let range { request.headers.append(("Range", range.headerValue)) }
        var parsedHead: S3GetHead?
        let response: S3Response = try withoutActuallyEscaping(head) { head throws(S3Error) in
            try withoutActuallyEscaping(body) { body throws(S3Error) in
                let sink = BodySink(head: { responseHead in
                    let parsed = try Self.getHead(responseHead)
                    parsedHead = parsed
                    try head(parsed)
                }, body: body)
                return try transport.perform(request, sink: sink)
            }
        }
        try Self.expectSuccess(response)
        guard let parsedHead else { throw .invalidResponse("GET \(key) answered \(response.status) without a head") }
        return parsedHead
    }

    /// GetObject into memory, for small objects only (at most `limit` bytes, else an error).
    public func getObjectBytes(_ key: String, range: S3ByteRange? = nil, limit: Int = 16 << 20) throws(S3Error)
        -> [UInt8]
    {
        var bytes: [UInt8] = []
        try getObject(key, range: range, head: { head throws(S3Error) in
            guard head.contentLength <= Int64(limit) else {
                throw S3Error.invalidResponse("\(key) is \(head.contentLength) bytes, over the \(limit)-byte limit")
            }
            bytes.reserveCapacity(Int(head.contentLength))
        }, body: { chunk throws(S3Error) in
            guard bytes.count + chunk.count <= limit else {
                throw S3Error.invalidResponse("\(key) is over the \(limit)-byte limit")
            }
            bytes.append(contentsOf: chunk)
        })
        return bytes
    }

    /// PutObject from memory (small bodies: signed with their SHA-256).
    /// - Returns: The new object's ETag.
    @discardableResult
    public func putObject(_ key: String, bytes: [UInt8], contentType: String? = nil) throws(S3Error) -> String {
        var request = S3Request(method: "PUT", key: key, body: .bytes(bytes))
        if let contentType { request.headers.append(("Content-Type", contentType)) }
        return try etag(of: transport.perform(request), "PUT \(key)")
    }

    /// PutObject streamed from a callback, for a body of known length (sent as `UNSIGNED-PAYLOAD`; S3 still checks
    /// the length, and TLS the integrity).
    ///
    /// - Parameters:
    ///   - length: Exactly how many bytes `body` will give.
    ///   - body: Fills the buffer it gets with the next bytes and returns how many (≥ 1 until `length` are out);
    ///     throwing stops the upload, and no object is created.
    /// - Returns: The new object's ETag.
    @discardableResult
    public func putObject(_ key: String, length: Int64, contentType: String? = nil,
                          body: (UnsafeMutableRawBufferPointer) throws -> Int) throws(S3Error) -> String
    {
        try withoutActuallyEscaping(body) { body throws(S3Error) in
            var request = S3Request(method: "PUT", key: key, body: .stream(length: length, read: body))
            if let contentType { request.headers.append(("Content-Type", contentType)) }
            return try etag(of: transport.perform(request), "PUT \(key)")
        }
    }

    /// DeleteObject. Deleting a key that does not exist succeeds (S3 answers 204 either way).
    public func deleteObject(_ key: String) throws(S3Error) {
        let response = try transport.perform(S3Request(method: "DELETE", key: key))
        if response.status == 404 { return }
        try Self.expectSuccess(response)
    }

    /// DeleteObjects: many keys in as few requests as possible (1,000 per request, S3's limit).
    /// - Returns: The keys S3 could not delete, with its reason (missing keys are not failures).
    public func deleteObjects(_ keys: [String]) throws(S3Error) -> [S3DeleteFailure] {
        var failures: [S3DeleteFailure] = []
        var start = 0
        while start < keys.count {
            let batch = keys[start..<min(keys.count, start + 1000)]
            start += batch.count
            var xml = "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>true</Quiet>"
            for key in batch { xml += "<Object><Key>\(Self.escapeXML(key))</Key></Object>" }
            xml += "</Delete>"
            let body = Array(xml.utf8)
            // S3 requires Content-MD5 on DeleteObjects (a checksum header in its place since 2023).
            let request = S3Request(method: "POST", key: nil, query: [("delete", "")],
                                    headers: [("Content-MD5", Self.base64MD5(body)), ("Content-Type", "application/xml")],
                                    body: .bytes(body))
            let response = try transport.perform(request)
            try Self.expectSuccess(response)
            guard let root = XMLElement.parse(response.body), root.name == "DeleteResult" else {
                if let error = S3Error.embedded(in: response.body, requestID: response.header("x-amz-request-id")) {
                    throw error
                }
                throw .invalidResponse("DeleteObjects answered no DeleteResult")
            }
            for error in root.children("Error") {
                failures.append(S3DeleteFailure(key: error.text(of: "Key") ?? "", code: error.text(of: "Code") ?? "",
                                                message: error.text(of: "Message") ?? ""))
            }
        }
        return failures
    }

    /// CopyObject: a server-side copy within the bucket (up to 5 GiB; larger objects need UploadPartCopy).
    /// - Returns: The copy's ETag.
    @discardableResult
    public func copyObject(from source: String, to key: String) throws(S3Error) -> String {
        let request = S3Request(method: "PUT", key: key, headers: [("x-amz-copy-source", copySource(source))])
        let response = try transport.perform(request)
        let root = try Self.document(response, expecting: "CopyObjectResult", "CopyObject \(source) → \(key)")
        return Self.quoted(root.text(of: "ETag") ?? "")
    }

    // MARK: - Helpers

    /// `/bucket/key`, URL-encoded: the value of `x-amz-copy-source`.
    func copySource(_ key: String) -> String {
        "/" + SigV4.encode(configuration.bucket) + "/" + SigV4.encode(key, keepSlash: true)
    }

    func etag(of response: S3Response, _ what: String) throws(S3Error) -> String {
        try Self.expectSuccess(response)
        guard let etag = response.header("etag") else { throw .invalidResponse("\(what) answered no ETag") }
        return etag
    }

    static func expectSuccess(_ response: S3Response) throws(S3Error) {
        guard (200..<300).contains(response.status) else {
            throw S3Error.fromResponse(status: response.status, body: response.body,
                                       requestID: response.header("x-amz-request-id"))
        }
    }

    /// A 2xx answer's XML document, whose root must be `name`; an `<Error>` root in a 200 is that error.
    static func document(_ response: S3Response, expecting name: String, _ what: String) throws(S3Error)
        -> XMLElement
    {
        try expectSuccess(response)
        guard let root = XMLElement.parse(response.body) else {
            throw .invalidResponse("\(what): the answer is not an XML document")
        }
        if root.name == "Error", let error = S3Error.embedded(in: response.body,
                                                             requestID: response.header("x-amz-request-id")) {
            throw error
        }
        guard root.name == name else { throw .invalidResponse("\(what): expected <\(name)>, got <\(root.name)>") }
        return root
    }

    static func getHead(_ head: S3ResponseHead) throws(S3Error) -> S3GetHead {
        guard let length = head.header("content-length").flatMap({ Int64($0) }), length >= 0 else {
            throw .invalidResponse("GET answered no Content-Length")
        }
        var range: (Int64, Int64, Int64)?
        if head.status == 206 {
            // Content-Range: bytes first-last/size (RFC 9110 §14.4)
            guard let value = head.header("content-range"), value.hasPrefix("bytes "),
                  let slash = value.firstIndex(of: "/"), let dash = value.firstIndex(of: "-"), dash < slash,
                  let first = Int64(value[value.index(value.startIndex, offsetBy: 6)..<dash]),
                  let last = Int64(value[value.index(after: dash)..<slash]),
                  let size = Int64(value[value.index(after: slash)...]), first <= last, last < size,
                  last - first + 1 == length
            else { throw .invalidResponse("206 with a bad Content-Range: \(head.header("content-range") ?? "none")") }
            range = (first, last, size)
        }
        return S3GetHead(status: head.status, contentLength: length, range: range, etag: head.header("etag") ?? "",
                         contentType: head.header("content-type"))
    }

    static func escapeXML(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text.unicodeScalars {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default:
                // Control characters other than tab/LF/CR cannot appear in XML 1.0 even escaped as text; a
                // character reference carries them (S3 accepts `&#x1;` in keys).
                if character.value < 0x20, character != "\t", character != "\n", character != "\r" {
                    out += "&#x\(String(character.value, radix: 16));"
                } else {
                    out.unicodeScalars.append(character)
                }
            }
        }
        return out
    }

    static func base64MD5(_ bytes: [UInt8]) -> String {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let ok = bytes.withUnsafeBytes { b in
            digest.withUnsafeMutableBufferPointer { d in
                EVP_Digest(b.baseAddress, b.count, d.baseAddress, &length, EVP_md5(), nil)
            }
        }
        precondition(ok == 1 && length == 16, "MD5 failed")
        var encoded = [UInt8](repeating: 0, count: 25)
        let n = encoded.withUnsafeMutableBufferPointer { e in
            digest.withUnsafeBufferPointer { d in EVP_EncodeBlock(e.baseAddress, d.baseAddress, 16) }
        }
        return String(decoding: encoded[..<Int(n)], as: UTF8.self)
    }
}
