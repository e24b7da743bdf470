import Glibc
import OCIModel
import Synchronization
import SystemIO
import Testing
import TestSupport

/// Many clients pushing the same blob and moving the same tag at once end with one correct copy.
@Suite(.offCooperativePool, .serialized) struct ConcurrencyTests {
    final class Results: Sendable {
        let statuses = Mutex<[Int]>([])
    }

    @Test func concurrentPushesOfOneBlobAndOneTagEndInOneCorrectCopy() throws {
        let fixture = try RegistryFixture()
        defer { fixture.stop() }
        let port = fixture.port
        let blob = testBytes(300_000, seed: "same-blob")
        let digest = Digest.sha256(of: blob)
        let config = try fixture.pushDescriptor("race/img", Array(#"{"os":"linux"}"#.utf8), mediaType: MediaType.ociConfig.rawValue)
        let results = Results()
        var threads: [pthread_t] = []
        let manifests: [[UInt8]] = (0..<8).map { i in
            ManifestJSON.image(config: config, layers: [Desc(mediaType: MediaType.ociLayerGzip.rawValue, digest: digest, size: blob.count)],
                               annotations: [("writer", "\(i)")])
        }
        for i in 0..<8 {
            threads.append(SystemIO.Thread.start(name: "racer") {
                guard let client = try? TestClient(port: port) else { return }
                // Half push monolithically, half through a streamed session; all the same bytes.
                var status = 0
                if i % 2 == 0 {
                    status = (try? client.request("POST", "/v2/race/img/blobs/uploads/?digest=\(digest)", body: blob))?.status ?? 0
                } else if let started = try? client.request("POST", "/v2/race/img/blobs/uploads/"),
                          let location = started.header("Location"),
                          (try? client.request("PATCH", location, body: blob))?.status == 202 {
                    status = (try? client.request("PUT", "\(location)?digest=\(digest)"))?.status ?? 0
                }
                let tagged = (try? client.request("PUT", "/v2/race/img/manifests/latest",
                                                  headers: [("Content-Type", MediaType.ociManifest.rawValue)], body: manifests[i]))?.status ?? 0
                results.statuses.withLock { $0.append(contentsOf: [status, tagged]) }
            })
        }
        for thread in threads { pthread_join(thread, nil) }
        #expect(results.statuses.withLock { $0 }.allSatisfy { $0 == 201 })

        // One file for the blob, with the right bytes.
        let prefix = String(digest.encoded.prefix(2))
        #expect(try listDirectory("\(fixture.storagePath)/blobs/sha256/\(prefix)").filter { $0 == digest.encoded }.count == 1)
        let get = try fixture.request("GET", "/v2/race/img/blobs/\(digest)")
        #expect(get.body == blob)
        // The tag points at exactly one of the manifests written, and serves its bytes whole.
        let tagged = try fixture.request("GET", "/v2/race/img/manifests/latest")
        #expect(manifests.contains(tagged.body))
        #expect(tagged.header("Docker-Content-Digest") == Digest.sha256(of: tagged.body).description)
        // Nothing left behind: no upload sessions, no temporary files.
        #expect(try listDirectory("\(fixture.storagePath)/uploads").isEmpty)
        #expect(try listDirectory("\(fixture.storagePath)/tmp").isEmpty)
    }
}
