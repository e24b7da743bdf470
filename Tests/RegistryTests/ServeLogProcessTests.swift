import Foundation
import Glibc
import Logging
@testable import swregistry
import HTTPServer
import Synchronization
import Testing
import TestSupport

/// The real binary's log output: the access log and the other lines go through one writer to standard error, in
/// the configured format, and nothing finished before SIGTERM is lost.
@Suite struct ServeLogProcessTests {
    static var binary: String { ChildProcess.productsDirectory + "/swregistry" }

    private func serve(_ extra: [String], stderr: String) throws -> (ChildProcess, UInt16, String) {
        let storage = "/tmp/swr-log-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let process = try ChildProcess(Self.binary, ["serve", "--address", "127.0.0.1:0", "--storage", storage] + extra,
                                       stderrPath: stderr)
        let line = try process.readLine(containing: "listening on")
        let port = try #require(UInt16(line.split(separator: " ")[3].split(separator: ":").last!))
        return (process, port, storage)
    }

    private func read(_ path: String) -> [String] {
        guard let file = fopen(path, "r") else { return [] }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = fread(&chunk, 1, chunk.count, file)
            if n <= 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    /// N requests (on several connections, the last ones answered just before the signal) then SIGTERM: N access
    /// lines, each whole, every other line too, and the "stopped" line last.
    @Test func everyExchangeBeforeSIGTERMIsLogged() throws {
        let stderr = "/tmp/swr-log-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).err"
        defer { unlink(stderr) }
        let (process, port, storage) = try serve(["--log-formatter", "json"], stderr: stderr)
        defer { removeTree(storage) }
        let clients = try (0..<4).map { _ in try TestClient(port: port) }
        let perClient = 250
        for i in 0..<perClient {
            for (c, client) in clients.enumerated() {
                try client.send("GET /v2/app\(c)/manifests/t\(i) HTTP/1.1\r\nHost: t\r\n\r\n")
                #expect(try client.readResponse().status == 404)
            }
        }
        process.signal(SIGTERM)
        #expect(try process.waitForExit() == 0)
        let lines = read(stderr)
        let objects = lines.map(parseJSON)
        #expect(objects.allSatisfy { $0 != nil }, "a line that is not one JSON object")
        let access = objects.compactMap { $0 }.filter { $0["msg"] as? String == "access" }
        #expect(access.count == clients.count * perClient)
        // In order per connection, with the registry's context.
        for c in clients.indices {
            let targets = access.filter { $0["repository"] as? String == "app\(c)" }.compactMap { $0["reference"] as? String }
            #expect(targets == (0..<perClient).map { "t\($0)" })
        }
        #expect(access.first?["route"] as? String == "manifest" && access.first?["status"] as? Int == 404)
        #expect(objects.last??["msg"] as? String == "stopped")
        #expect(objects.contains { ($0?["msg"] as? String)?.hasPrefix("signal 15") == true })
    }

    /// Text (logfmt) by default; `log.accesslog.disabled` leaves only the server's own lines.
    @Test func textByDefaultAndAccessLogCanBeTurnedOff() throws {
        for disabled in [false, true] {
            let stderr = "/tmp/swr-log-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).err"
            defer { unlink(stderr) }
            let config = stderr + ".yml"
            defer { unlink(config) }
            let file = fopen(config, "w")!
            fputs("version: 0.1\nlog:\n  accesslog:\n    disabled: \(disabled)\n", file)
            fclose(file)
            let (process, port, storage) = try serve(["--config", config], stderr: stderr)
            defer { removeTree(storage) }
            let client = try TestClient(port: port)
            try client.send("GET /v2/ HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(try client.readResponse().status == 200)
            process.signal(SIGTERM)
            #expect(try process.waitForExit() == 0)
            let lines = read(stderr)
            #expect(lines.allSatisfy { $0.hasPrefix("time=") && $0.contains(" level=") })
            #expect(lines.filter { $0.contains(" msg=access ") }.count == (disabled ? 0 : 1))
            #expect(lines.contains { $0.contains("msg=\"listening on") })
        }
    }

    private func parseJSON(_ line: String) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
    }
}

/// The swift-log handler behind `LogLevelControl.bootstrap`: fields and metadata reach the writer.
@Suite struct WriterLogHandlerTests {
    final class Sink: LogSink {
        let bytes = Mutex<[UInt8]>([])
        func write(_ buffer: UnsafeRawBufferPointer) { bytes.withLock { $0.append(contentsOf: buffer) } }
    }

    @Test func metadataAndErrorsBecomeFields() throws {
        struct Failure: Error, CustomStringConvertible { var description: String { "disk on fire" } }
        let sink = Sink()
        let writer = LogWriter(sink: sink, format: .json)
        var logger = Logger(label: "test") { _ in WriterLogHandler(writer: writer) }
        logger[metadataKey: "request.id"] = "r1"
        logger.error("cannot \u{202E}write", error: Failure(), metadata: ["blob.digest": "sha256:ab"])
        writer.stop()
        let text = String(decoding: sink.bytes.withLock { $0 }, as: UTF8.self)
        let object = try #require((try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any], "\(text)")
        #expect(object["level"] as? String == "error" && object["msg"] as? String == "cannot \u{202E}write")
        #expect(object["request.id"] as? String == "r1" && object["blob.digest"] as? String == "sha256:ab")
        #expect(object["error"] as? String == "disk on fire")
        #expect(!text.unicodeScalars.contains("\u{202E}"))
    }
}
