import Glibc

extension S3Client {
    /// ListObjectsV2: one page of the keys under `prefix`, in key order.
    ///
    /// - Parameters:
    ///   - prefix: Only keys starting with it.
    ///   - delimiter: Roll keys up to the first occurrence after the prefix into ``S3ObjectListing/commonPrefixes``.
    ///   - continuationToken: The previous page's ``S3ObjectListing/nextContinuationToken``.
    ///   - startAfter: Only keys after this one (on the first page).
    ///   - maxKeys: Page size (S3 caps it at 1,000).
    public func listObjectsV2(prefix: String? = nil, delimiter: String? = nil, continuationToken: String? = nil,
                              startAfter: String? = nil, maxKeys: Int = 1000) throws(S3Error) -> S3ObjectListing
    {
        var query: [(name: String, value: String)] = [("list-type", "2"), ("max-keys", String(maxKeys))]
        if let prefix { query.append(("prefix", prefix)) }
        if let delimiter { query.append(("delimiter", delimiter)) }
        if let continuationToken { query.append(("continuation-token", continuationToken)) }
        if let startAfter { query.append(("start-after", startAfter)) }
        let response = try transport.perform(S3Request(method: "GET", key: nil, query: query))
        let root = try Self.document(response, expecting: "ListBucketResult", "ListObjectsV2")
        var objects: [S3ListedObject] = []
        for entry in root.children("Contents") {
            guard let key = entry.text(of: "Key"), let size = entry.text(of: "Size").flatMap({ Int64($0) }) else {
                throw .invalidResponse("ListObjectsV2: an entry without a key or size")
            }
            objects.append(S3ListedObject(key: key, size: size, etag: entry.text(of: "ETag") ?? "",
                                          lastModified: entry.text(of: "LastModified") ?? ""))
        }
        let truncated = root.text(of: "IsTruncated") == "true"
        let next = root.text(of: "NextContinuationToken").flatMap { $0.isEmpty ? nil : $0 }
        if truncated, next == nil { throw .invalidResponse("ListObjectsV2: truncated without a continuation token") }
        return S3ObjectListing(objects: objects,
                               commonPrefixes: root.children("CommonPrefixes").compactMap { $0.text(of: "Prefix") },
                               isTruncated: truncated, nextContinuationToken: next)
    }

    /// Every object under `prefix`, page after page (`body` returns false to stop early).
    public func forEachObject(prefix: String, startAfter: String? = nil,
                              _ body: (S3ListedObject) throws(S3Error) -> Bool) throws(S3Error)
    {
        var token: String?
        var first = true
        while true {
            let page = try listObjectsV2(prefix: prefix, continuationToken: token,
                                         startAfter: first ? startAfter : nil)
            first = false
            for object in page.objects {
                if try !body(object) { return }
            }
            guard page.isTruncated, let next = page.nextContinuationToken else { return }
            token = next
        }
    }

    /// A presigned GET URL: anyone holding it may read the object (or, with `range` sent by the client, a part of
    /// it) until it expires, without credentials. Signed here with HMAC-SHA256 (libcurl signs requests, not URLs).
    ///
    /// - Parameters:
    ///   - key: The object.
    ///   - expires: How long it stays valid (clamped to 1 s … 7 days, S3's limits).
    ///   - now: The signing time in seconds since the epoch (the clock by default; tests pass a fixed one).
    public func presignedGetURL(_ key: String, expires: Duration, now: Int? = nil) -> String {
        let (host, path) = transport.hostAndPath(key: key)
        return SigV4.presign(method: "GET", scheme: transport.scheme, authority: host, path: path,
                             credentials: configuration.credentials, region: configuration.region,
                             expires: Int(expires.components.seconds), now: now ?? Int(time(nil)))
    }
}
