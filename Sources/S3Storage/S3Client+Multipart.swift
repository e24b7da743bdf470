extension S3Client {
    /// CreateMultipartUpload.
    /// - Returns: The upload id, for the parts, the completion or the abort.
    public func createMultipartUpload(_ key: String, contentType: String? = nil) throws(S3Error) -> String {
        var request = S3Request(method: "POST", key: key, query: [("uploads", "")])
        if let contentType { request.headers.append(("Content-Type", contentType)) }
        let response = try transport.perform(request)
        let root = try Self.document(response, expecting: "InitiateMultipartUploadResult", "CreateMultipartUpload \(key)")
        guard let id = root.text(of: "UploadId"), !id.isEmpty else {
            throw .invalidResponse("CreateMultipartUpload \(key) answered no UploadId")
        }
        return id
    }

    /// UploadPart, streamed from a callback (as ``putObject(_:length:contentType:body:)``).
    ///
    /// - Parameters:
    ///   - partNumber: 1 … 10,000. Every part but the last must be at least 5 MiB.
    ///   - length: The part's exact size.
    /// - Returns: The part's ETag, for ``completeMultipartUpload(_:uploadID:parts:)``.
    public func uploadPart(_ key: String, uploadID: String, partNumber: Int, length: Int64,
                           body: (UnsafeMutableRawBufferPointer) throws -> Int) throws(S3Error) -> String
    {
        try withoutActuallyEscaping(body) { body throws(S3Error) in
            let request = S3Request(method: "PUT", key: key, query: Self.partQuery(uploadID, partNumber),
                                    body: .stream(length: length, read: body))
            return try etag(of: transport.perform(request), "UploadPart \(partNumber) of \(key)")
        }
    }

    /// UploadPart from memory.
    public func uploadPart(_ key: String, uploadID: String, partNumber: Int, bytes: [UInt8]) throws(S3Error) -> String {
        let request = S3Request(method: "PUT", key: key, query: Self.partQuery(uploadID, partNumber), body: .bytes(bytes))
        return try etag(of: transport.perform(request), "UploadPart \(partNumber) of \(key)")
    }

    /// UploadPartCopy: a part copied server-side from (a range of) another object, e.g. to copy objects over 5 GiB.
    ///
    /// - Parameters:
    ///   - source: The key to copy from, in this bucket.
    ///   - range: The source's bytes to copy (inclusive offsets), nil for all of it.
    /// - Returns: The part's ETag.
    public func uploadPartCopy(_ key: String, uploadID: String, partNumber: Int, source: String,
                               range: ClosedRange<Int64>? = nil) throws(S3Error) -> String
    {
        var request = S3Request(method: "PUT", key: key, query: Self.partQuery(uploadID, partNumber),
                                headers: [("x-amz-copy-source", copySource(source))])
        if let range { request.headers.append(("x-amz-copy-source-range", "bytes=\(range.lowerBound)-\(range.upperBound)")) }
        let response = try transport.perform(request)
        let root = try Self.document(response, expecting: "CopyPartResult", "UploadPartCopy \(partNumber) of \(key)")
        guard let etag = root.text(of: "ETag"), !etag.isEmpty else {
            throw .invalidResponse("UploadPartCopy \(partNumber) of \(key) answered no ETag")
        }
        return Self.quoted(etag)
    }

    /// CompleteMultipartUpload: the parts, in order, become the object.
    ///
    /// Returns nothing: the answer's ETag is not to be trusted (Ceph RGW sends `<ETag></ETag>`); HEAD the object
    /// for it. A failure may also come as an `<Error>` in a 200 answer, which this reports as an error.
    public func completeMultipartUpload(_ key: String, uploadID: String, parts: [S3CompletedPart]) throws(S3Error) {
        var xml = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        for part in parts.sorted(by: { $0.number < $1.number }) {
            xml += "<Part><PartNumber>\(part.number)</PartNumber><ETag>\(Self.escapeXML(part.etag))</ETag></Part>"
        }
        xml += "</CompleteMultipartUpload>"
        let request = S3Request(method: "POST", key: key, query: [("uploadId", uploadID)],
                                headers: [("Content-Type", "application/xml")], body: .bytes(Array(xml.utf8)))
        let response = try transport.perform(request)
        _ = try Self.document(response, expecting: "CompleteMultipartUploadResult", "CompleteMultipartUpload \(key)")
    }

    /// AbortMultipartUpload: drops the upload and its parts. An upload that is already gone is not an error.
    public func abortMultipartUpload(_ key: String, uploadID: String) throws(S3Error) {
        let response = try transport.perform(S3Request(method: "DELETE", key: key, query: [("uploadId", uploadID)]))
        if response.status == 404 { return }
        try Self.expectSuccess(response)
    }

    /// ListMultipartUploads: one page of the uploads in progress under `prefix`.
    public func listMultipartUploads(prefix: String? = nil, delimiter: String? = nil, keyMarker: String? = nil,
                                     uploadIDMarker: String? = nil, maxUploads: Int = 1000) throws(S3Error)
        -> S3MultipartUploadListing
    {
        var query: [(name: String, value: String)] = [("uploads", ""), ("max-uploads", String(maxUploads))]
        if let prefix { query.append(("prefix", prefix)) }
        if let delimiter { query.append(("delimiter", delimiter)) }
        if let keyMarker { query.append(("key-marker", keyMarker)) }
        if let uploadIDMarker { query.append(("upload-id-marker", uploadIDMarker)) }
        let response = try transport.perform(S3Request(method: "GET", key: nil, query: query))
        let root = try Self.document(response, expecting: "ListMultipartUploadsResult", "ListMultipartUploads")
        let uploads = root.children("Upload").map {
            S3MultipartUpload(key: $0.text(of: "Key") ?? "", uploadID: $0.text(of: "UploadId") ?? "",
                              initiated: $0.text(of: "Initiated") ?? "")
        }
        return S3MultipartUploadListing(
            uploads: uploads, commonPrefixes: root.children("CommonPrefixes").compactMap { $0.text(of: "Prefix") },
            isTruncated: root.text(of: "IsTruncated") == "true",
            nextKeyMarker: root.text(of: "NextKeyMarker").flatMap { $0.isEmpty ? nil : $0 },
            nextUploadIDMarker: root.text(of: "NextUploadIdMarker").flatMap { $0.isEmpty ? nil : $0 })
    }

    /// ListParts: every part uploaded so far (all pages).
    public func listParts(_ key: String, uploadID: String) throws(S3Error) -> [S3ListedPart] {
        var parts: [S3ListedPart] = []
        var marker: String?
        while true {
            var query: [(name: String, value: String)] = [("uploadId", uploadID), ("max-parts", "1000")]
            if let marker { query.append(("part-number-marker", marker)) }
            let response = try transport.perform(S3Request(method: "GET", key: key, query: query))
            let root = try Self.document(response, expecting: "ListPartsResult", "ListParts \(key)")
            for part in root.children("Part") {
                guard let number = part.text(of: "PartNumber").flatMap({ Int($0) }),
                      let size = part.text(of: "Size").flatMap({ Int64($0) })
                else { throw .invalidResponse("ListParts \(key): a part without a number or size") }
                parts.append(S3ListedPart(number: number, etag: part.text(of: "ETag") ?? "", size: size))
            }
            guard root.text(of: "IsTruncated") == "true", let next = root.text(of: "NextPartNumberMarker"),
                  next != marker else { return parts }
            marker = next
        }
    }

    /// An ETag in quotes, as S3 sends it in headers: Ceph RGW's CopyPartResult and CopyObjectResult carry it bare.
    static func quoted(_ etag: String) -> String {
        etag.hasPrefix("\"") || etag.hasPrefix("W/") ? etag : "\"" + etag + "\""
    }

    static func partQuery(_ uploadID: String, _ partNumber: Int) -> [(name: String, value: String)] {
        [("partNumber", String(partNumber)), ("uploadId", uploadID)]
    }
}
