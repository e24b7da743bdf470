import Foundation

extension Descriptor {
    /// Returns the embedded `data`, but only if it is valid base64 and matches `size` and `digest`.
    ///
    /// image-spec says the decoded data MUST be identical to the referenced content and SHOULD be
    /// verified; returning `nil` on any mismatch lets a client fall back to fetching the blob
    /// instead of trusting bytes that lie.
    /// - Returns: The verified content, or `nil` if there is no usable embedded data.
    public func embeddedContent() -> [UInt8]? {
        guard let data, let decoded = Data(base64Encoded: data), Int64(decoded.count) == size else { return nil }
        guard Digest.compute(digest.algorithm, of: decoded) == digest else { return nil }
        return Array(decoded)
    }
}
