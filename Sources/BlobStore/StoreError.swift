import OCIModel
import SystemIO

/// What can go wrong in the store, in the store's terms; the registry maps each case to one OCI error code.
public enum StoreError: Error, Sendable, Equatable {
    case blobUnknown(Digest)
    case manifestUnknown(String)
    case nameUnknown(String)
    case uploadUnknown(String)
    case digestMismatch(expected: Digest, actual: Digest)
    case sizeInvalid(String)
    /// A chunk does not start where the upload ends; carries the upload's current size.
    case rangeInvalid(currentSize: Int64)
    case manifestInvalid(String)
    case manifestBlobUnknown(Digest)
    /// Every upload session of the store is taken.
    case tooManyUploads(limit: Int)
    /// The client (owner) already holds its share of upload sessions.
    case tooManyUploadsForOwner(limit: Int)
    /// Another request is writing to this upload right now.
    case uploadBusy(String)
    case io(SystemError)
    /// The storage backend (object store, database) cannot be reached or refused the operation; nothing was
    /// changed. Answered with 503, and the request can be retried.
    case unavailable(String)
}
