@testable import BlobStore
import Glibc
import HTTPServer
import OCIModel
@testable import Registry
import SystemIO
import Testing
import TestSupport

/// Upload sessions as a resource clients compete for: no client can deny sessions to others, sessions that
/// receive nothing go quickly, and no request that fails leaves one behind.
@Suite(.offCooperativePool) struct APIUploadSessionTests {
    static let octet = ("Content-Type", "application/octet-stream")

    /// Waits up to `seconds` for `condition`.
    static func eventually(_ seconds: Double = 10, _ condition: () -> Bool) -> Bool {
        let deadline = Clock.monotonicNanos() + UInt64(seconds * 1e9)
        while !condition() {
            if Clock.monotonicNanos() > deadline { return false }
            usleep(20_000)
        }
        return true
    }

    static func sessions(_ r: RegistryFixture) -> [String] { directoryEntries(r.storagePath + "/uploads") }

    @Test func oneClientFloodingSessionsLeavesOthersTheirShare() throws {
        // The reported attack: 25 POSTs from one address with --max-uploads 20. Its default share is a tenth.
        let r = try RegistryFixture { $0.maxOpenUploads = 20 }
        defer { r.stop() }
        var statuses: [Int] = []
        for i in 0..<25 {
            let response = try r.request("POST", "/v2/dos\(i)/blobs/uploads/", from: "127.0.0.2")
            statuses.append(response.status)
            if response.status == 429 { expectOCIError(response, 429, .tooManyRequests, "flood \(i)") }
        }
        #expect(statuses.filter { $0 == 202 }.count == 2)
        #expect(statuses.filter { $0 == 429 }.count == 23)
        // Everyone else still pushes.
        try r.pushBlob("legit/app", testBytes(5000, seed: "legit"))
        #expect(try r.request("POST", "/v2/legit/other/blobs/uploads/", from: "127.0.0.3").status == 202)
    }

    @Test func thePerClientCapIsConfigurable() throws {
        let r = try RegistryFixture {
            $0.maxOpenUploads = 20
            $0.maxUploadsPerClient = 5
        }
        defer { r.stop() }
        for i in 0..<5 {
            #expect(try r.request("POST", "/v2/many/blobs/uploads/", from: "127.0.0.2").status == 202, "session \(i)")
        }
        expectOCIError(try r.request("POST", "/v2/many/blobs/uploads/", from: "127.0.0.2"), 429, .tooManyRequests)
        // A monolithic push counts too.
        let bytes = testBytes(100, seed: "mono")
        expectOCIError(try r.request("POST", "/v2/many/blobs/uploads/?digest=\(Digest.sha256(of: bytes))",
                                     headers: [Self.octet], body: bytes, from: "127.0.0.2"), 429, .tooManyRequests)
        #expect(try r.request("POST", "/v2/many/blobs/uploads/", from: "127.0.0.4").status == 202)
    }

    @Test func idleSessionsExpireAndFreeTheCap() throws {
        let r = try RegistryFixture {
            $0.maxOpenUploads = 3
            $0.maxUploadsPerClient = 3
            $0.uploadIdleTimeoutSeconds = 2
        }
        defer { r.stop() }
        var locations: [String] = []
        for _ in 0..<3 { locations.append(try r.startUpload("idle/flood")) }
        expectOCIError(try r.request("POST", "/v2/idle/flood/blobs/uploads/"), 429, .tooManyRequests)
        usleep(3_200_000)
        // Past the idle timeout the flood no longer holds the cap.
        _ = try r.startUpload("idle/next")
        for location in locations { expectOCIError(try r.request("GET", location), 404, .blobUploadUnknown) }
        #expect(Self.eventually { Self.sessions(r).count == 1 })
    }

    @Test func idleSessionsHoldNoDescriptor() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let uploads = r.storagePath + "/uploads"
        for i in 0..<48 {
            let location = try r.startUpload("fd/count")
            if i % 2 == 0 {
                let chunk = testBytes(1000, seed: "fd-\(i)")
                #expect(try r.request("PATCH", location, headers: [Self.octet, ("Content-Range", "0-999")], body: chunk).status == 202)
            }
        }
        #expect(Self.sessions(r).count == 48)
        #expect(UploadExpiryTests.descriptors(under: uploads) == 0)
    }

    @Test(arguments: ["", "?digest=sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"])
    func aMalformedChunkedBodyCreatesNoSession(query: String) throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let client = try TestClient(port: r.port)
        try client.send("POST /v2/bad/framing/blobs/uploads/\(query) HTTP/1.1\r\nHost: x\r\n"
                        + "Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
                        + "5\r\nhello\r\nzz\r\n\r\n")
        let response = try client.readResponse()
        #expect(response.status == 400)
        #expect(Self.sessions(r).isEmpty)
        // A body over the small allowance of a session's POST is refused before a session exists, too.
        let big = try r.request("POST", "/v2/bad/framing/blobs/uploads/", body: testBytes(100_000, seed: "big"))
        expectOCIError(big, 413, .sizeInvalid)
        #expect(Self.sessions(r).isEmpty)
        // A small body is ignored, as distribution does.
        #expect(try r.request("POST", "/v2/bad/framing/blobs/uploads/", body: Array("{}".utf8)).status == 202)
        #expect(Self.sessions(r).count == 1)
    }

    @Test func aCutOffMonolithicPostRemovesItsSession() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let digest = Digest.sha256(of: Array("never sent".utf8))
        do {
            let client = try TestClient(port: r.port)
            try client.send("POST /v2/cut/off/blobs/uploads/?digest=\(digest) HTTP/1.1\r\nHost: x\r\n"
                            + "Content-Type: application/octet-stream\r\nContent-Length: 10000000\r\n\r\n")
            try client.send(testBytes(300_000, seed: "cut"))
            #expect(Self.eventually { Self.sessions(r).count == 1 }, "the upload started")
        }  // the client goes away here, 9.7 MB short
        #expect(Self.eventually { Self.sessions(r).isEmpty }, "left: \(Self.sessions(r))")
    }

    @Test func aMonolithicSessionLeftByACrashIsRemovedAtStartAndAChunkedOneContinues() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let bytes = testBytes(20, seed: "crash")
        let digest = Digest.sha256(of: bytes)
        var location = try r.startUpload("push/crash")
        let first = try r.request("PATCH", location, headers: [Self.octet, ("Content-Range", "0-9")], body: Array(bytes[..<10]))
        #expect(first.status == 202)
        location = requestTarget(try #require(first.header("Location")))
        // What a `POST ?digest=` leaves on disk when the server dies under it: the files as the store writes
        // them, with part of the body (a second store over the same folder, whose process "crashes").
        let crashed = try BlobStore(root: r.storagePath)
        let single = try crashed.uploads.start(try RepositoryName(validating: "push/crash"), owner: "127.0.0.1", kind: .monolithic)
        try crashed.uploads.append(single, testBytes(1 << 20, seed: "lost"))
        close(single.fd)
        #expect(Self.sessions(r).count == 2)

        try r.restart()

        #expect(Self.sessions(r) == [String(pathOf(location).split(separator: "/").last!)])
        let second = try r.request("PATCH", location, headers: [Self.octet, ("Content-Range", "10-19")], body: Array(bytes[10...]))
        #expect(second.status == 202)
        #expect(second.header("Range") == "0-19")
        let done = try r.request("PUT", appendingQuery(location, "digest=\(digest)"))
        #expect(done.status == 201)
        #expect(try r.request("GET", "/v2/push/crash/blobs/\(digest)").body == bytes)
        #expect(Self.sessions(r).isEmpty)
    }

    @Test(arguments: [
        ("10.1.2.3:5000", "10.1.2.3"),
        ("[::ffff:10.1.2.3]:5000", "10.1.2.3"),
        ("[2001:db8:1:2:3:4:5:6]:443", "2001:db8:1:2::/64"),
        ("[2001:db8:1:2:ffff::1]:80", "2001:db8:1:2::/64"),
        ("[::1]:80", "0:0:0:0::/64"),
    ])
    func sessionsCountAgainstTheClientAddress(address: String, owner: String) throws {
        let request = Request(head: RequestHead(method: "POST", target: "/v2/a/blobs/uploads/"),
                              remoteAddress: try SocketAddress(parsing: address))
        #expect(RegistryResponder.uploadOwner(request) == owner)
    }
}
