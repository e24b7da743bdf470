import Foundation
import OCIModel
import RegistryClient
import Testing

/// The client against the real registry, in process: every API call the copier needs.
@Suite struct RoundTripTests {
    @Test func pushPullManifestsMountsAndDelete() async throws {
        let registry = try TestRegistry()
        defer { registry.stop() }
        let engine = TransferEngine(maxParallel: 4)
        defer { engine.shutdown() }
        let work = try Workspace()
        let client = RegistryClient(registry: registry.address, options: testOptions(), engine: engine)
        try await client.ping()

        let layerBytes = testBytes(700_000, seed: "layer")
        let (layerPath, layer) = try work.blob("layer", layerBytes)
        let (configPath, config) = try work.blob("config", Array(#"{"architecture":"amd64","os":"linux"}"#.utf8),
                                                 mediaType: .ociConfig)
        #expect(try await client.blobExists(repository: "app/one", digest: layer.digest) == nil)
        let progress = ProgressLog()
        try await client.uploadBlob(repository: "app/one", descriptor: layer, from: layerPath, progress: progress.record)
        try await client.uploadBlob(repository: "app/one", descriptor: config, from: configPath, progress: nil)
        #expect(try await client.blobExists(repository: "app/one", digest: layer.digest) == layer.size)
        #expect(progress.last == layer.size)

        // Chunked upload, with a chunk size that does not divide the blob.
        var chunked = testOptions()
        chunked.chunkSize = 100_000
        let chunkClient = RegistryClient(registry: registry.address, options: chunked, engine: engine)
        let bigBytes = testBytes(333_333, seed: "chunked")
        let (bigPath, big) = try work.blob("big", bigBytes)
        try await chunkClient.uploadBlob(repository: "app/one", descriptor: big, from: bigPath, progress: nil)
        #expect(try await client.blobExists(repository: "app/one", digest: big.digest) == big.size)

        // An empty blob: no PATCH body at all.
        let (emptyPath, empty) = try work.blob("empty", [])
        try await client.uploadBlob(repository: "app/one", descriptor: empty, from: emptyPath, progress: nil)
        #expect(try await client.blobExists(repository: "app/one", digest: empty.digest) == 0)

        // Manifests.
        let manifestBytes = imageManifest(config: config, layers: [layer, big])
        let pushed = try await client.putManifest(repository: "app/one", reference: "v1", bytes: manifestBytes,
                                                  mediaType: MediaType.ociManifest.rawValue)
        #expect(pushed == Digest.sha256(of: manifestBytes))
        let fetched = try await client.fetchManifest(repository: "app/one", reference: "v1", accept: [])
        #expect(fetched.bytes == manifestBytes)
        #expect(fetched.digest == pushed)
        #expect(fetched.mediaType == MediaType.ociManifest.rawValue)
        let byDigest = try await client.fetchManifest(repository: "app/one", reference: pushed.description,
                                                      accept: [MediaType.ociManifest.rawValue])
        #expect(byDigest.bytes == manifestBytes)
        let head = try await client.headManifest(repository: "app/one", reference: "v1", accept: [])
        #expect(head?.digest == pushed)
        #expect(head?.size == Int64(manifestBytes.count))
        #expect(head?.mediaType == MediaType.ociManifest.rawValue)
        #expect(try await client.headManifest(repository: "app/one", reference: "nope", accept: []) == nil)

        // Downloads, verified, several at once.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (name, descriptor) in [("l", layer), ("b", big), ("c", config), ("e", empty)] {
                group.addTask {
                    try await client.downloadBlob(repository: "app/one", descriptor: descriptor, to: work.file("got-" + name),
                                                  progress: nil)
                }
            }
            try await group.waitForAll()
        }
        #expect(readFile(work.file("got-l")) == layerBytes)
        #expect(readFile(work.file("got-b")) == bigBytes)
        #expect(readFile(work.file("got-e")) == [])

        // Mount into another repository; an unknown blob is not mounted (and its session is cancelled).
        #expect(try await client.mountBlob(repository: "app/two", digest: layer.digest, from: "app/one"))
        #expect(try await client.blobExists(repository: "app/two", digest: layer.digest) == layer.size)
        let unknown = Digest.sha256(of: Array("nothing".utf8))
        #expect(try await client.mountBlob(repository: "app/two", digest: unknown, from: "app/one") == false)

        // Delete by digest.
        try await client.deleteManifest(repository: "app/one", digest: pushed)
        #expect(try await client.headManifest(repository: "app/one", reference: pushed.description, accept: []) == nil)
    }

    @Test func errorsNameRegistryRepositoryObjectAndCode() async throws {
        let registry = try TestRegistry()
        defer { registry.stop() }
        let engine = TransferEngine()
        defer { engine.shutdown() }
        let client = RegistryClient(registry: registry.address, options: testOptions(), engine: engine)
        let failure = await #expect(throws: RegistryClientError.self) {
            _ = try await client.fetchManifest(repository: "lib/missing", reference: "v9", accept: [])
        }
        let text = failure?.description ?? ""
        #expect(failure?.status == 404)
        #expect(failure?.codes.contains(where: { $0 == .manifestUnknown || $0 == .nameUnknown }) == true)
        #expect(text.contains(registry.address) && text.contains("lib/missing") && text.contains("manifest v9"), "\(text)")
        #expect(text.contains("HTTP 404"), "\(text)")

        let work = try Workspace()
        let descriptor = Descriptor(mediaType: .ociLayerGzip, digest: Digest.sha256(of: [1, 2, 3]), size: 3)
        let blobFailure = await #expect(throws: RegistryClientError.self) {
            try await client.downloadBlob(repository: "lib/missing", descriptor: descriptor, to: work.file("x"), progress: nil)
        }
        #expect(blobFailure?.description.contains("blob \(descriptor.digest)") == true, "\(blobFailure?.description ?? "")")
        #expect(blobFailure?.codes.isEmpty == false)
        #expect(!fileExists(work.file("x")))

        // A pushed file that does not match its descriptor's size is refused before any request.
        let (path, real) = try work.blob("b", [1, 2, 3, 4])
        var wrong = real
        wrong.size = 5
        await #expect(throws: RegistryClientError.self) {
            try await client.uploadBlob(repository: "lib/x", descriptor: wrong, from: path, progress: nil)
        }
        // A digest the bytes do not hash to is refused by the registry's PUT ?digest=.
        var mislabelled = real
        mislabelled.digest = Digest.sha256(of: [9])
        let mismatch = await #expect(throws: RegistryClientError.self) {
            try await client.uploadBlob(repository: "lib/x", descriptor: mislabelled, from: path, progress: nil)
        }
        #expect(mismatch?.codes.contains(.digestInvalid) == true, "\(mismatch?.description ?? "")")
    }

    @Test func catalogAndTagsFollowLinkPagination() async throws {
        let registry = try TestRegistry { $0.catalogMaxEntries = 2 }
        defer { registry.stop() }
        let engine = TransferEngine()
        defer { engine.shutdown() }
        let work = try Workspace()
        let client = RegistryClient(registry: registry.address, options: testOptions(), engine: engine)
        let (configPath, config) = try work.blob("config", Array("{}".utf8), mediaType: .ociConfig)
        let manifest = imageManifest(config: config, layers: [])
        let repositories = ["a/one", "a/two", "b/three", "c/four", "c/five"]
        let tags = (0..<7).map { "t\($0)" }
        for repository in repositories {
            try await client.uploadBlob(repository: repository, descriptor: config, from: configPath, progress: nil)
            for tag in (repository == "a/one" ? tags : ["latest"]) {
                try await client.putManifest(repository: repository, reference: tag, bytes: manifest,
                                             mediaType: MediaType.ociManifest.rawValue)
            }
        }
        // Pages of 2: three requests, Link relative to the registry.
        let catalog = try await client.catalog()
        #expect(catalog.sorted() == repositories.sorted())

        // The registry pages tags only when asked (n=); a proxy asks for pages of 3 on the first request.
        let proxy = try FaultServer { request, connection, _ in
            var target = request.target
            if request.path.hasSuffix("/tags/list") && !target.contains("n=") { target += "?n=3" }
            let response = FaultServer.forward(request, body: connection.readBody(), to: registry.port, target: target)
            connection.respond(response, isHead: request.method == "HEAD")
        }
        defer { proxy.stop() }
        let viaProxy = RegistryClient(registry: proxy.address, options: testOptions(), engine: engine)
        let listed = try await viaProxy.listTags(repository: "a/one")
        #expect(listed == tags)
        #expect(proxy.requests.filter { $0.path.hasSuffix("/tags/list") }.count == 3)
    }

    @Test func tlsVerifyNeverFallsBackToHTTP() async throws {
        let registry = try TestRegistry()
        defer { registry.stop() }
        let engine = TransferEngine()
        defer { engine.shutdown() }
        var options = testOptions()
        options.tlsVerify = true
        options.retryTimes = 0
        let client = RegistryClient(registry: registry.address, options: options, engine: engine)
        let failure = await #expect(throws: RegistryClientError.self) { try await client.ping() }
        #expect(failure?.kind == .transport, "\(failure?.description ?? "")")
        // The same registry works once TLS verification is off (https fails, http is used).
        let insecure = RegistryClient(registry: registry.address, options: testOptions(), engine: engine)
        try await insecure.ping()
    }
}

/// Records progress callbacks.
final class ProgressLog: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [Int64] = []

    var record: TransferProgress {
        { [self] transferred, _ in lock.withLock { values.append(transferred) } }
    }

    var last: Int64? { lock.withLock { values.last } }
}
