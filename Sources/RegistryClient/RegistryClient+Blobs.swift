import Glibc
import OCIModel

extension RegistryClient {
    /// `HEAD /v2/<name>/blobs/<digest>`.
    /// - Returns: The blob's size when the repository has it, nil on 404.
    public func blobExists(repository: String, digest: Digest) async throws -> Int64? {
        let context = OperationContext("check", repository: repository, object: "blob \(digest)")
        let response = try await send("HEAD", "/v2/\(repository)/blobs/\(digest)",
                                      scopes: [Self.pullScope(repository)], context: context)
        if response.status == 404 { return nil }
        guard response.status == 200 else { throw httpError(response, context) }
        guard let size = response.header("Content-Length").flatMap({ Int64($0.trimmingSpaces()) }) else {
            throw error(.invalidResponse, context, "HEAD answered 200 without Content-Length")
        }
        return size
    }

    /// Streams a blob into `path` (created or truncated), hashing and counting on the fly.
    ///
    /// - A broken connection resumes with `Range: bytes=N-` from the bytes already written and hashed; a registry
    ///   that answers the whole blob again (200) is read from the start.
    /// - More bytes than `descriptor.size`, or a digest mismatch, deletes what was written and starts once more
    ///   from zero; a second mismatch fails.
    /// - Connection errors, 408, 429 and 5xx are retried with backoff (``ClientOptions/retryTimes``); a resume
    ///   that made progress does not count as a retry.
    ///
    /// On any failure `path` is removed; on success it holds exactly the verified blob (not fsynced).
    /// - Parameter progress: Bytes written so far and the blob size; goes back to 0 when the download restarts.
    public func downloadBlob(repository: String, descriptor: Descriptor, to path: String,
                             progress: TransferProgress?) async throws {
        let context = OperationContext("pull", repository: repository, object: "blob \(descriptor.digest)")
        guard descriptor.size >= 0 else { throw error(.integrity, context, "descriptor has a negative size") }
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw error(.local, context, "cannot create \(path): \(String(cString: strerror(errno)))")
        }
        var verified = false
        defer {
            close(fd)
            if !verified { unlink(path) }
        }
        let sink = BlobFileSink(fd: fd, descriptor: descriptor, progress: progress)
        let target = "/v2/\(repository)/blobs/\(descriptor.digest)"
        let scopes = [Self.pullScope(repository)]
        var integrityFailures = 0
        var retry = 0
        var resumes = 0

        /// Counts a corrupt transfer: the first starts over, the second fails.
        func integrityFailure(_ what: String) throws {
            integrityFailures += 1
            guard integrityFailures < 2 else {
                throw error(.integrity, context, "\(what); failed again after downloading the blob anew")
            }
            note(context, "\(what); downloading it again from the start")
            if !sink.reset() { throw sinkIOError(sink, path, context) }
        }

        while true {
            var request = try await makeRequest("GET", target)
            if sink.written > 0 { request.setHeader("Range", "bytes=\(sink.written)-") }
            sink.prepareAttempt()
            let before = sink.written
            let response: ClientResponse
            do {
                response = try await exchange(request, scopes: scopes, sink: sink, context: context)
            } catch let failure as TransportError {
                if failure.abort == .sink {
                    switch sink.failure {
                    case .tooLong(let count)?:
                        try integrityFailure("received more than the expected \(descriptor.size) bytes (\(count) so far)")
                        continue
                    case .wrongLength(let length)?:
                        try integrityFailure("registry sends \(length) bytes, but the descriptor says \(descriptor.size)")
                        continue
                    case .rangeMismatch(let range)?:
                        // The registry answered another range than asked: read the whole blob again.
                        guard retry < policy.retries else {
                            throw error(.invalidResponse, context, "resume answered with Content-Range \(range), not from byte \(before)")
                        }
                        retry += 1
                        if !sink.reset() { throw sinkIOError(sink, path, context) }
                        continue
                    case .io?, nil:
                        throw sinkIOError(sink, path, context)
                    }
                }
                if failure.isRetryable {
                    if sink.written > before, resumes < 1000 {
                        // Progress was made: resume at once from what is verified.
                        resumes += 1
                        note(context, "\(failure); resuming from byte \(sink.written) of \(descriptor.size)")
                        continue
                    }
                    if retry < policy.retries {
                        retry += 1
                        let delay = policy.delay(retry: retry)
                        note(context, "\(failure); retry \(retry)/\(policy.retries) from byte \(sink.written) in \(delay)")
                        try await pause(delay, context)
                        continue
                    }
                }
                throw clientError(failure, context)
            }

            switch response.status {
            case 200, 206:
                if sink.written < descriptor.size {
                    // A clean end before the blob's end: resume like a broken connection.
                    guard sink.written > before || retry < policy.retries else {
                        throw error(.integrity, context, "registry sent \(sink.written) of \(descriptor.size) bytes")
                    }
                    if sink.written <= before {
                        retry += 1
                        try await pause(policy.delay(retry: retry), context)
                    }
                    continue
                }
                let digest = sink.finalize()
                if digest == descriptor.digest {
                    verified = true
                    return
                }
                try integrityFailure("digest mismatch: expected \(descriptor.digest), received bytes hash to \(digest)")
            case 416 where sink.written > 0:
                // The registry cannot serve the range asked for: start over.
                guard retry < policy.retries else { throw httpError(response, context) }
                retry += 1
                if !sink.reset() { throw sinkIOError(sink, path, context) }
            default:
                if RetryPolicy.isRetryable(status: response.status), retry < policy.retries {
                    retry += 1
                    let delay = policy.delay(retry: retry, retryAfter: RetryPolicy.retryAfter(response))
                    note(context, "HTTP \(response.status); retry \(retry)/\(policy.retries) in \(delay)")
                    try await pause(delay, context)
                    continue
                }
                throw httpError(response, context)
            }
        }
    }

    private func sinkIOError(_ sink: BlobFileSink, _ path: String, _ context: OperationContext) -> RegistryClientError {
        if case .io(let call, let code)? = sink.failure {
            return error(.local, context, "\(call) \(path): \(String(cString: strerror(code)))")
        }
        return error(.local, context, "writing \(path) failed")
    }

    /// Cross-repository mount: `POST /v2/<name>/blobs/uploads/?mount=<digest>&from=<repository>`.
    /// - Returns: true when the registry mounted the blob (201); false when it opened an upload session instead
    ///   (202), which is cancelled (`DELETE`) so it does not linger.
    public func mountBlob(repository: String, digest: Digest, from source: String) async throws -> Bool {
        let context = OperationContext("mount", repository: repository, object: "blob \(digest) from \(source)")
        let target = "/v2/\(repository)/blobs/uploads/?mount=\(Self.percentEncode(digest.description))&from=\(Self.percentEncode(source))"
        let response = try await send("POST", target,
                                      scopes: [Self.pushScope(repository), Self.pullScope(source)], context: context)
        switch response.status {
        case 201:
            return true
        case 202:
            if let location = response.header("Location") {
                let url = Self.resolve(location, against: response.effectiveURL)
                // Best effort: a session left open expires on the registry anyway.
                _ = try? await send("DELETE", url, scopes: [Self.pushScope(repository)], context: context)
            }
            return false
        default:
            throw httpError(response, context)
        }
    }
}
