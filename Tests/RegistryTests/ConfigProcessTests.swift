import Foundation
import Glibc
import Testing
import TestSupport

/// `swregistry config check|print` and `serve --config` with SIGHUP, on the real binary.
@Suite struct ConfigProcessTests {
    static var binary: String { ServeProcessTests.binary }

    /// A scratch folder with a configuration file in it.
    struct Scratch {
        let directory = makeTemporaryDirectory(prefix: "swr-config-process")
        var file: String { directory + "/swregistry.yml" }
        var log: String { directory + "/stderr.log" }

        func write(_ text: String, to path: String? = nil) {
            // Replaced by rename, as editors and config management do, so a reader never sees half a file.
            let target = path ?? file
            let temporary = target + ".tmp"
            let handle = fopen(temporary, "w")!
            fputs(text, handle)
            fclose(handle)
            rename(temporary, target)
        }

        func logText() -> String { readWholeFile(log).map { String(decoding: $0, as: UTF8.self) } ?? "" }

        /// Waits until the log holds `text` `count` times.
        func waitForLog(_ text: String, count: Int = 1) -> Bool {
            for _ in 0..<300 {
                if logText().components(separatedBy: text).count - 1 >= count { return true }
                usleep(20_000)
            }
            return false
        }
    }

    /// Starts `swregistry` with `arguments` under `env` with `variables`; stderr to the scratch log.
    func run(_ scratch: Scratch, _ arguments: [String], variables: [String] = []) throws -> ChildProcess {
        try ChildProcess("/usr/bin/env", variables + [Self.binary] + arguments, stderrPath: scratch.log)
    }

    @Test func checkSaysOkOrNamesEveryError() throws {
        let scratch = Scratch()
        defer { removeTree(scratch.directory) }
        scratch.write("version: 0.1\nhttp:\n  addr: 127.0.0.1:0\n  idleTimeout: 30s\nstorage:\n  filesystem: {rootdirectory: \(scratch.directory)/data}\n")
        let good = try run(scratch, ["config", "check", scratch.file])
        #expect(try good.readLine(containing: "ok") == "ok")
        #expect(try good.waitForExit() == 0)

        scratch.write("http:\n  threads: abc\n  maxconnections: [1]\nbogus: 1\n")
        let bad = try run(scratch, ["config", "check", scratch.file])
        #expect(try bad.waitForExit() == 1)
        let log = scratch.logText()
        #expect(log.contains("\(scratch.file):2: http.threads: \"abc\" is not an integer (accepted: an integer from 1 to 256)"), "\(log)")
        #expect(log.contains("\(scratch.file):3: http.maxconnections: expected an integer"), "\(log)")
        #expect(log.contains("\(scratch.file):4: bogus: unknown key"), "\(log)")

        // Without an argument, $SWREGISTRY_CONFIG names the file; the environment is checked too.
        let fromVariable = try run(scratch, ["config", "check"], variables: ["SWREGISTRY_CONFIG=\(scratch.file)", "SWREGISTRY_THREADS=x"])
        #expect(try fromVariable.waitForExit() == 1)
        #expect(scratch.logText().contains("$SWREGISTRY_THREADS: http.threads: \"x\" is not an integer"))
    }

    @Test func printShowsEffectiveValuesWithSourcesRedacted() throws {
        let scratch = Scratch()
        defer { removeTree(scratch.directory) }
        scratch.write("""
            http:
              addr: 127.0.0.1:7777
            auth:
              token: {realm: "https://bot:pa55word@auth.example.com/token", service: reg, issuer: auth, jwks: /etc/jwks.json}
            """)
        let process = try run(scratch, ["config", "print", "--config", scratch.file], variables: ["SWREGISTRY_MAX_UPLOADS=12"])
        var text = ""
        while let line = try? process.readLine(containing: ":", timeoutSeconds: 10) { text += line + "\n" }
        #expect(try process.waitForExit() == 0)
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.hasPrefix("  addr: 127.0.0.1:7777") && $0.hasSuffix("# \(scratch.file):2") }, "\(text)")
        #expect(lines.contains { $0.hasPrefix("    max: 12") && $0.hasSuffix("# $SWREGISTRY_MAX_UPLOADS") }, "\(text)")
        #expect(lines.contains { $0.hasPrefix("    jwks: /etc/jwks.json") }, "paths are shown")
        #expect(!text.contains("pa55word") && text.contains("<redacted>@auth.example.com"))
    }

    /// Today `SWREGISTRY_THREADS=abc` was ignored; now the server refuses to start and says why.
    @Test func serveRefusesMalformedVariable() throws {
        let scratch = Scratch()
        defer { removeTree(scratch.directory) }
        let process = try run(scratch, ["serve", "--address", "127.0.0.1:0", "--storage", scratch.directory + "/data"],
                              variables: ["SWREGISTRY_THREADS=abc"])
        #expect(try process.waitForExit() == 1)
        #expect(scratch.logText().contains("$SWREGISTRY_THREADS: http.threads: \"abc\" is not an integer"), "\(scratch.logText())")
    }

    /// SIGHUP under traffic: a broken file is logged and the server keeps serving with its configuration; a valid
    /// file is applied (the log level here); no request fails meanwhile.
    @Test func sighupReloadsAndABrokenFileKeepsServing() throws {
        let scratch = Scratch()
        defer { removeTree(scratch.directory) }
        let storage = scratch.directory + "/data"
        let base = "http: {addr: \"127.0.0.1:0\"}\nstorage: {filesystem: {rootdirectory: \(storage)}}\n"
        scratch.write(base + "log: {level: notice}\n")
        let process = try run(scratch, ["serve", "--config", scratch.file])
        let line = try process.readLine(containing: "listening on")
        let port = try #require(UInt16(line.split(separator: " ")[3].split(separator: ":").last!))
        let keepAlive = try TestClient(port: port)
        var failures = 0
        func request(_ client: TestClient) {
            do {
                try client.send("GET /v2/ HTTP/1.1\r\nHost: t\r\n\r\n")
                if try client.readResponse().status != 200 { failures += 1 }
            } catch { failures += 1 }
        }

        scratch.write(base + "log: {level: notice}\nhttp: {threads: [}\n")
        for round in 1...3 {
            process.signal(SIGHUP)
            for _ in 0..<20 { request(keepAlive); request(try TestClient(port: port)) }
            #expect(scratch.waitForLog("reload failed, keeping the running configuration", count: round), "\(scratch.logText())")
        }
        #expect(scratch.logText().contains("\(scratch.file):4"), "the error names the line")

        scratch.write(base + "log: {level: debug}\n")
        process.signal(SIGHUP)
        #expect(scratch.waitForLog("configuration reloaded from \(scratch.file)"), "\(scratch.logText())")
        #expect(scratch.logText().contains("reload: log.level: notice → debug"))
        // At notice no request was logged; at debug the access log (info) appears.
        #expect(!scratch.logText().contains("msg=access"))
        for _ in 0..<5 { request(keepAlive) }
        #expect(scratch.waitForLog("msg=access client=127.0.0.1:"), "\(scratch.logText())")

        // A key that needs a restart is reported as such.
        scratch.write("http: {addr: \"127.0.0.1:0\", maxconnections: 10}\nstorage: {filesystem: {rootdirectory: \(storage)}}\nlog: {level: debug}\n")
        process.signal(SIGHUP)
        #expect(scratch.waitForLog("until a restart"), "\(scratch.logText())")
        for _ in 0..<5 { request(keepAlive) }

        #expect(failures == 0)
        process.signal(SIGTERM)
        #expect(try process.waitForExit() == 0)
    }

    /// Reachable from other hosts with no authentication: a prominent warning at start-up; on loopback none.
    @Test func warnsWhenListeningBeyondLoopbackWithoutAuthentication() throws {
        let scratch = Scratch()
        defer { removeTree(scratch.directory) }
        for (address, warns) in [("127.0.0.1:0", false), ("0.0.0.0:0", true)] {
            let process = try run(scratch, ["serve", "--address", address, "--storage", scratch.directory + "/data"])
            _ = try process.readLine(containing: "listening on")
            process.signal(SIGTERM)
            #expect(try process.waitForExit() == 0)
            #expect(scratch.logText().contains("WITHOUT AUTHENTICATION") == warns, "\(address): \(scratch.logText())")
        }
    }
}
