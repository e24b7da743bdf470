import BlobStore
import HTTPServer
import OCIModel

extension RegistryResponder {
    /// A manifest reference: a tag or a digest.
    enum Reference {
        case tag(Tag)
        case digest(Digest)
    }

    /// Parses `<reference>`: anything with a `:` must be a digest (DIGEST_INVALID otherwise), the rest a tag.
    /// - Parameter forWrite: an invalid tag is MANIFEST_INVALID on PUT; on reads it names nothing (MANIFEST_UNKNOWN).
    func parseReference(_ text: Substring, forWrite: Bool) throws(RegistryError) -> Reference {
        if text.utf8.contains(UInt8(ascii: ":")) { return .digest(try parseDigest(text)) }
        do {
            return .tag(try Tag(validating: text))
        } catch {
            if forWrite { throw RegistryError(.manifestInvalid, "invalid tag: \(error)") }
            throw RegistryError(.manifestUnknown, "manifest unknown to registry", detail: .object(["reference": .string(String(text))]))
        }
    }

    /// `GET`/`HEAD /v2/<name>/manifests/<reference>`: the exact bytes stored, typed with the manifest's media type.
    /// The answers are kept in `responses`, so the next request for the same path is served from there.
    func getManifest(_ request: Request, _ name: RepositoryName, _ referenceText: Substring, _ access: Access) throws -> Response {
        metrics.manifestCacheMisses.increment()
        // Read before the data: a change after this point makes the answers built here stale at once.
        let generation = store.metadataGeneration
        let reference = try parseReference(referenceText, forWrite: false)
        let manifest: StoredManifest
        switch lookUpManifest(name, reference) {
        case .success(let found): manifest = found
        case .failure(.manifestUnknown) where !(try store.repositoryExists(name)):
            throw RegistryError(StoreError.nameUnknown(name.value))
        case .failure(let error): throw error
        }
        let digest = manifest.digest.description
        var headers = Self.headers(("Content-Type", manifest.mediaType), ("Docker-Content-Digest", digest),
                                   ("ETag", "\"" + digest + "\""))
        var get = Response(status: .ok, headers: headers.prepared(), body: .bytes(manifest.bytes))
        headers.add("Content-Length", String(manifest.bytes.count))
        var head = Response(status: .ok, headers: headers.prepared())
        // Cached answers carry what the access log and metrics say about them, so a hit needs no routing.
        get.context = ResponseContext(route: "manifest", repository: name.value, reference: String(referenceText))
        head.context = get.context
        var entry = ResponseCache.Entry(get: get, head: head, repository: name.value)
        if configuration.events != nil {
            var tag: String?
            if case .tag(let t) = reference { tag = t.value }
            entry.pulled = Self.manifestTarget(name, manifest, tag: tag)
        }
        responses.insert(request.path, entry, generation: generation)
        recordManifestPull(entry, request, user: access.identity.user)
        return request.method == "HEAD" ? head : get
    }

    /// Resolves a tag or digest of `name` to the stored manifest.
    ///
    /// Returns a `Result` that the caller switches over: the equivalent `catch StoreError.manifestUnknown where …`
    /// made swift-frontend 6.3.1 hang in SIL optimisation for over ten minutes.
    private func lookUpManifest(_ name: RepositoryName, _ reference: Reference) -> Result<StoredManifest, StoreError> {
        do throws(StoreError) {
            let digest: Digest
            switch reference {
            case .digest(let d): digest = d
            case .tag(let tag): digest = try store.resolve(name, tag: tag)
            }
            return .success(try store.manifest(name, digest, maxBytes: configuration.maxManifestBytes))
        } catch {
            return .failure(error)
        }
    }

    /// `PUT /v2/<name>/manifests/<reference>`: validates and stores the manifest's exact bytes (201).
    func putManifest(_ request: Request, _ name: RepositoryName, _ referenceText: Substring, _ access: Access,
                     body: RequestBody) async throws -> Response {
        let reference = try parseReference(referenceText, forWrite: true)
        if let length = body.declaredLength, length > configuration.maxManifestBytes {
            throw RegistryError(.sizeInvalid, "manifest of \(length) bytes exceeds the \(configuration.maxManifestBytes)-byte limit", status: 413)
        }
        let bytes = try await body.collect(upTo: configuration.maxManifestBytes)
        let contentType = request.headers["Content-Type"]
        let document: ManifestDocument
        do {
            document = try ManifestDocument.parse(bytes, contentType: contentType)
        } catch {
            throw RegistryError(.manifestInvalid, "\(error)")
        }

        let algorithm: Digest.Algorithm
        if case .digest(let d) = reference { algorithm = d.algorithm } else { algorithm = .sha256 }
        let digest = Digest.compute(algorithm, of: bytes)
        if case .digest(let expected) = reference, expected != digest {
            throw RegistryError(StoreError.digestMismatch(expected: expected, actual: digest))
        }
        let mediaType = document.mediaType.rawValue
        var referrer: Descriptor?
        if document.subject != nil {
            referrer = Descriptor(mediaType: document.mediaType, digest: digest, size: Int64(bytes.count),
                                  annotations: document.annotations, artifactType: document.artifactType)
        }
        var tagToSet: Tag?
        if case .tag(let t) = reference { tagToSet = t }
        let store = store, subject = document.subject?.digest, referrerCopy = referrer, tag = tagToSet
        let references = ManifestReferences(document)
        // The check runs inside the store's critical section: the collector cannot delete a blob between the
        // check that it is here and the write of the manifest that names it. A store that checks presence and
        // declared sizes itself (PostgreSQL, in the PUT's one statement) leaves the registry only what needs no
        // lookup.
        let lookups = !store.checksReferenceSizes
        let outcome = try await blocking { () throws(StoreError) -> Result<RegistryError?, StoreError> in
            do throws(StoreError) {
                return .success(try store.putManifest(name, bytes: bytes, digest: digest, mediaType: mediaType, tag: tag,
                                                      subject: subject, referrer: referrerCopy,
                                                      references: references) { () -> RegistryError? in
                    do throws(RegistryError) { try self.checkReferences(document, in: name, lookups: lookups) } catch {
                        return error
                    }
                    return nil
                })
            } catch {
                guard !lookups, case .manifestInvalid = error else { throw error }
                return .failure(error)
            }
        }
        switch outcome {
        case .success(let refusal?): throw refusal
        case .success(nil): break
        case .failure(let error):
            // The store found a declared size wrong: the full check names the descriptor, as it does for the other
            // stores (rare, so the lookups it costs do not matter); the store's word when it finds nothing now.
            let precise = try await lookup { () -> RegistryError? in
                do throws(RegistryError) { try self.checkReferences(document, in: name, lookups: true) } catch {
                    return error
                }
                return nil
            }
            throw precise ?? RegistryError(error)
        }
        var headers = Self.headers(("Location", "/v2/\(name.value)/manifests/\(digest)"),
                                   ("Docker-Content-Digest", digest.description))
        if let subject {
            // distribution-spec: a registry that processes `subject` says so with OCI-Subject.
            headers.set("OCI-Subject", subject.description)
        }
        // A push names its tag, also when the tag moved here from another manifest (distribution does the same).
        recordEvent(.push, request, user: access.identity.user) {
            RegistryEvent.Target(mediaType: mediaType, digest: digest.description, size: Int64(bytes.count),
                                 repository: name.value,
                                 url: Self.contentURL(request, repository: name.value, kind: "manifests", digest.description),
                                 tag: tag?.value)
        }
        return Response(status: .created, headers: headers)
    }

    /// Every blob a manifest names must be in the repository, and every child of an index, each with the size its
    /// descriptor says: a descriptor whose size lies makes every client fail later, far from the cause (image-spec
    /// descriptor.md: `size` MUST be the size of the raw content, and clients verify it).
    ///
    /// - A foreign layer (``Descriptor/isForeignLayer``: a non-distributable or Docker foreign media type, with
    ///   `urls`) need not be here: clients fetch it from its URLs, which must then be `http`/`https` ones (as
    ///   distribution requires). If it is stored all the same, its size is checked like any other.
    /// - Any other descriptor's `urls` exempt it from nothing. The config never is foreign, and image-spec says
    ///   `urls` SHOULD NOT decide that a layer is non-distributable; a client (containerd) may try the URLs first,
    ///   but verifies what it gets against the digest, so the blob here is what the manifest means. distribution
    ///   refuses `urls` outright unless configured to allow them; requiring the blob is enough to keep a push from
    ///   naming content this registry cannot serve.
    /// - A `subject` need not be here (distribution-spec: a referrer may be pushed before its subject), but if it
    ///   is, its size must be right.
    ///
    /// - Parameter lookups: false when the storage checks presence and sizes itself (`checksReferenceSizes`):
    ///   only the foreign layers' URLs are checked here then.
    private func checkReferences(_ document: ManifestDocument, in name: RepositoryName,
                                 lookups: Bool = true) throws(RegistryError) {
        switch document {
        case .manifest(let manifest):
            if lookups { try checkPresent(manifest.config, in: name) }
            for (position, layer) in manifest.layers.enumerated() {
                if layer.isForeignLayer {
                    try checkURLs(of: layer, field: "layers[\(position)]")
                } else if lookups {
                    try checkPresent(layer, in: name)
                }
            }
        case .index(let index):
            guard lookups else { return }
            for descriptor in index.manifests {
                guard try held({ () throws(StoreError) in try store.manifestMediaType(name, descriptor.digest) != nil }) else {
                    throw RegistryError(StoreError.manifestBlobUnknown(descriptor.digest))
                }
            }
        }
        guard lookups else { return }
        for (field, descriptor) in Self.namedDescriptors(document) {
            try checkSize(of: descriptor, field: field, in: name)
        }
    }

    /// Every descriptor of `document` with the path that names it in messages, the subject included.
    fileprivate static func namedDescriptors(_ document: ManifestDocument) -> [(String, Descriptor)] {
        var named: [(String, Descriptor)]
        switch document {
        case .manifest(let manifest):
            named = [("config", manifest.config)] + manifest.layers.enumerated().map { ("layers[\($0)]", $1) }
        case .index(let index):
            named = index.manifests.enumerated().map { ("manifests[\($0)]", $1) }
        }
        if let subject = document.subject { named.append(("subject", subject)) }
        return named
    }

    /// A blob or manifest the repository must hold (MANIFEST_BLOB_UNKNOWN otherwise).
    private func checkPresent(_ descriptor: Descriptor, in name: RepositoryName) throws(RegistryError) {
        let present = try held { () throws(StoreError) in
            if try store.isLinked(name, descriptor.digest) { return true }
            return try store.manifestMediaType(name, descriptor.digest) != nil
        }
        guard present else { throw RegistryError(StoreError.manifestBlobUnknown(descriptor.digest)) }
    }

    /// A storage lookup of the reference check; a failure of the storage is the answer (503 when unavailable).
    private func held(_ lookup: () throws(StoreError) -> Bool) throws(RegistryError) -> Bool {
        do { return try lookup() } catch { throw RegistryError(error) }
    }

    /// A foreign layer's URLs are where clients will fetch it: each must be an `http` or `https` URL without a
    /// fragment (distribution's rule; image-spec descriptor.md: entries SHOULD use those schemes).
    private func checkURLs(of descriptor: Descriptor, field: String) throws(RegistryError) {
        for (position, url) in (descriptor.urls ?? []).enumerated() {
            let lowered = url.lowercased()
            let rest = lowered.hasPrefix("https://") ? lowered.dropFirst(8) : lowered.hasPrefix("http://") ? lowered.dropFirst(7) : nil
            guard let rest, !rest.isEmpty, !rest.hasPrefix("/"), !url.contains("#"),
                  !url.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F }) else {
                let path = "\(field).urls[\(position)]"
                throw RegistryError(.manifestInvalid, "\(path): a foreign layer's URL must be an absolute http or https URL",
                                    detail: .object(["descriptor": .string(field), "url": .string(url)]))
            }
        }
    }

    /// A stored blob's or manifest's size must be the descriptor's; an absent one is left to the caller's rules.
    /// (A storage that keeps manifests apart from blobs, such as S3 + PostgreSQL, knows a manifest's size by its
    /// repository's copy.)
    private func checkSize(of descriptor: Descriptor, field: String, in name: RepositoryName) throws(RegistryError) {
        let size: Int64?
        do throws(StoreError) {
            if let blob = try store.blobSize(descriptor.digest) {
                size = blob
            } else if try store.manifestMediaType(name, descriptor.digest) != nil {
                size = Int64(try store.manifest(name, descriptor.digest, maxBytes: configuration.maxManifestBytes).bytes.count)
            } else {
                size = nil
            }
        } catch {
            throw RegistryError(error)
        }
        guard let stored = size, stored != descriptor.size else { return }
        throw RegistryError(.manifestInvalid, "\(field): descriptor size \(descriptor.size) does not match the \(stored) bytes of \(descriptor.digest)",
                            detail: .object(["descriptor": .string(field), "digest": .string(descriptor.digest.description),
                                             "size": .number(Double(descriptor.size)), "stored": .number(Double(stored))]))
    }

    /// `DELETE /v2/<name>/manifests/<reference>`: by digest removes the manifest (and tags pointing to it); by
    /// tag removes only the tag (202).
    func deleteManifest(_ request: Request, _ name: RepositoryName, _ referenceText: Substring, _ access: Access) async throws -> Response {
        let store = store
        switch try parseReference(referenceText, forWrite: false) {
        case .tag(let tag):
            try await blocking { () throws(StoreError) in try store.deleteTag(name, tag) }
            recordEvent(.delete, request, user: access.identity.user) {
                RegistryEvent.Target(repository: name.value, tag: tag.value)
            }
        case .digest(let digest):
            let maxBytes = configuration.maxManifestBytes
            let manifest = try await lookup { try store.manifest(name, digest, maxBytes: maxBytes) }
            // Only the subject matters here, read as it was when the manifest was stored: a manifest stored before
            // duplicate keys were refused no longer passes `ManifestDocument.parse`, but its referrer entry must
            // still go.
            let subject = (try? JSONCoding.decode(SubjectOnly.self, from: manifest.bytes))?.subject?.digest
            try await blocking { () throws(StoreError) in try store.deleteManifest(name, digest, subject: subject) }
            recordEvent(.delete, request, user: access.identity.user) {
                RegistryEvent.Target(digest: digest.description, repository: name.value)
            }
        }
        return Response(status: .accepted, headers: Self.apiHeaders)
    }
}

extension ManifestReferences {
    /// What a validated manifest names and needs here: its config and layers, or its children, and its subject.
    /// Foreign layers are left out: clients fetch them from their URLs, so they need not be stored (see
    /// `checkReferences`), and a storage that checks references itself must not refuse them.
    init(_ document: ManifestDocument) {
        switch document {
        case .manifest(let manifest):
            let layers = manifest.layers.filter { !$0.isForeignLayer }.map(\.digest)
            self.init(blobs: [manifest.config.digest] + layers, subject: document.subject?.digest)
        case .index(let index):
            self.init(manifests: index.manifests.map(\.digest), subject: document.subject?.digest)
        }
        // Every descriptor, foreign layers included (stored all the same, their size is checked too), in the
        // order of the registry's own check.
        declaredSizes = RegistryResponder.namedDescriptors(document).map { _, descriptor in
            DeclaredSize(digest: descriptor.digest, size: descriptor.size)
        }
    }
}

/// The `subject` of a manifest, decoded leniently (see `deleteManifest`).
private struct SubjectOnly: Decodable {
    struct Reference: Decodable { let digest: Digest }
    let subject: Reference?
}
