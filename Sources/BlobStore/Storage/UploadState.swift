/// Where an upload stands in a `BlobStorage`: the bytes received so far and the backend's own description of
/// them (file path, multipart upload id and parts, the running SHA-256 state, buffered tail), as opaque bytes.
///
/// The metadata store persists it with the session after every request, so that any replica can continue the
/// upload: a `BlobStorage` must describe everything it needs in `data`, never in its own memory alone (memory may
/// cache, keyed by the state, but a replica that never saw the session must be able to continue from `data`).
public struct UploadState: Sendable, Equatable {
    /// Bytes received so far (the next chunk must start here).
    public var size: Int64
    /// The backend's description, versioned by the backend; at most 64 KiB.
    public var data: [UInt8]

    public init(size: Int64, data: [UInt8]) {
        self.size = size
        self.data = data
    }
}
