import BlobStore
import Glibc
import OCIModel

/// Blob storage in an S3 bucket (AWS, Ceph RGW, MinIO…): blobs under their digest in distribution's layout
/// (see ``S3Layout``), uploads as multipart uploads whose whole description travels in `UploadState`, so that any
/// replica continues any upload.
///
/// Every method blocks on the network: call them from a blocking pool. S3 failures (unreachable, 5xx, refused
/// credentials) throw `StoreError.unavailable`; nothing is ever visible under a digest before it is complete
/// and verified (S3 makes an object visible whole, at the end of its PUT, copy or completion).
public final class S3BlobStorage: BlobStorage {
    public let client: S3Client
    let layout: S3Layout
    /// Upload part size: parts are at least this big (S3's minimum is 5 MiB but for the last part).
    public let chunkSize: Int
    /// How long a redirect URL stays valid.
    public let redirectExpiry: Duration
    /// CopyObject's limit: larger blobs are copied with UploadPartCopy, `copyPartSize` bytes per part.
    let largestSingleCopy: Int64
    let copyPartSize: Int64
    /// The same bucket with one-second timeouts, for `isReachable`.
    private let probe: S3Client

    /// S3's smallest part (but for the last).
    public static let minimumChunkSize = 5 << 20
    public static let defaultChunkSize = 10 << 20

    /// - Parameters:
    ///   - configuration: The bucket and how to reach it.
    ///   - rootDirectory: The key prefix everything goes under (`storage.s3.rootdirectory`).
    ///   - chunkSize: The upload part size (`storage.s3.chunksize`), at least 5 MiB.
    ///   - redirectExpiry: How long presigned redirect URLs stay valid (distribution: 20 minutes).
    /// - Throws: ``S3ConfigurationError`` for a bad endpoint or a chunk size under 5 MiB.
    public convenience init(_ configuration: S3Configuration, rootDirectory: String = "",
                            chunkSize: Int = defaultChunkSize, redirectExpiry: Duration = .seconds(20 * 60))
        throws(S3ConfigurationError)
    {
        try self.init(configuration, rootDirectory: rootDirectory, chunkSize: chunkSize, redirectExpiry: redirectExpiry,
                      copyLimits: (single: 5 << 30, part: 1 << 30))
    }

    /// - Parameter copyLimits: CopyObject's limit (5 GiB), and the range per UploadPartCopy beyond it (tests lower
    ///   both to exercise the large-copy path).
    init(_ configuration: S3Configuration, rootDirectory: String = "", chunkSize: Int = defaultChunkSize,
         redirectExpiry: Duration = .seconds(20 * 60), copyLimits: (single: Int64, part: Int64))
        throws(S3ConfigurationError)
    {
        largestSingleCopy = copyLimits.single
        copyPartSize = copyLimits.part
        guard chunkSize >= Self.minimumChunkSize, chunkSize <= 5 << 30 else {
            throw .invalid("chunksize \(chunkSize): S3 parts are 5 MiB (5242880 bytes) to 5 GiB")
        }
        client = try S3Client(configuration)
        var probeConfiguration = configuration
        probeConfiguration.connectTimeout = .seconds(1)
        probeConfiguration.stallTimeout = .seconds(1)
        probeConfiguration.maximumIdleHandles = 2
        probe = try S3Client(probeConfiguration)
        layout = S3Layout(rootDirectory: rootDirectory)
        self.chunkSize = chunkSize
        self.redirectExpiry = redirectExpiry
    }

    // MARK: - Blobs

    public func size(of digest: Digest) throws(StoreError) -> Int64? {
        do {
            return try client.headObject(layout.blob(digest))?.size
        } catch {
            throw Self.storeError(error, "\(digest)")
        }
    }

    /// A stream through this replica (with `Range`), or a presigned URL when `redirect` allows it.
    public func content(of digest: Digest, redirect: Bool) throws(StoreError) -> BlobContent {
        guard let size = try size(of: digest) else { throw .blobUnknown(digest) }
        let key = layout.blob(digest)
        if redirect {
            return .redirect(url: client.presignedGetURL(key, expires: redirectExpiry), size: size)
        }
        let client = self.client
        let name = digest.description
        return .stream(size: size, open: { range in
            guard !range.isEmpty else { return EmptyBlobStream() }
            return S3BlobStream.open(client, key: key, range: range, digest: name)
        })
    }

    public func put(_ bytes: [UInt8], as digest: Digest) throws(StoreError) {
        do {
            try client.putObject(layout.blob(digest), bytes: bytes)
        } catch {
            throw Self.storeError(error, "\(digest)")
        }
    }

    public func read(_ digest: Digest, maxBytes: Int) throws(StoreError) -> [UInt8]? {
        var tooLarge = false
        var bytes: [UInt8] = []
        do {
            try client.getObject(layout.blob(digest), head: { head in
                guard head.contentLength <= Int64(maxBytes) else {
                    tooLarge = true
                    throw S3Error.aborted("too large")
                }
                bytes.reserveCapacity(Int(head.contentLength))
            }, body: { bytes.append(contentsOf: $0) })
        } catch {
            if tooLarge { throw .sizeInvalid("\(digest) is larger than \(maxBytes) bytes") }
            if error.isNotFound { return nil }
            throw Self.storeError(error, "\(digest)")
        }
        return bytes
    }

    public func delete(_ digest: Digest) throws(StoreError) -> Bool {
        // S3's DELETE answers 204 whether or not the key was there: a HEAD tells.
        guard try size(of: digest) != nil else { return false }
        do {
            try client.deleteObject(layout.blob(digest))
        } catch {
            throw Self.storeError(error, "\(digest)")
        }
        return true
    }

    public func enumerate(_ visit: (BlobEntry) throws(StoreError) -> Void) throws(StoreError) {
        var token: String?
        repeat {
            let page: S3ObjectListing
            do {
                page = try client.listObjectsV2(prefix: layout.blobsPrefix, continuationToken: token)
            } catch {
                throw Self.storeError(error, "listing blobs")
            }
            for object in page.objects {
                guard let digest = layout.digest(ofBlobKey: object.key) else { continue }
                try visit(BlobEntry(digest: digest, size: object.size,
                                    modified: Self.nanoseconds(iso8601: object.lastModified) ?? 0))
            }
            token = page.isTruncated ? page.nextContinuationToken : nil
        } while token != nil
    }

    public func isReachable() -> Bool {
        do {
            _ = try probe.listObjectsV2(prefix: layout.blobsPrefix, maxKeys: 1)
            return true
        } catch {
            return false
        }
    }

    // MARK: - Errors and times

    /// S3's failures in the store's terms: whatever S3 did not do is `unavailable` (503, retry later); callers
    /// handle "not found" themselves where it means something.
    static func storeError(_ error: S3Error, _ context: String) -> StoreError {
        .unavailable("S3, \(context): \(error)")
    }

    /// Nanoseconds since the epoch, now.
    static func now() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
    }

    /// `2026-12-02T05:42:57.833Z` (S3's LastModified and Initiated) as nanoseconds since the epoch.
    static func nanoseconds(iso8601 text: String) -> Int64? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 20, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
              bytes[10] == UInt8(ascii: "T"), bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"),
              bytes.last == UInt8(ascii: "Z") else { return nil }
        func number(_ range: Range<Int>) -> Int32? {
            var value: Int32 = 0
            for byte in bytes[range] {
                guard byte >= 0x30, byte <= 0x39 else { return nil }
                value = value * 10 + Int32(byte - 0x30)
            }
            return value
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
              let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19)
        else { return nil }
        var fraction: Int64 = 0
        if bytes[19] == UInt8(ascii: ".") {
            var scale: Int64 = 100_000_000
            for byte in bytes[20..<(bytes.count - 1)] {
                guard byte >= 0x30, byte <= 0x39 else { return nil }
                fraction += Int64(byte - 0x30) * scale
                scale /= 10
            }
        } else if bytes.count != 20 {
            return nil
        }
        var parts = tm()
        parts.tm_year = year - 1900
        parts.tm_mon = month - 1
        parts.tm_mday = day
        parts.tm_hour = hour
        parts.tm_min = minute
        parts.tm_sec = second
        let seconds = timegm(&parts)
        guard seconds >= 0 else { return nil }
        return Int64(seconds) * 1_000_000_000 + fraction
    }
}

/// The stream of an empty range: nothing to fetch.
struct EmptyBlobStream: BlobByteStream {
    func next() async throws -> [UInt8]? { nil }
    func cancel() {}
}
