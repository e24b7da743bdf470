import Glibc
import OCIModel
import Testing
import TestSupport

/// The real `swregistry` binary, started as a process on 127.0.0.1:0.
@Suite struct ServeProcessTests {
    static var binary: String { ChildProcess.productsDirectory + "/swregistry" }

    @Test func servesVersionCheckAndExitsZeroOnSIGTERM() throws {
        let storage = "/tmp/swr-serve-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { _ = rmdir(storage) }
        let process = try ChildProcess(Self.binary, ["serve", "--address", "127.0.0.1:0", "--storage", storage])
        let line = try process.readLine(containing: "listening on")
        let port = try #require(UInt16(line.split(separator: " ")[3].split(separator: ":").last!))

        let client = try TestClient(port: port)
        try client.send("GET /v2/ HTTP/1.1\r\nHost: t\r\n\r\n")
        let response = try client.readResponse()
        #expect(response.status == 200)
        #expect(response.text == "{}")
        #expect(response.header("Docker-Distribution-API-Version") == "registry/2.0")
        try client.send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(try client.readResponse().status == 200)

        var st = stat()
        #expect(stat(storage, &st) == 0, "storage folder created")

        process.signal(SIGTERM)
        #expect(try process.waitForExit() == 0)
    }

    @Test func sigintWithRequestInFlightStillAnswersThenExitsZero() throws {
        let process = try ChildProcess(Self.binary, ["serve", "--address", "127.0.0.1:0", "--storage", "/tmp/swr-serve-sigint-\(getpid())"])
        defer { _ = rmdir("/tmp/swr-serve-sigint-\(getpid())") }
        let line = try process.readLine(containing: "listening on")
        let port = try #require(UInt16(line.split(separator: " ")[3].split(separator: ":").last!))
        // A request still arriving when the signal comes (its header section half sent): it must complete.
        let client = try TestClient(port: port)
        try client.send("GET /v2/ HTTP/1.1\r\nHost: t\r\n")
        usleep(200_000)
        process.signal(SIGINT)
        usleep(200_000)
        try client.send("Accept: */*\r\n\r\n")
        let response = try client.readResponse()
        #expect(response.status == 200)
        #expect(response.header("Connection") == "close")
        #expect(try process.waitForExit() == 0)
    }

    /// A second server on the same address must not start (with `SO_REUSEPORT` on every listener the kernel used
    /// to split connections between the two, each with its own store); nor may a second server on the same
    /// storage folder. The first keeps serving. Storage folders are created with their parents.
    @Test func secondServerOnTheSameAddressOrStorageIsRefused() throws {
        let base = "/tmp/swr-serve-twice-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { removeTree(base) }
        let storage = base + "/a/b/store"
        let first = try ChildProcess(Self.binary, ["serve", "--address", "127.0.0.1:0", "--storage", storage])
        let line = try first.readLine(containing: "listening on")
        let port = try #require(UInt16(line.split(separator: " ")[3].split(separator: ":").last!))
        var st = stat()
        #expect(stat(storage, &st) == 0 && st.st_mode & 0o777 == 0o700, "storage created with its parents, private")

        let sameAddressLog = base + "/same-address.log"
        let sameAddress = try ChildProcess(Self.binary, ["serve", "--address", "127.0.0.1:\(port)", "--storage", base + "/other"],
                                           stderrPath: sameAddressLog)
        #expect(try sameAddress.waitForExit() == 1)
        #expect(readText(sameAddressLog).contains("another process listens there"), "\(readText(sameAddressLog))")

        let sameStorageLog = base + "/same-storage.log"
        let sameStorage = try ChildProcess(Self.binary, ["serve", "--address", "127.0.0.1:0", "--storage", storage],
                                           stderrPath: sameStorageLog)
        #expect(try sameStorage.waitForExit() == 1)
        #expect(readText(sameStorageLog).contains("in use by another swregistry (pid \(first.pid)"), "\(readText(sameStorageLog))")

        // Deleting the pid file breaks nothing: the lock is on the folder.
        #expect(unlink(storage + "/.lock") == 0)
        let afterUnlink = try ChildProcess(Self.binary, ["serve", "--address", "127.0.0.1:0", "--storage", storage],
                                           stderrPath: sameStorageLog)
        #expect(try afterUnlink.waitForExit() == 1)
        #expect(readText(sameStorageLog).contains("in use by another swregistry (pid unknown"), "\(readText(sameStorageLog))")

        // Every connection reaches the one server, whose store holds the blob.
        let blob = Array("only here".utf8)
        let client = try TestClient(port: port)
        try client.send("POST /v2/one/blobs/uploads/?digest=\(Digest.sha256(of: blob)) HTTP/1.1\r\nHost: t\r\nContent-Length: \(blob.count)\r\n\r\n")
        try client.send(blob)
        #expect(try client.readResponse().status == 201)
        for _ in 0..<10 {
            let probe = try TestClient(port: port)
            try probe.send("HEAD /v2/one/blobs/\(Digest.sha256(of: blob)) HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(try probe.readResponse(head: true).status == 200)
        }

        first.signal(SIGTERM)
        #expect(try first.waitForExit() == 0)
        // The lock goes with the process: a new server starts on the same store at once.
        let again = try ChildProcess(Self.binary, ["serve", "--address", "127.0.0.1:0", "--storage", storage])
        _ = try again.readLine(containing: "listening on")
        again.signal(SIGTERM)
        #expect(try again.waitForExit() == 0)
    }

    @Test func rejectsBadFlagsWithOneLineError() throws {
        let process = try ChildProcess(Self.binary, ["serve", "--address", "nonsense"])
        #expect(try process.waitForExit() != 0)
    }
}

private func readText(_ path: String) -> String {
    readWholeFile(path).map { String(decoding: $0, as: UTF8.self) } ?? ""
}
