import BlobStore
import Glibc
import OCIModel
import SystemIO

extension Verifier {
    /// Checks one repository: its links, then its manifests, then its tags and referrer entries, each against the
    /// store as the previous steps (and their repairs) left it.
    func checkRepository(_ name: RepositoryName) throws(StoreError) {
        let repository = name.value
        let links = try store.layerLinks(name)
        reportStrays(links.invalid, in: repository)
        for digest in links.entries where store.blobSize(digest) == nil {
            found(VerifyProblem(.danglingLink, repository: repository, subject: digest.description,
                                detail: "linked, but the blob is not stored")) { [store] () throws(StoreError) -> String? in
                try store.removeDanglingLayerLink(name, digest) ? "link removed" : nil
            }
        }

        let revisions = try store.revisionLinks(name)
        reportStrays(revisions.invalid, in: repository)
        for digest in revisions.entries {
            if store.blobSize(digest) == nil {
                found(VerifyProblem(.danglingManifest, repository: repository, subject: digest.description,
                                    detail: "listed as a manifest of the repository, but its blob is not stored")) {
                    [store] () throws(StoreError) -> String? in
                    try store.removeDanglingRevision(name, digest) ? "manifest removed from the repository" : nil
                }
            } else if !damaged.withLock({ $0.contains(digest) }) {
                checkManifest(name, digest)
            }
        }

        let tags = try store.tagListing(name)
        reportStrays(tags.invalid, in: repository)
        for entry in tags.entries {
            let problem: String
            if let target = entry.target {
                guard !holdsManifest(name, target) else { continue }
                problem = "points to \(target), which is no manifest of the repository"
            } else {
                problem = "does not hold a digest"
            }
            found(VerifyProblem(.danglingTag, repository: repository, subject: "tag \(entry.tag.value)", detail: problem)) {
                [store] () throws(StoreError) -> String? in
                try store.removeDanglingTag(name, entry.tag, target: entry.target) ? "tag removed" : nil
            }
        }

        let referrers = try store.referrerListing(name)
        reportStrays(referrers.invalid, in: repository)
        for entry in referrers.entries {
            let subject = entry.referrer.description
            if !holdsManifest(name, entry.referrer) {
                found(VerifyProblem(.danglingReferrer, repository: repository, subject: subject,
                                    detail: "listed as a referrer of \(entry.subject), but is no manifest of the repository")) {
                    [store] () throws(StoreError) -> String? in
                    try store.removeDanglingReferrer(name, subject: entry.subject, referrer: entry.referrer)
                        ? "referrer entry removed" : nil
                }
            } else if entry.descriptor?.digest != entry.referrer {
                found(VerifyProblem(.invalidReferrer, repository: repository, subject: subject,
                                    detail: "its entry under the referrers of \(entry.subject) does not hold its descriptor; "
                                        + "the referrers API skips it (push the referrer again to repair)"))
            }
        }
        report.withLock {
            $0.links += links.entries.count
            $0.manifests += revisions.entries.count
            $0.tags += tags.entries.count
            $0.referrers += referrers.entries.count
        }
    }

    /// Whether `digest` is a manifest of `name` whose blob is stored.
    func holdsManifest(_ name: RepositoryName, _ digest: Digest) -> Bool {
        FileSystem.exists(store.layout.revisionLink(name, digest)) && store.blobSize(digest) != nil
    }

    /// A stored manifest must parse, and the repository must hold what it references, with the sizes it says
    /// (the checks `PUT` made when it was pushed: something was lost or damaged since).
    private func checkManifest(_ name: RepositoryName, _ digest: Digest) {
        let repository = name.value
        let bytes: [UInt8]
        do throws(SystemError) {
            guard let read = try FileSystem.read(store.layout.blob(digest), maxBytes: options.maxManifestBytes) else { return }
            bytes = read
        } catch {
            let detail = error.errno == EFBIG ? "larger than the \(options.maxManifestBytes)-byte manifest limit" : "\(error)"
            return found(VerifyProblem(.invalidManifest, repository: repository, subject: digest.description, detail: detail))
        }
        let mediaType = (try? FileSystem.read(store.layout.revisionLink(name, digest), maxBytes: 4096))
            .flatMap { $0 }.map { String(decoding: $0, as: UTF8.self) }
        let document: ManifestDocument
        do {
            document = try ManifestDocument.parse(bytes, contentType: mediaType?.isEmpty == false ? mediaType : nil)
        } catch {
            return found(VerifyProblem(.invalidManifest, repository: repository, subject: digest.description,
                                       detail: "does not parse: \(error)"))
        }
        var missing: [String] = []
        switch document {
        case .manifest(let manifest):
            for (field, descriptor) in [("config", manifest.config)] + manifest.layers.enumerated().map({ ("layers[\($0)]", $1) }) {
                // A foreign layer is fetched from its URLs; one stored here all the same is checked like any other.
                if descriptor.isForeignLayer && store.blobSize(descriptor.digest) == nil { continue }
                if let problem = describeMissing(name, descriptor, field: field, isManifest: false) { missing.append(problem) }
            }
        case .index(let index):
            for (position, descriptor) in index.manifests.enumerated() {
                if let problem = describeMissing(name, descriptor, field: "manifests[\(position)]", isManifest: true) {
                    missing.append(problem)
                }
            }
        }
        guard !missing.isEmpty else { return }
        found(VerifyProblem(.incompleteManifest, repository: repository, subject: digest.description,
                            detail: missing.joined(separator: "; ") + " (push the image again to repair)"))
    }

    /// What is wrong with a reference of a manifest, nil when the repository holds it with the right size.
    private func describeMissing(_ name: RepositoryName, _ descriptor: Descriptor, field: String,
                                 isManifest: Bool) -> String? {
        let digest = descriptor.digest
        // As `PUT` accepts them: a manifest's config or layer may also be a manifest of the repository.
        let held = isManifest ? holdsManifest(name, digest)
            : (store.isLinked(name, digest) && store.blobSize(digest) != nil) || holdsManifest(name, digest)
        guard held else { return "\(field) \(digest) is not in the repository" }
        if let size = store.blobSize(digest), size != descriptor.size {
            return "\(field) \(digest) is \(size) bytes, the manifest says \(descriptor.size)"
        }
        return nil
    }

    private func reportStrays(_ paths: [String], in repository: String) {
        for path in paths {
            found(VerifyProblem(.strayEntry, repository: repository, subject: path,
                                detail: "not a name the store makes; ignored by the server"))
        }
    }
}
