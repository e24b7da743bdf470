/// An object's metadata, from a HEAD or a GET's headers.
public struct S3ObjectInfo: Sendable, Equatable {
    /// The whole object's size in bytes (not the length of a ranged answer).
    public var size: Int64
    /// The entity tag, quotes included, as S3 sends it (`"…"`, or `"…-N"` for a multipart object).
    public var etag: String
    public var lastModified: String?
    public var contentType: String?
}

/// The head of a GET answer, given to the caller before the first body byte.
public struct S3GetHead: Sendable, Equatable {
    /// 200 for the whole object, 206 for a range.
    public var status: Int
    /// Bytes in this answer's body.
    public var contentLength: Int64
    /// For a 206: the first and last byte offsets sent, and the object's full size.
    public var range: (first: Int64, last: Int64, size: Int64)?
    public var etag: String
    public var contentType: String?

    public static func == (a: S3GetHead, b: S3GetHead) -> Bool {
        a.status == b.status && a.contentLength == b.contentLength && a.etag == b.etag
            && a.contentType == b.contentType && a.range?.first == b.range?.first && a.range?.last == b.range?.last
            && a.range?.size == b.range?.size
    }

    /// The object's full size: from `Content-Range` for a 206, else the body's length.
    public var objectSize: Int64 { range?.size ?? contentLength }
}

/// A byte range of an object (RFC 9110 §14.1.2, as S3 accepts it: one range).
public enum S3ByteRange: Sendable, Equatable {
    /// `bytes=first-last`, or `bytes=first-` when `last` is nil.
    case from(Int64, through: Int64?)
    /// `bytes=-count`: the last `count` bytes.
    case suffix(Int64)

    var headerValue: String {
        switch self {
        case .from(let first, let last): "bytes=\(first)-" + (last.map(String.init) ?? "")
        case .suffix(let count): "bytes=-\(count)"
        }
    }
}

/// One object in a listing.
public struct S3ListedObject: Sendable, Equatable {
    public var key: String
    public var size: Int64
    public var etag: String
    public var lastModified: String
}

/// One page of ListObjectsV2.
public struct S3ObjectListing: Sendable, Equatable {
    public var objects: [S3ListedObject]
    /// With a delimiter: the distinct key prefixes up to it (the "folders").
    public var commonPrefixes: [String]
    public var isTruncated: Bool
    /// Pass it as `continuationToken` for the next page (set when `isTruncated`).
    public var nextContinuationToken: String?
}

/// A multipart upload in progress.
public struct S3MultipartUpload: Sendable, Equatable {
    public var key: String
    public var uploadID: String
    /// ISO 8601, as S3 gives it.
    public var initiated: String
}

/// One page of ListMultipartUploads.
public struct S3MultipartUploadListing: Sendable, Equatable {
    public var uploads: [S3MultipartUpload]
    public var commonPrefixes: [String]
    public var isTruncated: Bool
    public var nextKeyMarker: String?
    public var nextUploadIDMarker: String?
}

/// A part of a multipart upload, as CompleteMultipartUpload wants it.
public struct S3CompletedPart: Sendable, Equatable, Hashable {
    /// 1 … 10,000.
    public var number: Int
    /// The part's ETag as UploadPart answered it, quotes included.
    public var etag: String

    public init(number: Int, etag: String) {
        self.number = number
        self.etag = etag
    }
}

/// A part as ListParts reports it.
public struct S3ListedPart: Sendable, Equatable {
    public var number: Int
    public var etag: String
    public var size: Int64
}

/// A key that DeleteObjects could not delete.
public struct S3DeleteFailure: Sendable, Equatable {
    public var key: String
    public var code: String
    public var message: String
}
