import BlobStore
import HTTPServer
import OCIModel

extension RegistryResponder {
    private struct TagList: Encodable {
        let name: String
        let tags: [String]
    }

    private struct Catalog: Encodable {
        let repositories: [String]
    }

    /// `GET /v2/<name>/tags/list[?n=&last=]`: tags in lexical order, paginated with `Link: <…>; rel="next"`.
    func tags(_ request: Request, _ name: RepositoryName) async throws -> Response {
        let n = try pageSize(request, maximum: nil)
        let last = request.query("last")
        let store = store
        let (page, more) = try await blocking { () throws(StoreError) in try store.tagPage(name, after: last, limit: n) }
        var headers = Self.apiHeaders
        if more, let n, let lastReturned = page.last {
            headers.set("Link", "</v2/\(name.value)/tags/list?last=\(escape(lastReturned))&n=\(n)>; rel=\"next\"")
        }
        return Response(status: .ok, headers: headers, bytes: JSONCoding.encodeInfallibly(TagList(name: name.value, tags: page)))
    }

    /// `GET /v2/_catalog[?n=&last=]`: the repositories the caller may pull, bounded by `catalogMaxEntries`.
    func catalog(_ request: Request, _ access: Access) async throws -> Response {
        let maximum = configuration.catalogMaxEntries
        let n = try pageSize(request, maximum: maximum) ?? maximum
        let last = request.query("last")
        let store = store
        let (page, more) = try await blocking { () throws(StoreError) in
            access.isOpen
                ? try store.repositoryPage(after: last, limit: n, include: { _ in true })
                : try store.repositoryPage(after: last, limit: n, include: access.catalogShows)
        }
        var headers = Self.apiHeaders
        if more, let lastReturned = page.last {
            headers.set("Link", "</v2/_catalog?last=\(escape(lastReturned))&n=\(n)>; rel=\"next\"")
        }
        return Response(status: .ok, headers: headers, bytes: JSONCoding.encodeInfallibly(Catalog(repositories: page)))
    }

    /// `GET /v2/<name>/referrers/<digest>[?artifactType=]`: an image index of the manifests whose subject is
    /// `digest`; empty (never 404) when there are none.
    func referrers(_ request: Request, _ name: RepositoryName, _ digest: Digest) async throws -> Response {
        // Reads a directory and one file per referrer: blocking work, off the event loop.
        let store = store
        var descriptors = try await blocking { () throws(StoreError) in try store.referrers(name, subject: digest) }
        var headers = Self.headers(("Content-Type", MediaType.ociIndex.rawValue))
        if let filter = request.query("artifactType") {
            descriptors = descriptors.filter { $0.artifactType?.rawValue == filter }
            headers.set("OCI-Filters-Applied", "artifactType")
        }
        let index = ImageIndex(schemaVersion: 2, mediaType: .ociIndex, manifests: descriptors)
        return Response(status: .ok, headers: headers, bytes: JSONCoding.encodeInfallibly(index))
    }

    /// The `n` parameter: a non-negative integer, at most `maximum` when there is one.
    private func pageSize(_ request: Request, maximum: Int?) throws(RegistryError) -> Int? {
        guard let text = request.query("n") else { return nil }
        guard let n = Int(text), n >= 0 else {
            throw RegistryError(.paginationNumberInvalid, "n must be a non-negative integer, not '\(text)'")
        }
        if let maximum, n > maximum {
            throw RegistryError(.paginationNumberInvalid, "n=\(n) is above the limit of \(maximum)")
        }
        return n
    }

    /// Percent-encodes a query value (RFC 3986 unreserved characters and `/` stay as they are).
    private func escape(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for byte in text.utf8 {
            let isAlphanumeric = (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x30 && byte <= 0x39)
            if isAlphanumeric || byte == 0x2D || byte == 0x2E || byte == 0x5F || byte == 0x7E || byte == 0x2F {
                out.append(byte)
            } else {
                out.append(0x25)
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
