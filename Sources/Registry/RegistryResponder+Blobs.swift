import BlobStore
import HTTPServer
import OCIModel

extension RegistryResponder {
    /// `GET`/`HEAD /v2/<name>/blobs/<digest>`: the blob if this repository links it, as the storage offers it: a file
    /// sent with `sendfile`, a stream through this replica, or a `307` to a URL the client fetches itself (a presigned
    /// object-storage URL). `Range` is applied by the engine to files and streams; HEAD is answered from metadata.
    func getBlob(_ request: Request, _ name: RepositoryName, _ digest: Digest, _ access: Access) throws -> Response {
        var headers = Self.apiHeaders
        headers.set("Content-Type", "application/octet-stream")
        headers.set("Docker-Content-Digest", digest.description)
        headers.set("Accept-Ranges", "bytes")
        headers.set("ETag", "\"\(digest)\"")
        headers.set("Cache-Control", "max-age=31536000")
        if request.method == "HEAD" {
            // Touches an old link: a client's HEAD, skipped upload and manifest PUT find the blob kept.
            guard let size = try store.linkedBlobSize(name, digest) else {
                throw RegistryError(StoreError.blobUnknown(digest))
            }
            headers.set("Content-Length", "\(size)")
            return Response(status: .ok, headers: headers)
        }
        let content = try store.blobContent(name, digest)
        recordEvent(.pull, request, user: access.identity.user) { Self.blobTarget(request, name, digest, size: content.size) }
        switch content {
        case .file(let fd, let size):
            return Response(status: .ok, headers: headers, body: .file(fd, offset: 0, length: size))
        case .stream(let size, let open):
            return Response(status: .ok, headers: headers, body: .stream(BlobResponseStream(length: size, open: open)))
        case .redirect(let url, _):
            // distribution answers 307 with the Location and the digest; the client follows without credentials.
            var redirect = Self.apiHeaders
            redirect.set("Location", url)
            redirect.set("Docker-Content-Digest", digest.description)
            return Response(status: .temporaryRedirect, headers: redirect)
        }
    }

    /// `DELETE /v2/<name>/blobs/<digest>`: unlinks the blob from this repository (202).
    func deleteBlob(_ request: Request, _ name: RepositoryName, _ digest: Digest, _ access: Access) async throws -> Response {
        let store = store
        try await blocking { () throws(StoreError) in try store.unlinkBlob(name, digest) }
        recordEvent(.delete, request, user: access.identity.user) {
            RegistryEvent.Target(digest: digest.description, repository: name.value)
        }
        return Response(status: .accepted, headers: Self.headers(("Docker-Content-Digest", digest.description)))
    }
}

/// A streamed blob as the engine pulls it.
struct BlobResponseStream: ResponseStream {
    let length: Int64
    let open: BlobStreamOpener

    /// A transfer that cannot start is answered as the storage's error (503 UNAVAILABLE when the object store is
    /// down): the engine opens the stream before it sends the head.
    func open(range: Range<Int64>) async throws -> any ResponseStreamReader {
        do {
            return BlobStreamReader(stream: try await open(range))
        } catch let error as StoreError {
            throw StreamOpenError(response: RegistryError(error).httpResponse)
        }
    }
}

/// A storage error met opening a stream, as the response the engine sends instead.
struct StreamOpenError: ResponseConvertibleError {
    let response: Response
}

struct BlobStreamReader: ResponseStreamReader {
    let stream: any BlobByteStream

    func next() async throws -> [UInt8]? { try await stream.next() }
    func cancel() { stream.cancel() }
}
