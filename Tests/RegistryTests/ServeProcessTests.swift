import Glibc
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

    @Test func rejectsBadFlagsWithOneLineError() throws {
        let process = try ChildProcess(Self.binary, ["serve", "--address", "nonsense"])
        #expect(try process.waitForExit() != 0)
    }
}
