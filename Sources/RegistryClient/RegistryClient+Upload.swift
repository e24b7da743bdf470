import Glibc
import OCIModel

extension RegistryClient {
    /// Uploads the file at `path` as the blob `descriptor` names: `POST` a session, `PATCH` the bytes (one
    /// streamed request, or chunks with `Content-Range` when ``ClientOptions/chunkSize`` is set, rounded up to the
    /// registry's `OCI-Chunk-Min-Length`), then `PUT ?digest=` with an empty body.
    ///
    /// The file is read as libcurl sends it, never held whole. After a failure mid-upload (broken connection,
    /// 5xx…) the client asks the session's status (`GET` → `Range: 0-N`) and continues from byte N+1; a session
    /// the registry no longer knows is started over with a new `POST`. Each answer's `Location` (relative or
    /// absolute) is used for the next request.
    /// - Parameters:
    ///   - path: A file whose bytes hash to `descriptor.digest`; its size must be `descriptor.size`.
    ///   - progress: Bytes the registry has confirmed or is receiving, and the blob size.
    public func uploadBlob(repository: String, descriptor: Descriptor, from path: String,
                           progress: TransferProgress?) async throws {
        let context = OperationContext("push", repository: repository, object: "blob \(descriptor.digest)")
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw error(.local, context, "cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw error(.local, context, "cannot stat \(path): \(String(cString: strerror(errno)))") }
        let size = Int64(st.st_size)
        guard size == descriptor.size else {
            throw error(.integrity, context, "\(path) has \(size) bytes, but the descriptor says \(descriptor.size)")
        }
        var upload = UploadState(client: self, repository: repository, context: context, fd: fd, size: size,
                                 digest: descriptor.digest, progress: progress)
        try await upload.run()
    }
}

/// The state of one blob upload across its requests and recoveries.
private struct UploadState {
    let client: RegistryClient
    let repository: String
    let context: OperationContext
    let fd: Int32
    let size: Int64
    let digest: Digest
    let progress: TransferProgress?

    /// The session URL (absolute), from the last `Location`.
    var location: String?
    /// Bytes the registry has.
    var offset: Int64 = 0
    /// The chunk size in use (0: one streamed PATCH).
    var chunk: Int64 = 0
    var retry = 0
    var sessionsStarted = 0
    /// Set after a failure in this session: from then on every PATCH says where it starts, so the registry refuses
    /// (416) rather than appends bytes it may already have.
    var interrupted = false

    init(client: RegistryClient, repository: String, context: OperationContext, fd: Int32, size: Int64,
         digest: Digest, progress: TransferProgress?) {
        self.client = client
        self.repository = repository
        self.context = context
        self.fd = fd
        self.size = size
        self.digest = digest
        self.progress = progress
    }

    var scopes: [String] { [RegistryClient.pushScope(repository)] }

    /// What a step of the upload asks next.
    private enum Step {
        case continueUpload
        case recover(delay: Duration?)
        case restart
    }

    mutating func run() async throws {
        while true {
            if location == nil { try await startSession() }
            var step = Step.continueUpload
            while offset < size, case .continueUpload = step {
                step = try await sendChunk()
            }
            if case .continueUpload = step {
                step = try await finish()
                if case .continueUpload = step { return }
            }
            switch step {
            case .continueUpload:
                continue
            case .restart:
                location = nil
            case .recover(let delay):
                try await recover(after: delay)
            }
        }
    }

    /// `POST /v2/<name>/blobs/uploads/` → 202 with `Location` and maybe `OCI-Chunk-Min-Length`.
    private mutating func startSession() async throws {
        sessionsStarted += 1
        guard sessionsStarted <= client.policy.retries + 2 else {
            throw client.error(.http, context, "the registry lost the upload session \(sessionsStarted - 1) times")
        }
        let response = try await client.send("POST", "/v2/\(repository)/blobs/uploads/", scopes: scopes, context: context)
        guard response.status == 202 else { throw client.httpError(response, context) }
        guard let location = response.header("Location") else {
            throw client.error(.invalidResponse, context, "upload session started (202) without a Location")
        }
        self.location = RegistryClient.resolve(location, against: response.effectiveURL)
        offset = 0
        interrupted = false
        chunk = client.options.chunkSize
        if chunk > 0, let minimum = response.header("OCI-Chunk-Min-Length").flatMap({ Int64($0.trimmingSpaces()) }),
           minimum > chunk
        {
            chunk = minimum
        }
        progress?(0, size)
    }

    /// One `PATCH`: the rest of the file (streamed), or the next chunk.
    private mutating func sendChunk() async throws -> Step {
        guard let location else { return .restart }
        let end = chunk > 0 ? min(size, offset + chunk) : size
        var request = try await client.makeRequest("PATCH", location)
        request.setHeader("Content-Type", "application/octet-stream")
        if chunk > 0 || offset > 0 || interrupted {
            // Inclusive range (distribution-spec); a resumed stream says where it continues, too.
            request.setHeader("Content-Range", "\(offset)-\(end - 1)")
        }
        request.body = .file(fd: fd, offset: offset, length: end - offset)
        let base = offset, total = size, report = progress
        if let report {
            request.uploadProgress = { @Sendable (sent: Int64, _: Int64) -> Void in report(base + sent, total) }
        }
        let response: ClientResponse
        do {
            response = try await client.exchange(request, scopes: scopes, sink: nil, context: context)
        } catch let failure as TransportError {
            guard failure.isRetryable else { throw client.clientError(failure, context) }
            return .recover(delay: nil)
        }
        switch response.status {
        case 202, 204:
            adopt(response)
            // Trust the registry's Range when it sends one; else the chunk went in whole.
            offset = Self.rangeEnd(response) ?? end
            if offset > end {
                throw client.error(.invalidResponse, context, "registry reports \(offset) bytes after \(end) were sent")
            }
            retry = 0
            return .continueUpload
        case 404:
            return .restart
        case 416:
            // Out of step with the session: ask where it is.
            return .recover(delay: .zero)
        default:
            if RetryPolicy.isRetryable(status: response.status) {
                return .recover(delay: RetryPolicy.retryAfter(response))
            }
            throw client.httpError(response, context)
        }
    }

    /// `PUT <location>?digest=` with an empty body: the registry verifies and stores the blob (201).
    private mutating func finish() async throws -> Step {
        guard let location else { return .restart }
        var request = try await client.makeRequest("PUT", RegistryClient.appendingQuery(location, "digest", digest.description))
        request.setHeader("Content-Type", "application/octet-stream")
        let response: ClientResponse
        do {
            response = try await client.exchange(request, scopes: scopes, sink: nil, context: context)
        } catch let failure as TransportError {
            guard failure.isRetryable else { throw client.clientError(failure, context) }
            // The PUT may have landed before the connection broke.
            if try await blobArrived() { return .continueUpload }
            return .recover(delay: nil)
        }
        switch response.status {
        case 201, 204, 200:
            if let text = response.header("Docker-Content-Digest"), let reported = try? Digest(parsing: text.trimmingSpaces()),
               reported.algorithm == digest.algorithm, reported != digest
            {
                throw client.error(.integrity, context, "registry stored the blob as \(reported)")
            }
            progress?(size, size)
            return .continueUpload
        case 404:
            if try await blobArrived() { return .continueUpload }
            return .restart
        default:
            if RetryPolicy.isRetryable(status: response.status) {
                if try await blobArrived() { return .continueUpload }
                return .recover(delay: RetryPolicy.retryAfter(response))
            }
            throw client.httpError(response, context)
        }
    }

    private func blobArrived() async throws -> Bool {
        (try? await client.blobExists(repository: repository, digest: digest)) == size
    }

    /// After a failure: wait, then `GET` the session's status and continue from its `Range`; a session that is
    /// gone starts over.
    private mutating func recover(after delay: Duration?) async throws {
        interrupted = true
        retry += 1
        guard retry <= client.policy.retries else {
            throw client.error(.transport, context, "upload failed \(retry) times in a row at byte \(offset) of \(size)")
        }
        let wait = delay ?? client.policy.delay(retry: retry)
        client.note(context, "upload interrupted at byte \(offset) of \(size); asking the session's status (retry \(retry)/\(client.policy.retries))")
        if wait > .zero { try await client.pause(wait, context) }
        guard let location else { return }
        let request = try await client.makeRequest("GET", location)
        let response: ClientResponse
        do {
            response = try await client.sendWithRetries(request, scopes: scopes, context: context)
        } catch let failure as RegistryClientError where failure.kind == .transport {
            // Still unreachable: the next round fails the same way and counts another retry.
            return
        }
        switch response.status {
        case 204, 202, 200:
            adopt(response)
            guard let end = Self.rangeEnd(response), end > 0 else {
                // No Range, or "0-0" (nothing, or one byte: ambiguous): start a clean session.
                self.location = nil
                return
            }
            // Progress since the last failure: a flaky link that keeps moving the upload forward is not given up on.
            if end > offset { retry = 0 }
            offset = min(end, size)
        case 404:
            client.note(context, "the registry no longer knows the upload session; starting a new one")
            self.location = nil
        default:
            throw client.httpError(response, context)
        }
    }

    /// Takes the session URL of an answer (each answer may move it).
    private mutating func adopt(_ response: ClientResponse) {
        if let next = response.header("Location") {
            location = RegistryClient.resolve(next, against: response.effectiveURL)
        }
    }

    /// The number of bytes the registry has from `Range: 0-<last>`, i.e. last + 1; nil without the header.
    /// (A registry's position past 18 digits would overflow: it is no position, see `RangeHeaders`.)
    static func rangeEnd(_ response: ClientResponse) -> Int64? {
        response.header("Range").flatMap(RangeHeaders.uploadedLength)
    }
}
