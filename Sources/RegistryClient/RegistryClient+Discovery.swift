import Foundation
import OCIModel

extension RegistryClient {
    /// `GET /v2/<name>/tags/list`, following `Link: <…>; rel="next"` to the end.
    /// - Returns: Every tag, in the order the registry lists them.
    public func listTags(repository: String) async throws -> [String] {
        struct Page: Decodable { var tags: [String]? }
        let context = OperationContext("list tags", repository: repository)
        return try await pages("/v2/\(repository)/tags/list", scopes: [Self.pullScope(repository)], context: context) {
            (try JSONDecoder().decode(Page.self, from: Data($0))).tags ?? []
        }
    }

    /// `GET /v2/_catalog`, following `Link` pagination to the end.
    /// - Returns: Every repository name the registry lists.
    public func catalog() async throws -> [String] {
        struct Page: Decodable { var repositories: [String]? }
        let context = OperationContext("list repositories")
        return try await pages("/v2/_catalog", scopes: [Self.catalogScope], context: context) {
            (try JSONDecoder().decode(Page.self, from: Data($0))).repositories ?? []
        }
    }

    /// Fetches a paginated listing: each page's entries, then its `rel="next"` link, until there is none.
    private func pages(_ first: String, scopes: [String], context: OperationContext,
                       decode: ([UInt8]) throws -> [String]) async throws -> [String] {
        var all: [String] = []
        var next: String? = first
        var seen: Set<String> = []
        while let target = next {
            guard seen.insert(target).inserted, seen.count <= 100_000 else {
                throw error(.invalidResponse, context, "pagination loops back to \(target)")
            }
            let request = try await makeRequest("GET", target)
            let response = try await sendWithRetries(request, scopes: scopes, context: context)
            guard response.status == 200 else { throw httpError(response, context) }
            do {
                all += try decode(response.body)
            } catch {
                throw self.error(.invalidResponse, context, "undecodable listing: \(error)")
            }
            next = Self.nextLink(response).map { Self.resolve($0, against: response.effectiveURL) }
        }
        return all
    }
}
