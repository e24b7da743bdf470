import Foundation
import OCIModel
import RegistryClient
import Logging
import Testing
import TestSupport

/// Blob downloads through a proxy that cuts, corrupts, throttles and ignores `Range`.
@Suite struct DownloadFaultTests {
    @Test func brokenConnectionResumesWithRangeFromVerifiedBytes() async throws {
        let cut = 150_000
        let rig = try await Rig { request, connection, server, upstream in
            let answer = Rig.forward(request, connection, to: upstream)
            if request.method == "GET", request.path.contains("/blobs/"), server.count("get") == 1 {
                connection.respondTruncated(answer.status, headers: answer.headers, declaredLength: answer.body.count,
                                            body: Array(answer.body.prefix(cut)))
            } else {
                connection.respond(answer, isHead: request.method == "HEAD")
            }
        }
        defer { rig.stop() }
        let target = rig.work.file("resumed")
        let progress = ProgressLog()
        let log = CapturingLogHandler.Store()
        let client = rig.client { $0.logger = Logger(label: "test") { _ in CapturingLogHandler(store: log) } }
        try await client.downloadBlob(repository: rig.repository, descriptor: rig.descriptor, to: target,
                                      progress: progress.record)
        #expect(log.messages.contains { $0.level == .notice && $0.message.contains("resuming from byte \(cut)") },
                "\(log.messages)")
        #expect(readFile(target) == rig.bytes)
        let gets = rig.blobGets
        #expect(gets.count == 2)
        #expect(gets.first?.header("Range") == nil)
        #expect(gets.last?.header("Range") == "bytes=\(cut)-")
        #expect(progress.last == rig.descriptor.size)
    }

    @Test func redirectsToStorageAreFollowedWithoutCredentials() async throws {
        // Blob GETs are redirected (307) to a storage server, which cuts the first answer: the resume goes through
        // the registry again and is redirected again, with its Range.
        let storage = try FaultServer { _, _, _ in }
        defer { storage.stop() }
        let cut = 70_000
        let registryPort = UnsafeSendableBox<UInt16>(0)
        let store = try FaultServer { request, connection, server in
            let answer = FaultServer.forward(request, body: connection.readBody(), to: registryPort.value,
                                             target: String(request.target.dropFirst("/storage".count)))
            if server.count("get") == 1 {
                connection.respondTruncated(answer.status, headers: answer.headers, declaredLength: answer.body.count,
                                            body: Array(answer.body.prefix(cut)))
            } else {
                connection.respond(answer, isHead: false)
            }
        }
        defer { store.stop() }
        let rig = try await Rig { request, connection, _, upstream in
            if request.method == "GET", request.path.contains("/blobs/sha256:") {
                connection.respond(307, headers: [("Location", "http://\(store.address)/storage\(request.target)")])
                return
            }
            connection.respond(Rig.forward(request, connection, to: upstream), isHead: request.method == "HEAD")
        }
        defer { rig.stop() }
        registryPort.value = rig.registry.port
        let client = rig.client { $0.credentials = Credentials(username: "u", password: "p") }
        let target = rig.work.file("redirected")
        try await client.downloadBlob(repository: rig.repository, descriptor: rig.descriptor, to: target, progress: nil)
        #expect(readFile(target) == rig.bytes)
        #expect(store.requests.count == 2)
        #expect(store.requests.last?.header("Range") == "bytes=\(cut)-")
        #expect(store.requests.allSatisfy { $0.header("Authorization") == nil })
    }

    @Test func registryIgnoringRangeRestartsFromZero() async throws {
        let rig = try await Rig { request, connection, server, upstream in
            // Never honours Range: always the whole blob (200).
            let answer = Rig.forward(request, connection, to: upstream, dropping: ["Range"])
            if request.method == "GET", request.path.contains("/blobs/"), server.count("get") == 1 {
                connection.respondTruncated(answer.status, headers: answer.headers, declaredLength: answer.body.count,
                                            body: Array(answer.body.prefix(99_999)))
            } else {
                connection.respond(answer, isHead: request.method == "HEAD")
            }
        }
        defer { rig.stop() }
        let target = rig.work.file("restarted")
        try await rig.client().downloadBlob(repository: rig.repository, descriptor: rig.descriptor, to: target, progress: nil)
        #expect(readFile(target) == rig.bytes)
        #expect(rig.blobGets.count == 2)
        #expect(rig.blobGets.last?.header("Range") == "bytes=99999-")
    }

    @Test func corruptBytesAreRetriedOnceFromZero() async throws {
        let rig = try await Rig { request, connection, server, upstream in
            var answer = Rig.forward(request, connection, to: upstream)
            if request.method == "GET", request.path.contains("/blobs/"), server.count("get") == 1 {
                answer.body[answer.body.count / 2] ^= 0xFF
            }
            connection.respond(answer, isHead: request.method == "HEAD")
        }
        defer { rig.stop() }
        let target = rig.work.file("fixed")
        try await rig.client().downloadBlob(repository: rig.repository, descriptor: rig.descriptor, to: target, progress: nil)
        #expect(readFile(target) == rig.bytes)
        #expect(rig.blobGets.count == 2)
        #expect(rig.blobGets.last?.header("Range") == nil)
    }

    @Test func persistentCorruptionFailsClearlyAndLeavesNoFile() async throws {
        let rig = try await Rig { request, connection, _, upstream in
            var answer = Rig.forward(request, connection, to: upstream)
            if request.method == "GET", request.path.contains("/blobs/"), !answer.body.isEmpty {
                answer.body[0] ^= 0x01
            }
            connection.respond(answer, isHead: request.method == "HEAD")
        }
        defer { rig.stop() }
        let target = rig.work.file("never")
        let failure = await #expect(throws: RegistryClientError.self) {
            try await rig.client().downloadBlob(repository: rig.repository, descriptor: rig.descriptor, to: target,
                                                progress: nil)
        }
        #expect(failure?.kind == .integrity)
        let text = failure?.description ?? ""
        #expect(text.contains("digest mismatch") && text.contains(rig.descriptor.digest.description), "\(text)")
        #expect(!fileExists(target))
        #expect(rig.blobGets.count == 2)
    }

    @Test func oversizedBodyIsStoppedAndNotKept() async throws {
        let rig = try await Rig(size: 50_000) { _, _, _, _ in }
        defer { rig.stop() }
        // The descriptor claims fewer bytes than the registry has: the transfer stops early, once more, then fails.
        var short = rig.descriptor
        short.size = 40_000
        let target = rig.work.file("short")
        let failure = await #expect(throws: RegistryClientError.self) {
            try await rig.directClient().downloadBlob(repository: rig.repository, descriptor: short, to: target, progress: nil)
        }
        #expect(failure?.kind == .integrity, "\(failure?.description ?? "")")
        #expect(!fileExists(target))
    }

    @Test func throttlingAndServerErrorsAreRetriedHonouringRetryAfter() async throws {
        let rig = try await Rig { request, connection, server, upstream in
            guard request.method == "GET", request.path.contains("/blobs/") else {
                connection.respond(Rig.forward(request, connection, to: upstream), isHead: request.method == "HEAD")
                return
            }
            switch server.count("get") {
            case 1: connection.respond(503, body: ociErrorBody("UNAVAILABLE", "try later"))
            case 2: connection.respond(429, headers: [("Retry-After", "1")], body: ociErrorBody("TOOMANYREQUESTS", "slow down"))
            case 3: connection.respond(500, body: Array("oops".utf8))
            default: connection.respond(Rig.forward(request, connection, to: upstream), isHead: false)
            }
        }
        defer { rig.stop() }
        let target = rig.work.file("patient")
        let start = ContinuousClock.now
        try await rig.client { $0.retryTimes = 3 }.downloadBlob(repository: rig.repository, descriptor: rig.descriptor,
                                                                to: target, progress: nil)
        #expect(ContinuousClock.now - start >= .seconds(1))
        #expect(readFile(target) == rig.bytes)
        #expect(rig.blobGets.count == 4)
    }

    @Test func retriesRunOutWithTheLastStatusAndCode() async throws {
        let rig = try await Rig(size: 1000) { request, connection, _, upstream in
            connection.respond(request.path == "/v2/" ? 200 : 503, body: request.path == "/v2/" ? [] : ociErrorBody("UNAVAILABLE", "down for maintenance"))
        }
        defer { rig.stop() }
        let target = rig.work.file("unavailable")
        let failure = await #expect(throws: RegistryClientError.self) {
            try await rig.client { $0.retryTimes = 2 }.downloadBlob(repository: rig.repository, descriptor: rig.descriptor,
                                                                    to: target, progress: nil)
        }
        #expect(failure?.status == 503)
        #expect(failure?.codes == [.unavailable])
        #expect(failure?.description.contains("down for maintenance") == true)
        #expect(rig.blobGets.count == 3)
        #expect(!fileExists(target))
    }

    @Test func clientErrorsFailAtOnce() async throws {
        let rig = try await Rig(size: 1000) { request, connection, _, upstream in
            connection.respond(request.path == "/v2/" ? 200 : 403, body: ociErrorBody("DENIED", "not yours"))
        }
        defer { rig.stop() }
        let failure = await #expect(throws: RegistryClientError.self) {
            try await rig.client().downloadBlob(repository: rig.repository, descriptor: rig.descriptor,
                                                to: rig.work.file("denied"), progress: nil)
        }
        #expect(failure?.codes == [.denied])
        #expect(failure?.status == 403)
        #expect(rig.blobGets.count == 1)
    }

    @Test func manifestFetchSurvivesACutConnection() async throws {
        let rig = try await Rig(size: 100) { request, connection, server, upstream in
            let answer = Rig.forward(request, connection, to: upstream)
            if request.path.contains("/manifests/"), request.method == "GET", server.count("manifest") == 1 {
                connection.respondTruncated(answer.status, headers: answer.headers, declaredLength: answer.body.count,
                                            body: Array(answer.body.prefix(10)))
            } else {
                connection.respond(answer, isHead: request.method == "HEAD")
            }
        }
        defer { rig.stop() }
        let manifest = imageManifest(config: rig.descriptor, layers: [])
        try await rig.directClient().putManifest(repository: rig.repository, reference: "v1", bytes: manifest,
                                                 mediaType: MediaType.ociManifest.rawValue)
        let fetched = try await rig.client().fetchManifest(repository: rig.repository, reference: "v1", accept: [])
        #expect(fetched.bytes == manifest)
        #expect(rig.proxy.counter("manifest") == 2)
    }

    @Test func oversizedManifestsAndWrongDigestHeadersAreRefused() async throws {
        let rig = try await Rig(size: 100) { request, connection, _, upstream in
            if request.path.hasSuffix("/manifests/huge") {
                connection.respond(200, headers: [("Content-Type", MediaType.ociManifest.rawValue)],
                                   body: [UInt8](repeating: 0x20, count: 4 * 1024 * 1024 + 1))
                return
            }
            var answer = Rig.forward(request, connection, to: upstream)
            if request.path.hasSuffix("/manifests/v1") {
                answer.headers = answer.headers.filter { $0.0.lowercased() != "docker-content-digest" }
                answer.headers.append(("Docker-Content-Digest", Digest.sha256(of: Array("other".utf8)).description))
            }
            connection.respond(answer, isHead: request.method == "HEAD")
        }
        defer { rig.stop() }
        let manifest = imageManifest(config: rig.descriptor, layers: [])
        try await rig.directClient().putManifest(repository: rig.repository, reference: "v1", bytes: manifest,
                                                 mediaType: MediaType.ociManifest.rawValue)
        let client = rig.client()
        let huge = await #expect(throws: RegistryClientError.self) {
            _ = try await client.fetchManifest(repository: rig.repository, reference: "huge", accept: [])
        }
        #expect(huge?.kind == .integrity)
        #expect(huge?.description.contains("larger than 4194304 bytes") == true, "\(huge?.description ?? "")")
        let wrong = await #expect(throws: RegistryClientError.self) {
            _ = try await client.fetchManifest(repository: rig.repository, reference: "v1", accept: [])
        }
        #expect(wrong?.kind == .integrity)
        #expect(wrong?.description.contains("manifest v1") == true)
    }

    @Test func manifestNotMatchingItsDigestIsRefused() async throws {
        let rig = try await Rig(size: 100) { request, connection, _, upstream in
            var answer = Rig.forward(request, connection, to: upstream)
            if request.path.contains("/manifests/"), request.method == "GET" {
                answer.body[answer.body.count - 2] = UInt8(ascii: " ")
            }
            connection.respond(answer, isHead: request.method == "HEAD")
        }
        defer { rig.stop() }
        let manifest = imageManifest(config: rig.descriptor, layers: [])
        let digest = try await rig.directClient().putManifest(repository: rig.repository, reference: "v1", bytes: manifest,
                                                              mediaType: MediaType.ociManifest.rawValue)
        let failure = await #expect(throws: RegistryClientError.self) {
            _ = try await rig.client().fetchManifest(repository: rig.repository, reference: digest.description, accept: [])
        }
        #expect(failure?.kind == .integrity)
        #expect(failure?.description.contains("digest mismatch") == true)
    }
}

/// A value set once before handlers run (the proxy is made before the port it forwards to is known).
final class UnsafeSendableBox<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T
    init(_ value: T) { stored = value }
    var value: T {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
