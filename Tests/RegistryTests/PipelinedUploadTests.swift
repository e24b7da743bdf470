import Glibc
import OCIModel
import Testing
import TestSupport

/// Uploads large enough to go through the pipelined writer (hashing and writing on pool threads), end to end.
@Suite(.offCooperativePool, .serialized) struct PipelinedUploadTests {
    private static let octet = ("Content-Type", "application/octet-stream")

    @Test func bigChunksAcrossARestartStillVerify() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let bytes = testBytes(3 << 20, seed: "pipelined-restart")
        let digest = Digest.sha256(of: bytes)
        let split = 1_234_567
        var location = try r.startUpload("push/pipelined")
        let first = try r.request("PATCH", location, headers: [Self.octet, ("Content-Range", "0-\(split - 1)")],
                                  body: Array(bytes[..<split]))
        #expect(first.status == 202)
        #expect(first.header("Range") == "0-\(split - 1)")
        location = requestTarget(try #require(first.header("Location")))

        // The running hash is lost with the process; the session goes on from its data file.
        try r.restart()

        let second = try r.request("PATCH", location, headers: [Self.octet, ("Content-Range", "\(split)-\(bytes.count - 1)")],
                                   body: Array(bytes[split...]))
        #expect(second.status == 202)
        #expect(second.header("Range") == "0-\(bytes.count - 1)")
        location = requestTarget(second.header("Location") ?? location)
        let wrong = Digest.sha256(of: Array(bytes.reversed()))
        expectOCIError(try r.request("PUT", appendingQuery(location, "digest=\(wrong)")), 400, .digestInvalid)
        let put = try r.request("PUT", appendingQuery(location, "digest=\(digest)"))
        #expect(put.status == 201, "\(put.status) \(put.text)")
        let get = try r.request("GET", "/v2/push/pipelined/blobs/\(digest)")
        #expect(get.status == 200 && get.body == bytes)
    }

    @Test func aBodyCutOffMidwayKeepsWhatArrivedAndResumes() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let bytes = testBytes(2 << 20, seed: "pipelined-cut")
        let digest = Digest.sha256(of: bytes)
        let location = try r.startUpload("push/cut")
        let sent = 1 << 20
        do {
            // Announce 2 MiB, send 1 MiB, hang up.
            let client = try TestClient(port: r.port, timeoutSeconds: 20)
            try client.send("PATCH \(location) HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\n"
                + "Content-Length: \(bytes.count)\r\n\r\n")
            try client.send(Array(bytes[..<sent]))
        }
        // The session is busy until the server has noticed the hang-up and the writer has finished; before that
        // (the PATCH may still sit unread in the socket under load) the status can show fewer bytes. Everything
        // the client sent before hanging up arrives in the end.
        func receivedBytes() throws -> Int? {
            let status = try r.request("GET", location)
            guard status.status == 204, let range = status.header("Range") else { return nil }
            return Int(range.split(separator: "-").last ?? "").map { $0 + 1 }
        }
        var received = try receivedBytes()
        for _ in 0..<250 where received != sent {
            usleep(20_000)
            received = try receivedBytes()
        }
        #expect(received == sent)
        let resumeAt = try #require(received)
        // Whatever arrived is on disk and hashed consistently: the client continues from there.
        let rest = try r.request("PATCH", location, headers: [Self.octet, ("Content-Range", "\(resumeAt)-\(bytes.count - 1)")],
                                 body: Array(bytes[resumeAt...]))
        #expect(rest.status == 202, "\(rest.status) \(rest.text)")
        let put = try r.request("PUT", appendingQuery(requestTarget(rest.header("Location") ?? location), "digest=\(digest)"))
        #expect(put.status == 201, "\(put.status) \(put.text)")
        #expect(try r.request("GET", "/v2/push/cut/blobs/\(digest)").body == bytes)
    }
}
