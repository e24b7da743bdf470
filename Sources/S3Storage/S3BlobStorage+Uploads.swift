import BlobStore
import OCIModel

extension S3BlobStorage {
    /// Writes the upload's marker (an empty object: the upload exists, and since when, for expiry); the multipart
    /// upload starts later, with the first full part, and an upload smaller than a part never has one (its bytes
    /// live in its tail until commit).
    public func beginUpload(_ id: UploadID) throws(StoreError) -> UploadState {
        let state = S3UploadState(started: Self.now())
        do {
            try client.putObject(layout.uploadMarker(id), bytes: [])
        } catch {
            throw Self.storeError(error, "starting upload \(id)")
        }
        return UploadState(size: 0, data: state.encoded())
    }

    /// - Throws: `uploadUnknown` when the upload was committed or aborted (its marker is gone) or its state is
    ///   not one of this backend's.
    public func appender(for id: UploadID, _ state: UploadState) throws(StoreError) -> any BlobAppender {
        let decoded = try decode(id, state)
        try requireMarker(id)
        return S3Appender(client: client, layout: layout, id: id, state: decoded, original: state, chunkSize: chunkSize)
    }

    /// Verifies the digest from the SHA-256 state carried with the upload (nothing is read back: the state covers
    /// exactly the bytes stored), then puts the bytes under the digest:
    ///
    /// - an upload that never filled a part is its tail: copied server-side (or, inline, written) to the blob key;
    /// - otherwise the tail becomes the last part (UploadPartCopy from the tail object, server-side), the multipart
    ///   upload is completed at the upload's own key and copied server-side under the digest (CopyObject up to
    ///   5 GiB, a multipart UploadPartCopy beyond), then the upload's key is deleted.
    ///
    /// Why complete-then-copy rather than a layout without the copy: S3 fixes an object's key when its multipart
    /// upload starts, before the digest is known, and distribution's layout (kept so that existing buckets stay
    /// readable both ways) wants the blob at a digest-derived key. A layout that kept blobs at their upload keys
    /// would need an indirection (digest → key) that distribution does not read, and would lose deduplication
    /// (two uploads of one blob would be two objects). The copy is server-side: on RGW, within one bucket, it
    /// copies the object's manifest and shares its RADOS data; on AWS it runs inside S3 without the bytes
    /// passing through the replica. When the digest is already stored, no copy at all: the upload is dropped.
    ///
    /// A digest other than SHA-256 (the state hashes SHA-256 only) is verified by reading the assembled object
    /// back; on a mismatch that upload is gone (the client restarts it), as distribution does for any mismatch.
    public func commitUpload(_ id: UploadID, _ state: UploadState, as expected: Digest) throws(StoreError) -> Int64 {
        let upload = try decode(id, state)
        try requireMarker(id)
        if expected.algorithm == .sha256 {
            let actual = upload.hash.finalize()
            guard actual == expected else { throw .digestMismatch(expected: expected, actual: actual) }
        }
        let blobKey = layout.blob(expected)
        do {
            if expected.algorithm == .sha256, let existing = try client.headObject(blobKey) {
                // Stored already (the same digest pushed before, or this commit retried after the copy).
                guard existing.size == upload.size else {
                    throw StoreError.unavailable("\(expected) is stored with \(existing.size) bytes, not \(upload.size)")
                }
                removeUploadData(id, upload)
                return upload.size
            }
            let assembled = try assemble(id, upload)
            if expected.algorithm != .sha256 {
                try verifyByReading(assembled, size: upload.size, expected: expected, id: id, upload: upload)
            }
            try copy(assembled, size: upload.size, to: blobKey)
            guard let stored = try client.headObject(blobKey), stored.size == upload.size else {
                throw StoreError.unavailable("\(expected) did not appear in S3 with \(upload.size) bytes after its copy")
            }
        } catch let error as StoreError {
            throw error
        } catch let error as S3Error {
            throw error.isNotFound ? .uploadUnknown(id.value) : Self.storeError(error, "committing \(expected)")
        } catch {
            throw .unavailable("committing \(expected): \(error)")
        }
        removeUploadData(id, upload)
        return upload.size
    }

    public func abortUpload(_ id: UploadID, _ state: UploadState) {
        removeUploadData(id, S3UploadState.decode(state.data, expectedSize: state.size))
    }

    /// Multipart uploads and upload objects under `uploads/` older than `cutoff`: the multipart upload's start,
    /// or an object's last write (a tail written later than its upload began is reported later, never sooner).
    public func staleUploads(startedBefore cutoff: Int64) throws(StoreError) -> [UploadID] {
        var stale = Set<UploadID>()
        var fresh = Set<UploadID>()
        do {
            var keyMarker: String?
            var idMarker: String?
            repeat {
                let page = try client.listMultipartUploads(prefix: layout.uploadsPrefix, keyMarker: keyMarker,
                                                           uploadIDMarker: idMarker)
                for upload in page.uploads {
                    guard let id = layout.uploadID(ofKey: upload.key) else { continue }
                    let started = Self.nanoseconds(iso8601: upload.initiated) ?? 0
                    if started < cutoff { stale.insert(id) } else { fresh.insert(id) }
                }
                guard page.isTruncated, page.nextKeyMarker != nil || page.nextUploadIDMarker != nil else { break }
                keyMarker = page.nextKeyMarker
                idMarker = page.nextUploadIDMarker
            } while true
            var token: String?
            repeat {
                let page = try client.listObjectsV2(prefix: layout.uploadsPrefix, continuationToken: token)
                for object in page.objects {
                    guard let id = layout.uploadID(ofKey: object.key) else { continue }
                    let modified = Self.nanoseconds(iso8601: object.lastModified) ?? 0
                    if modified < cutoff { stale.insert(id) } else { fresh.insert(id) }
                }
                token = page.isTruncated ? page.nextContinuationToken : nil
            } while token != nil
        } catch {
            throw Self.storeError(error, "listing uploads")
        }
        // An upload with anything recent (a tail written a moment ago) is in use: not stale.
        return stale.subtracting(fresh).sorted { $0.value < $1.value }
    }

    // MARK: - Helpers

    /// The upload is in progress: begun, neither committed nor aborted.
    func requireMarker(_ id: UploadID) throws(StoreError) {
        do {
            guard try client.headObject(layout.uploadMarker(id)) != nil else { throw StoreError.uploadUnknown(id.value) }
        } catch let error as StoreError {
            throw error
        } catch let error as S3Error {
            throw Self.storeError(error, "upload \(id)")
        } catch {
            throw .unavailable("upload \(id): \(error)")
        }
    }

    func decode(_ id: UploadID, _ state: UploadState) throws(StoreError) -> S3UploadState {
        guard let decoded = S3UploadState.decode(state.data, expectedSize: state.size) else {
            throw .uploadUnknown(id.value)
        }
        return decoded
    }

    /// Where the upload's bytes are, ready to copy under the digest.
    private enum Assembled {
        /// The bytes themselves (an inline tail, or nothing).
        case bytes([UInt8])
        /// An object holding all of them.
        case object(String)
    }

    /// Makes one object of the upload's bytes (or finds them in memory).
    private func assemble(_ id: UploadID, _ upload: S3UploadState) throws -> Assembled {
        guard let multipartID = upload.multipartID, upload.partCount > 0 else {
            switch upload.tail {
            case .none: return .bytes([])
            case .inline(let bytes): return .bytes(bytes)
            case .object(let size, _): return .object(layout.uploadTail(id, size: size))
            }
        }
        let dataKey = layout.uploadData(id)
        var parts: [S3CompletedPart]
        if let etags = upload.partETags {
            parts = etags.enumerated().map { S3CompletedPart(number: $0.offset + 1, etag: $0.element) }
        } else {
            // The ETags did not fit in the state: S3 lists them; the parts named by the state are 1…partCount.
            let listed = try client.listParts(dataKey, uploadID: multipartID).filter { $0.number <= upload.partCount }
            guard listed.count == upload.partCount,
                  listed.reduce(Int64(0), { $0 + $1.size }) == upload.partBytes else {
                throw StoreError.unavailable("upload \(id): S3 lists other parts than the upload recorded")
            }
            parts = listed.map { S3CompletedPart(number: $0.number, etag: $0.etag) }
        }
        do throws(S3Error) {
            try complete(id, upload, multipartID: multipartID, parts: parts)
        } catch {
            // Completed by an earlier attempt at this commit that failed later (at the copy): the object is there.
            guard error.isNotFound, let done = try client.headObject(dataKey), done.size == upload.size else {
                throw error
            }
        }
        return .object(dataKey)
    }

    /// Uploads the tail as the last part and completes the multipart upload.
    private func complete(_ id: UploadID, _ upload: S3UploadState, multipartID: String,
                          parts: [S3CompletedPart]) throws(S3Error) {
        var parts = parts
        let dataKey = layout.uploadData(id)
        let last = upload.partCount + 1
        switch upload.tail {
        case .none:
            break
        case .inline(let bytes):
            parts.append(S3CompletedPart(number: last, etag: try client.uploadPart(
                dataKey, uploadID: multipartID, partNumber: last, bytes: bytes)))
        case .object(let size, _):
            parts.append(S3CompletedPart(number: last, etag: try client.uploadPartCopy(
                dataKey, uploadID: multipartID, partNumber: last, source: layout.uploadTail(id, size: size))))
        }
        try client.completeMultipartUpload(dataKey, uploadID: multipartID, parts: parts)
    }

    /// Copies the assembled bytes to `key`, server-side.
    private func copy(_ assembled: Assembled, size: Int64, to key: String) throws {
        switch assembled {
        case .bytes(let bytes):
            try client.putObject(key, bytes: bytes)
        case .object(let source) where size <= largestSingleCopy:
            try client.copyObject(from: source, to: key)
        case .object(let source):
            // CopyObject stops at 5 GiB: beyond, a multipart upload of UploadPartCopy ranges.
            let id = try client.createMultipartUpload(key)
            do {
                var parts: [S3CompletedPart] = []
                var offset: Int64 = 0
                while offset < size {
                    let end = min(size, offset + copyPartSize)
                    let number = parts.count + 1
                    parts.append(S3CompletedPart(number: number, etag: try client.uploadPartCopy(
                        key, uploadID: id, partNumber: number, source: source, range: offset...(end - 1))))
                    offset = end
                }
                try client.completeMultipartUpload(key, uploadID: id, parts: parts)
            } catch {
                try? client.abortMultipartUpload(key, uploadID: id)
                throw error
            }
        }
    }

    /// Hashes the assembled bytes with `expected`'s algorithm; on a mismatch, removes the upload.
    private func verifyByReading(_ assembled: Assembled, size: Int64, expected: Digest, id: UploadID,
                                 upload: S3UploadState) throws {
        let hasher = DigestHasher(expected.algorithm)
        switch assembled {
        case .bytes(let bytes): hasher.update(bytes)
        case .object(let key): try client.getObject(key) { hasher.update($0) }
        }
        let actual = hasher.finalize()
        guard actual == expected, hasher.byteCount == size else {
            removeUploadData(id, upload)
            throw StoreError.digestMismatch(expected: expected, actual: actual)
        }
    }

    /// Best effort: aborts the upload's multipart uploads (the state's, and any a failed request started without
    /// recording it) and deletes every object in its folder. Whatever fails here is found again by
    /// `staleUploads`.
    func removeUploadData(_ id: UploadID, _ upload: S3UploadState?) {
        let dataKey = layout.uploadData(id)
        var multipartIDs = Set<String>()
        if let known = upload?.multipartID { multipartIDs.insert(known) }
        if let listed = try? client.listMultipartUploads(prefix: dataKey) {
            for entry in listed.uploads where entry.key == dataKey { multipartIDs.insert(entry.uploadID) }
        }
        for multipartID in multipartIDs { try? client.abortMultipartUpload(dataKey, uploadID: multipartID) }
        var keys: [String] = []
        try? client.forEachObject(prefix: layout.uploadFolder(id)) { object in
            keys.append(object.key)
            return true
        }
        if !keys.isEmpty { _ = try? client.deleteObjects(keys) }
    }
}
