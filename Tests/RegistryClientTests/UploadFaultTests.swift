import Foundation
import OCIModel
import RegistryClient
import Testing

/// Blob uploads through a proxy that breaks PATCHes, loses sessions and asks for bigger chunks.
@Suite struct UploadFaultTests {
    /// Downloads the pushed blob straight from the registry and compares it with the source.
    private func expectStored(_ rig: Rig, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let direct = rig.directClient()
        #expect(try await direct.blobExists(repository: rig.repository, digest: rig.descriptor.digest) == rig.descriptor.size,
                sourceLocation: sourceLocation)
        let copy = rig.work.file("pulled-back")
        try await direct.downloadBlob(repository: rig.repository, descriptor: rig.descriptor, to: copy, progress: nil)
        #expect(readFile(copy) == rig.bytes, sourceLocation: sourceLocation)
    }

    private func patches(_ rig: Rig) -> [RawRequest] {
        rig.proxy.requests.filter { $0.method == "PATCH" }
    }

    @Test func streamedPatchBrokenMidwayResumesFromTheStatusRange() async throws {
        let received = 120_000
        let rig = try await Rig(size: 600_000, push: false) { request, connection, server, upstream in
            if request.method == "PATCH", server.count("patch") == 1 {
                // The registry gets the first bytes, then the connection dies under the client.
                let part = connection.readBody(limit: received)
                let answer = FaultServer.forward(request, body: part, to: upstream)
                precondition(answer.status == 202, "forwarded partial PATCH: \(answer.status)")
                connection.close()
                return
            }
            connection.respond(Rig.forward(request, connection, to: upstream), isHead: request.method == "HEAD")
        }
        defer { rig.stop() }
        let progress = ProgressLog()
        try await rig.client().uploadBlob(repository: rig.repository, descriptor: rig.descriptor, from: rig.sourcePath,
                                          progress: progress.record)
        let methods = rig.proxy.requests.map(\.method).filter { $0 != "GET" || true }
        #expect(methods.contains("GET"), "status asked after the break: \(methods)")
        let sent = patches(rig)
        #expect(sent.count == 2)
        #expect(sent.first?.header("Content-Range") == nil)
        #expect(sent.last?.header("Content-Range") == "\(received)-\(rig.bytes.count - 1)")
        #expect(rig.proxy.requests.filter { $0.method == "POST" }.count == 1)
        #expect(progress.last == rig.descriptor.size)
        try await expectStored(rig)
    }

    @Test func chunkedUploadRecoversFromA503AndFollowsAbsoluteLocations() async throws {
        let rig = try await Rig(size: 250_000, push: false) { request, connection, server, upstream in
            if request.method == "PATCH", server.count("patch") == 2 {
                _ = connection.readBody()
                connection.respond(503, body: ociErrorBody("UNAVAILABLE", "busy"))
                return
            }
            var answer = Rig.forward(request, connection, to: upstream)
            // Absolute Location URLs, as registries behind proxies send them.
            answer.headers = answer.headers.map { name, value in
                name.lowercased() == "location" && value.hasPrefix("/") ? (name, "http://\(server.address)\(value)") : (name, value)
            }
            connection.respond(answer, isHead: request.method == "HEAD")
        }
        defer { rig.stop() }
        try await rig.client { $0.chunkSize = 100_000 }.uploadBlob(
            repository: rig.repository, descriptor: rig.descriptor, from: rig.sourcePath, progress: nil)
        let ranges = patches(rig).map { $0.header("Content-Range") ?? "none" }
        #expect(ranges == ["0-99999", "100000-199999", "100000-199999", "200000-249999"])
        try await expectStored(rig)
    }

    @Test func chunkMinimumLengthFromThePostIsHonoured() async throws {
        let rig = try await Rig(size: 330_000, push: false) { request, connection, _, upstream in
            var answer = Rig.forward(request, connection, to: upstream)
            if request.method == "POST" { answer.headers.append(("OCI-Chunk-Min-Length", "150000")) }
            connection.respond(answer, isHead: request.method == "HEAD")
        }
        defer { rig.stop() }
        try await rig.client { $0.chunkSize = 40_000 }.uploadBlob(
            repository: rig.repository, descriptor: rig.descriptor, from: rig.sourcePath, progress: nil)
        let ranges = patches(rig).map { $0.header("Content-Range") ?? "none" }
        #expect(ranges == ["0-149999", "150000-299999", "300000-329999"])
        try await expectStored(rig)
    }

    @Test func lostSessionStartsOverWithANewPost() async throws {
        let rig = try await Rig(size: 200_000, push: false) { request, connection, server, upstream in
            if request.method == "PATCH", server.count("patch") == 1 {
                connection.close()
                return
            }
            if request.method == "GET", request.path.contains("/blobs/uploads/") {
                connection.respond(404, body: ociErrorBody("BLOB_UPLOAD_UNKNOWN", "upload expired"))
                return
            }
            connection.respond(Rig.forward(request, connection, to: upstream), isHead: request.method == "HEAD")
        }
        defer { rig.stop() }
        try await rig.client().uploadBlob(repository: rig.repository, descriptor: rig.descriptor, from: rig.sourcePath,
                                          progress: nil)
        #expect(rig.proxy.requests.filter { $0.method == "POST" }.count == 2)
        try await expectStored(rig)
    }

    @Test func putFailingAfterTheRegistryStoredTheBlobSucceeds() async throws {
        let rig = try await Rig(size: 10_000, push: false) { request, connection, server, upstream in
            let answer = Rig.forward(request, connection, to: upstream)
            if request.method == "PUT", server.count("put") == 1 {
                // The registry committed the blob, but the answer is lost.
                connection.close()
                return
            }
            connection.respond(answer, isHead: request.method == "HEAD")
        }
        defer { rig.stop() }
        try await rig.client().uploadBlob(repository: rig.repository, descriptor: rig.descriptor, from: rig.sourcePath,
                                          progress: nil)
        #expect(rig.proxy.requests.contains { $0.method == "HEAD" })
        try await expectStored(rig)
    }
}
