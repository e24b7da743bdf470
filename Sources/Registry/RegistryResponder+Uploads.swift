import BlobStore
import Glibc
import HTTPServer
import OCIModel
import SystemIO

extension RegistryResponder {
    /// `POST /v2/<name>/blobs/uploads/`: mount (`?mount=&from=`, or automatic when the blob is stored), monolithic
    /// upload (`?digest=` with the body), or a new session (202).
    ///
    /// A mount needs `pull` on the repository it takes the blob from (the caller has push on `name` already);
    /// without it the answer is a plain upload session, as distribution-spec allows, and tells nothing about
    /// whether the blob exists.
    func startUpload(_ request: Request, _ name: RepositoryName, _ access: Access, body: RequestBody) async throws -> Response {
        if let mountText = request.query("mount") {
            let digest = try parseDigest(mountText)
            let store = store
            if let fromText = request.query("from") {
                let from = try repositoryName(fromText)
                if access.mayPull(from.value), let mounted = try await mount(digest, into: name, from: from) {
                    recordEvent(.mount, request, user: access.identity.user) {
                        Self.blobTarget(request, name, digest, size: mounted.size, from: from.value)
                    }
                    return blobCreated(name, digest)
                }
            } else if try await automaticMountSource(digest, into: name, access) {
                try await blocking { () throws(StoreError) in try store.linkBlob(name, digest) }
                // The size is for the event only: no lookup when events are off.
                let size = configuration.events == nil ? nil : try? await lookup { try store.blobSize(digest) }
                recordEvent(.mount, request, user: access.identity.user) {
                    Self.blobTarget(request, name, digest, size: size ?? nil)
                }
                return blobCreated(name, digest)
            }
        }
        if let digestText = request.query("digest") {
            let digest = try parseDigest(digestText)
            // Monolithic: the session lives for this request only, whatever ends it (a body cut off or malformed,
            // a wrong digest); one that a crash interrupts is recognised by its kind and deleted at start-up.
            let store = store, owner = Self.uploadOwner(request, access)
            let upload = try await lookup { try store.startUpload(name, owner: owner, kind: .monolithic) }
            do {
                try await receive(body, into: upload)
                try await commit(upload, digest)
            } catch {
                try? await lookup { store.cancelUpload(upload) }
                throw error
            }
            recordEvent(.push, request, user: access.identity.user) {
                Self.blobTarget(request, name, digest, size: upload.size)
            }
            return blobCreated(name, digest)
        }
        // A new session's POST carries no body (distribution-spec: `Content-Length: 0`). Whatever is sent is
        // read to its end, and ignored as distribution does, before the session exists: a body that breaks its
        // framing or never ends creates no session.
        body.limit = Self.ignoredBodyLimit
        while try await body.next() != nil {}
        let store = store, owner = Self.uploadOwner(request, access)
        let upload = try await lookup { () throws -> any UploadHandle in
            let upload = try store.startUpload(name, owner: owner, kind: .resumable)
            store.releaseUpload(upload)
            return upload
        }
        return uploadAccepted(upload, status: .accepted)
    }

    /// Links `digest` into `name` when `from` links it. Where lookups are network round trips, the check and the
    /// link are one call (one statement on PostgreSQL); on the filesystem the check is a `stat` on the event loop,
    /// only the link goes to the pool, and the size is looked up only for an event.
    /// - Returns: nil when `from` does not link the blob (nothing changed); else the blob's size, when known.
    private func mount(_ digest: Digest, into name: RepositoryName,
                       from: RepositoryName) async throws -> Mounted? {
        let store = store
        guard store.isCheapOnEventLoop else {
            let size = try await blocking { () throws(StoreError) in try store.mountBlob(name, digest, from: from) }
            return size.map { Mounted(size: $0) }
        }
        guard try store.isLinked(from, digest) else { return nil }
        try await blocking { () throws(StoreError) in try store.linkBlob(name, digest) }
        return Mounted(size: configuration.events == nil ? nil : try? store.blobSize(digest))
    }

    /// A mount made, with the blob's size when known (for its event).
    private struct Mounted {
        let size: Int64?
    }

    /// Whether an automatic mount (no `from`) may link `digest` into `name`.
    ///
    /// On an open registry, whenever the blob is stored, whichever repository brought it. Otherwise only from the
    /// target itself or from a repository a bearer token names and the caller may pull: a blob's existence must
    /// not leak across tenants (zot GHSA-55r9-5mx9-qq7r, where an automatic mount let anyone probe for, and then
    /// pull, other tenants' layers). The candidates are fixed by the request, never found by looking at where the
    /// blob is stored, so neither the answer nor its timing says whether the blob exists elsewhere; a Basic user
    /// who wants a blob from another repository names it with `from`.
    private func automaticMountSource(_ digest: Digest, into name: RepositoryName, _ access: Access) async throws -> Bool {
        let store = store
        if access.isOpen { return try await lookup { try store.blobSize(digest) != nil } }
        let candidates = [name] + (access.identity.grantedScopes ?? []).compactMap { scope -> RepositoryName? in
            guard scope.type == "repository", scope.name != name.value, access.mayPull(scope.name) else { return nil }
            return try? RepositoryName(validating: scope.name)
        }
        return try await lookup { () throws -> Bool in
            try candidates.contains { candidate throws(StoreError) in try store.isLinked(candidate, digest) }
        }
    }

    /// The most bytes ignored in the body of a `POST` that opens a session; more is refused (413).
    static let ignoredBodyLimit: Int64 = 64 * 1024

    /// Whom an upload session counts against (`UploadLimits.maxPerOwner`): the authenticated user, else the
    /// client's address (`uploadOwner(_:)`). Users behind one address (a NAT, a CI farm) each get their share,
    /// and one user cannot take more by coming from many addresses.
    static func uploadOwner(_ request: Request, _ access: Access) -> String {
        // The prefix keeps a user named like an address apart from it (`UploadRegistry` makes it one safe line).
        access.identity.user.map { "user " + $0 } ?? uploadOwner(request)
    }

    /// The client's address without its port. An IPv6 client counts by its /64, the smallest network a site is
    /// given: it can pick any address in it. The abuse limits (`RateLimiter`) count clients by the same key.
    static func uploadOwner(_ request: Request) -> String {
        let address = request.remoteAddress
        guard address.family == AF_INET6 else { return address.host }
        let bytes = withUnsafeBytes(of: address.storage) { raw in
            Array(raw[MemoryLayout<sockaddr_in6>.offset(of: \.sin6_addr)!...].prefix(16))
        }
        // An IPv4 client of a dual-stack socket (::ffff:a.b.c.d) counts as itself.
        if bytes[..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF {
            return bytes[12...].map(String.init).joined(separator: ".")
        }
        let groups = stride(from: 0, to: 8, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
        return groups.joined(separator: ":") + "::/64"
    }

    /// `PATCH /v2/<name>/blobs/uploads/<id>`: one chunk (with `Content-Range`) or the whole stream (without).
    func patchUpload(_ request: Request, _ name: RepositoryName, _ id: Substring, body: RequestBody) async throws -> Response {
        let store = store
        let upload = try await lookup { try store.acquireUpload(id, for: name) }
        do {
            if let range = request.headers["Content-Range"] {
                try checkChunk(range, declaredLength: body.declaredLength, upload)
            }
            try await receive(body, into: upload)
        } catch {
            try? await lookup { store.releaseUpload(upload) }
            throw error
        }
        try await lookup { store.releaseUpload(upload) }
        return uploadAccepted(upload, status: .accepted)
    }

    /// `PUT /v2/<name>/blobs/uploads/<id>?digest=`: the last chunk, if any, then verify and store (201).
    func finishUpload(_ request: Request, _ name: RepositoryName, _ id: Substring, _ access: Access,
                      body: RequestBody) async throws -> Response {
        guard let digestText = request.query("digest") else {
            throw RegistryError(.digestInvalid, "the digest query parameter is required to finish an upload")
        }
        let digest = try parseDigest(digestText)
        let store = store
        let upload = try await lookup { try store.acquireUpload(id, for: name) }
        do {
            if let range = request.headers["Content-Range"] {
                try checkChunk(range, declaredLength: body.declaredLength, upload)
            }
            try await receive(body, into: upload)
            try await commit(upload, digest)
        } catch {
            try? await lookup { store.releaseUpload(upload) }
            throw error
        }
        recordEvent(.push, request, user: access.identity.user) {
            Self.blobTarget(request, name, digest, size: upload.size)
        }
        return blobCreated(name, digest)
    }

    /// `GET /v2/<name>/blobs/uploads/<id>`: how much was received (204 with `Range`).
    func uploadStatus(_ name: RepositoryName, _ id: Substring) throws -> Response {
        let upload = try store.acquireUpload(id, for: name)
        store.releaseUpload(upload)
        return uploadAccepted(upload, status: .noContent)
    }

    /// `DELETE /v2/<name>/blobs/uploads/<id>`: cancels the session (204).
    func cancelUpload(_ name: RepositoryName, _ id: Substring) throws -> Response {
        let upload = try store.acquireUpload(id, for: name)
        store.cancelUpload(upload)
        return Response(status: .noContent, headers: Self.apiHeaders)
    }

    // MARK: - Helpers

    /// Streams a request body into an upload, chunk by chunk, never holding it whole, through the storage's
    /// appender (which may write small bodies right here, and larger ones on pool threads while the loop receives
    /// the next chunks); chunk buffers come back for reuse.
    private func receive(_ body: RequestBody, into upload: any UploadHandle) async throws {
        let appender = try store.appender(for: upload, declaredLength: body.declaredLength, pool: pool)
        var failure: (any Error)?
        do {
            while let chunk = try await body.next() {
                try await appender.write(chunk)
                body.recycle(appender.reclaim())
            }
        } catch {
            failure = error
        }
        // Always waited for: the appender must be done with the session before the request lets it go.
        let (_, writeFailure) = await appender.finish()
        if let failure { throw failure }
        if let writeFailure { throw writeFailure }
    }

    private func commit(_ upload: any UploadHandle, _ digest: Digest) async throws {
        let store = store
        try await blocking { () throws(StoreError) in try store.commitUpload(upload, expected: digest) }
    }

    /// A chunk must start where the upload ends (distribution-spec: out of order → 416), and its range must
    /// agree with its length. `Content-Range` is `<start>-<end>`, inclusive; `bytes ` and `/total` forms are
    /// accepted too.
    private func checkChunk(_ header: String, declaredLength: Int64?, _ upload: any UploadHandle) throws(RegistryError) {
        guard let range = UploadChunkRange(header) else {
            throw RegistryError(.blobUploadInvalid, "malformed Content-Range '\(header)'", status: 416,
                                headers: ["Range": upload.rangeHeader, "Location": location(upload)])
        }
        let start = range.first, end = range.last
        guard start == upload.size else {
            throw RegistryError(.blobUploadInvalid, "chunk starts at \(start) but the upload has \(upload.size) bytes",
                                status: 416, headers: ["Range": upload.rangeHeader, "Location": location(upload)])
        }
        if let declaredLength, declaredLength != end - start + 1 {
            throw RegistryError(.sizeInvalid, "Content-Range covers \(end - start + 1) bytes but Content-Length is \(declaredLength)",
                                status: 416, headers: ["Range": upload.rangeHeader, "Location": location(upload)])
        }
    }

    private func location(_ upload: any UploadHandle) -> String {
        "/v2/\(upload.repository.value)/blobs/uploads/\(upload.id)"
    }

    private func uploadAccepted(_ upload: any UploadHandle, status: HTTPStatus) -> Response {
        Response(status: status, headers: Self.headers(
            ("Location", location(upload)), ("Range", upload.rangeHeader), ("Docker-Upload-UUID", upload.id.value)))
    }

    private func blobCreated(_ name: RepositoryName, _ digest: Digest) -> Response {
        Response(status: .created, headers: Self.headers(
            ("Location", "/v2/\(name.value)/blobs/\(digest)"), ("Docker-Content-Digest", digest.description)))
    }
}
