import BlobStore
import HTTPServer
import OCIModel

extension RegistryResponder {
    /// Hands an event to the configured sink. Without one this is a single check: the target is never built.
    /// - Parameters:
    ///   - user: the authenticated user (the event's actor), nil when anonymous.
    ///   - target: what the action was done to, made only when events are on.
    func recordEvent(_ action: RegistryEvent.Action, _ request: Request, user: String?,
                     _ target: () -> RegistryEvent.Target) {
        guard let sink = configuration.events else { return }
        sink.record(RegistryEvent(action: action, target: target(), request: Self.requestRecord(request), actor: user))
    }

    /// A manifest GET answered with a response-cache entry, just made or found in the cache (only GET is a
    /// pull, as in distribution: HEAD reads nothing).
    func recordManifestPull(_ entry: ResponseCache.Entry, _ request: Request, user: String?) {
        guard request.method == "GET", var target = entry.pulled else { return }
        recordEvent(.pull, request, user: user) {
            target.url = Self.contentURL(request, repository: target.repository, kind: "manifests", target.digest ?? "")
            return target
        }
    }

    /// The target of a manifest pull or push, without its URL (which depends on the request).
    static func manifestTarget(_ name: RepositoryName, _ manifest: StoredManifest, tag: String?) -> RegistryEvent.Target {
        RegistryEvent.Target(mediaType: manifest.mediaType, digest: manifest.digest.description,
                             size: Int64(manifest.bytes.count), repository: name.value, tag: tag)
    }

    /// A blob's target: distribution types every blob `application/octet-stream` in its events (which is what
    /// `ignoredmediatypes` filters blob events out by).
    static func blobTarget(_ request: Request, _ name: RepositoryName, _ digest: Digest, size: Int64?,
                           from: String? = nil) -> RegistryEvent.Target {
        RegistryEvent.Target(mediaType: "application/octet-stream", digest: digest.description, size: size,
                             repository: name.value, fromRepository: from,
                             url: contentURL(request, repository: name.value, kind: "blobs", digest.description))
    }

    /// `http(s)://<Host>/v2/<name>/<kind>/<digest>`, as distribution's URL builder makes it from the request; nil
    /// when the request had no `Host`.
    static func contentURL(_ request: Request, repository: String, kind: String, _ digest: String) -> String? {
        guard let host = request.headers["Host"], !host.isEmpty else { return nil }
        return (request.isSecure ? "https://" : "http://") + host + "/v2/" + repository + "/" + kind + "/" + digest
    }

    static func requestRecord(_ request: Request) -> RegistryEvent.RequestRecord {
        RegistryEvent.RequestRecord(addr: request.remoteAddress.description, host: request.headers["Host"],
                                    method: request.method, userAgent: request.headers["User-Agent"])
    }
}
