import Foundation
import Glibc
import OCIModel
import Synchronization
import SystemIO
import Testing
import TestSupport
@testable import swregistry

/// `swregistry verify` and `du` on the real binary: on a stopped store (run by the CLI itself) and on a store a
/// running server holds (run inside the server, through its control socket).
@Suite struct StoreCommandProcessTests {
    static var binary: String { ServeProcessTests.binary }

    /// A storage folder and the server on it.
    final class Sandbox {
        let directory: String
        let storage: String
        var server: ChildProcess?
        var port: UInt16 = 0
        var log: String { directory + "/server.log" }

        init(storageName: String = "store") {
            directory = makeTemporaryDirectory(prefix: "swr-storecmd")
            storage = directory + "/" + storageName
        }

        deinit {
            stop()
            removeTree(directory)
        }

        func start() throws {
            let process = try ChildProcess(StoreCommandProcessTests.binary,
                                           ["serve", "--address", "127.0.0.1:0", "--storage", storage], stderrPath: log)
            let line = try process.readLine(containing: "listening on")
            port = try #require(UInt16(line.split(separator: " ")[3].split(separator: ":").last!))
            server = process
        }

        func stop() {
            guard let server else { return }
            server.signal(SIGTERM)
            _ = try? server.waitForExit()
            self.server = nil
        }

        /// Runs `swregistry <arguments> --storage <storage>` to its end.
        func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
            try runProcess(StoreCommandProcessTests.binary, arguments + ["--storage", storage])
        }

        /// Pushes an image (a config, one layer per element of `layers`) and tags it.
        func push(_ repository: String, tag: String, layers: [[UInt8]]) throws -> (manifest: Digest, layers: [Digest]) {
            let client = try TestClient(port: port)
            let config = Array(#"{"architecture":"amd64","os":"linux"}"#.utf8)
            var descriptors: [String] = []
            var digests: [Digest] = []
            for (index, blob) in ([config] + layers).enumerated() {
                let digest = Digest.sha256(of: blob)
                let response = try client.request("POST", "/v2/\(repository)/blobs/uploads/?digest=\(digest)", body: blob)
                #expect(response.status == 201)
                if index > 0 {
                    digests.append(digest)
                    descriptors.append(#"{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"\#(digest)","size":\#(blob.count)}"#)
                }
            }
            let manifest = Array(#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\#(Digest.sha256(of: config))","size":\#(config.count)},"layers":[\#(descriptors.joined(separator: ","))]}"#.utf8)
            let response = try client.request("PUT", "/v2/\(repository)/manifests/\(tag)",
                                              headers: [("Content-Type", "application/vnd.oci.image.manifest.v1+json")], body: manifest)
            #expect(response.status == 201)
            return (Digest.sha256(of: manifest), digests)
        }

        /// Whether the server's log holds `text` within a few seconds (its writer thread batches lines).
        func logEventuallyContains(_ text: String) -> Bool {
            for _ in 0..<100 {
                if let log = try? String(contentsOfFile: self.log, encoding: .utf8), log.contains(text) { return true }
                usleep(50_000)
            }
            return false
        }

        func get(_ path: String) throws -> Int {
            try TestClient(port: port).request("GET", path).status
        }

        func blobPath(_ digest: Digest) -> String {
            "\(storage)/blobs/sha256/\(digest.encoded.prefix(2))/\(digest.encoded)"
        }

        /// Flips a bit of a stored blob in place.
        func corrupt(_ digest: Digest) throws {
            let fd = open(blobPath(digest), O_RDWR)
            guard fd >= 0 else { throw SystemError("open", errno: errno) }
            defer { close(fd) }
            var byte: UInt8 = 0
            _ = pread(fd, &byte, 1, 10)
            byte ^= 0x20
            _ = pwrite(fd, &byte, 1, 10)
        }
    }

    static func layer(_ size: Int, _ seed: UInt8) -> [UInt8] {
        (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed)) }
    }

    @Test func runsHereOnAStoppedStore() throws {
        let sandbox = Sandbox()
        try sandbox.start()
        let image = try sandbox.push("library/a", tag: "v1", layers: [Self.layer(4000, 1)])
        sandbox.stop()

        let clean = try sandbox.run(["verify"])
        #expect(clean.status == 0, "\(clean)")
        #expect(clean.stdout.hasSuffix("no problem found\n"), "\(clean.stdout)")
        #expect(clean.stdout.contains("checked 3 blobs"), "\(clean.stdout)")
        let usage = try sandbox.run(["du"])
        #expect(usage.status == 0)
        #expect(usage.stdout.hasPrefix("REPOSITORY"), "\(usage.stdout)")
        #expect(usage.stdout.contains("\nlibrary/a "), "\(usage.stdout)")

        try sandbox.corrupt(image.layers[0])
        let damaged = try sandbox.run(["verify"])
        #expect(damaged.status == 1)
        #expect(damaged.stdout.hasPrefix("corrupt-blob - \(image.layers[0]): content (4000 bytes) hashes to"), "\(damaged.stdout)")
        let repaired = try sandbox.run(["verify", "--repair", "library/a"])
        #expect(repaired.status == 1)
        #expect(repaired.stdout.contains("repaired: moved to quarantine/sha256/\(image.layers[0].encoded)"), "\(repaired.stdout)")
        #expect(!FileSystem.exists(sandbox.blobPath(image.layers[0])))

        // The server starts on the store the command used (the command's lock is gone with it), and serves the rest.
        try sandbox.start()
        #expect(try sandbox.get("/v2/library/a/blobs/\(image.layers[0])") == 404)
        #expect(try sandbox.get("/v2/library/a/manifests/v1") == 200)
    }

    @Test func errorsWithoutAStore() throws {
        let result = try runProcess(Self.binary, ["verify", "--storage", "/nonexistent/swr-store-\(getpid())"])
        #expect(result.status == 2)
        #expect(result.stderr == "swregistry verify: there is no store under /nonexistent/swr-store-\(getpid()) (storage.filesystem.rootdirectory)\n")
        // A folder that is no store is left as it was.
        let empty = makeTemporaryDirectory(prefix: "swr-notastore")
        defer { removeTree(empty) }
        let notAStore = try runProcess(Self.binary, ["du", "--storage", empty])
        #expect(notAStore.status == 2)
        #expect(try FileManager.default.contentsOfDirectory(atPath: empty).isEmpty)
        // The store is held by something that is no server (here: a store command, simulated by a lock).
        let sandbox = Sandbox()
        try sandbox.start()
        sandbox.stop()
        let holder = try ChildProcess("/usr/bin/flock", ["-n", sandbox.storage, "sleep", "30"])
        defer { holder.signal(SIGTERM) }
        usleep(300_000)
        let held = try sandbox.run(["du"])
        #expect(held.status == 2)
        #expect(held.stderr.hasPrefix("swregistry du: the store under \(sandbox.storage) is in use by "), "\(held)")
        #expect(held.stderr.contains("there is no control socket"), "\(held)")
        let badName = try runProcess(Self.binary, ["du", "--storage", "/tmp", "Not_A_Name"])
        #expect(badName.status == 64, "a usage error, found before anything runs")
    }

    /// With a server on the store, the command runs inside it: the server's caches see the repair at once.
    @Test func runsInsideTheRunningServer() throws {
        let sandbox = Sandbox()
        try sandbox.start()
        let image = try sandbox.push("library/a", tag: "v1", layers: [Self.layer(4000, 2), Self.layer(100, 3)])
        _ = try sandbox.push("b", tag: "v1", layers: [Self.layer(4000, 2)])

        var st = stat()
        #expect(lstat(sandbox.storage + "/.control.sock", &st) == 0 && st.st_mode & S_IFMT == S_IFSOCK)
        #expect(st.st_mode & 0o777 == 0o600)

        let clean = try sandbox.run(["verify", "--config", "/nonexistent.yml"])
        #expect(clean.status == 2, "the configuration file is read here, to find the store")
        let ran = try sandbox.run(["verify"])
        #expect(ran.status == 0, "\(ran)")
        #expect(ran.stdout.hasSuffix("no problem found\n"), "\(ran.stdout)")
        #expect(sandbox.logEventuallyContains("control: running verify for uid"))

        let usage = try sandbox.run(["du", "--json", "b"])
        #expect(usage.status == 0, "\(usage)")
        let decoded = try JSONDecoder().decode(UsageJSON.self, from: Data(usage.stdout.utf8))
        #expect(decoded.repositories.map(\.name) == ["b"])
        #expect(decoded.repositories[0].shared == 4037, "the config and the 4000-byte layer are in library/a too")

        let unknown = try sandbox.run(["verify", "nope"])
        #expect(unknown.status == 2)
        #expect(unknown.stdout == "swregistry verify: no repository named nope in the store\n", "\(unknown)")

        // Served (so cached) before the damage: not served after the repair.
        #expect(try sandbox.get("/v2/library/a/manifests/v1") == 200)
        #expect(try sandbox.get("/v2/library/a/blobs/\(image.layers[1])") == 200)
        try sandbox.corrupt(image.manifest)
        try sandbox.corrupt(image.layers[1])
        let repaired = try sandbox.run(["verify", "--repair"])
        #expect(repaired.status == 1)
        #expect(repaired.stdout.contains("corrupt-blob - \(image.manifest)"), "\(repaired.stdout)")
        #expect(repaired.stdout.contains("dangling-tag library/a tag v1:"), "\(repaired.stdout)")
        #expect(try sandbox.get("/v2/library/a/manifests/v1") == 404)
        #expect(try sandbox.get("/v2/library/a/manifests/\(image.manifest)") == 404)
        #expect(try sandbox.get("/v2/library/a/blobs/\(image.layers[1])") == 404)
        #expect(try sandbox.get("/v2/b/manifests/v1") == 200)

        sandbox.stop()
        #expect(!FileSystem.exists(sandbox.storage + "/.control.sock"), "removed at shutdown")
    }

    /// `swregistry gc` on a store a server serves runs inside the server, which goes on serving: what a deleted
    /// manifest alone named is removed, what another image shares stays.
    @Test func collectsInsideTheRunningServer() throws {
        let sandbox = Sandbox()
        try sandbox.start()
        let gone = try sandbox.push("a", tag: "v1", layers: [Self.layer(3000, 7), Self.layer(500, 8)])
        let kept = try sandbox.push("b", tag: "v1", layers: [Self.layer(3000, 7)])
        let client = try TestClient(port: sandbox.port)
        #expect(try client.request("DELETE", "/v2/a/manifests/\(gone.manifest)").status == 202)

        let dry = try sandbox.run(["gc", "--dry-run", "--grace", "0s"])
        #expect(dry.status == 0, "\(dry)")
        #expect(FileSystem.exists(sandbox.blobPath(gone.layers[1])), "a dry run removes nothing")
        let ran = try sandbox.run(["gc", "--grace", "0s"])
        #expect(ran.status == 0, "\(ran)")
        #expect(ran.stdout.contains("removed blob \(gone.layers[1])") || ran.stdout.contains(gone.layers[1].description),
                "\(ran.stdout)")
        #expect(sandbox.logEventuallyContains("control: running gc --grace 0s for uid"))
        #expect(!FileSystem.exists(sandbox.blobPath(gone.layers[1])))
        #expect(!FileSystem.exists(sandbox.blobPath(gone.manifest)))
        #expect(FileSystem.exists(sandbox.blobPath(kept.layers[0])), "shared with b:v1")
        #expect(try sandbox.get("/v2/b/manifests/v1") == 200)
        #expect(try sandbox.get("/v2/b/blobs/\(kept.layers[0])") == 200)
    }

    /// `sun_path` holds 108 bytes; a deeper store still gets its control socket.
    @Test func longStoragePath() throws {
        let sandbox = Sandbox(storageName: String(repeating: "d", count: 60) + "/" + String(repeating: "e", count: 60))
        try sandbox.start()
        #expect(sandbox.storage.utf8.count > 120)
        let usage = try sandbox.run(["du"])
        #expect(usage.status == 0, "\(usage)")
        #expect(sandbox.logEventuallyContains("control: running du"))
    }

    /// Only the server's user or root: another user who can reach the socket is refused by its credentials.
    @Test func otherUsersAreRefused() throws {
        guard geteuid() == 0, FileSystem.exists("/usr/bin/setpriv") else { return }
        let sandbox = Sandbox()
        // Open to everyone on purpose, so that only the credential check stands in the way.
        #expect(chmod(sandbox.directory, 0o755) == 0)
        #expect(mkdir(sandbox.storage, 0o755) == 0)
        try sandbox.start()
        #expect(chmod(sandbox.storage + "/.control.sock", 0o666) == 0)
        // A copy of the binary anyone may run (the build folder may be private), written through a close-on-exec
        // descriptor: one inherited by a process another test spawns meanwhile makes exec fail (ETXTBSY), which
        // the child of a spawn still holds for an instant before its exec, hence the retries.
        let binary = sandbox.directory + "/swregistry"
        try copyExecutable(Self.binary, to: binary)
        var refused = (status: Int32(0), stdout: "", stderr: "")
        for _ in 0..<20 {
            refused = try runProcess("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", binary,
                                                          "du", "--storage", sandbox.storage])
            guard refused.status == 126 && refused.stderr.contains("Text file busy") else { break }
            usleep(100_000)
        }
        #expect(refused.status == 2, "\(refused)")
        #expect(refused.stdout.contains("refused: uid 65534 is neither the server's user nor root"), "\(refused)")
        #expect(sandbox.logEventuallyContains("control socket: refused uid 65534"))
        #expect(try sandbox.run(["du"]).status == 0, "root still may")
    }

    /// Requests that are not what the CLI sends get an error and exit status 2, and break nothing.
    @Test func malformedRequests() throws {
        let sandbox = Sandbox()
        try sandbox.start()
        let socket = sandbox.storage + "/.control.sock"
        func exchange(_ bytes: [UInt8], closeEarly: Bool = false) throws -> [String] {
            let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            try ControlSocketAddress.connect(fd, socket)
            var tv = timeval(tv_sec: 20, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            try FileSystem.writeAll(fd, bytes)
            if closeEarly { return [] }
            var answer: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = read(fd, &chunk, chunk.count)
                if n <= 0 { break }
                answer += chunk[0..<n]
            }
            return String(decoding: answer, as: UTF8.self).split(separator: "\n").map(String.init)
        }
        let garbage = try exchange(Array("hello\n".utf8))
        #expect(garbage.first?.hasPrefix("line swregistry: malformed request") == true, "\(garbage)")
        #expect(garbage.last == "exit 2")
        #expect(try exchange(Array("{\"a\":1}\n".utf8)).last == "exit 2")
        #expect(try exchange(Array("[]\n".utf8)).last == "exit 2")
        #expect(try exchange([UInt8](repeating: UInt8(ascii: "["), count: 70_000)).last == "exit 2", "too long")
        let unknown = try exchange(ControlSocketProtocol.encodeRequest(["serve", "--address", "0.0.0.0:80"]))
        #expect(unknown == ["line swregistry: the server does not run \"serve\" (it runs: gc, verify, du)", "exit 2"])
        let badOption = try exchange(ControlSocketProtocol.encodeRequest(["verify", "--bogus"]))
        #expect(badOption.contains { $0.contains("Unknown option '--bogus'") }, "\(badOption)")
        #expect(badOption.last == "exit 64")

        // A client that goes away after its request: the command stops or finishes, the server goes on.
        _ = try exchange(ControlSocketProtocol.encodeRequest(["verify"]), closeEarly: true)
        #expect(try sandbox.get("/v2/") == 200)
        let good = try exchange(ControlSocketProtocol.encodeRequest(["du", "--json"]))
        #expect(good.last == "exit 0", "\(good)")
        #expect(good.contains { $0.hasPrefix("line {\"repositories\":[],\"store\":{\"blobs\":0,") }, "\(good)")
    }

    @Test func forwardedArgumentsLeaveOutWhatLocatesTheStore() {
        let forward = StoreCommandRunner.forwardedArguments
        #expect(forward(["/usr/bin/swregistry", "verify", "--config", "/etc/s.yml", "--repair", "a/b"], "verify")
                == ["verify", "--repair", "a/b"])
        #expect(forward(["swregistry", "du", "--storage=/srv", "--json", "--config=x.yml"], "du") == ["du", "--json"])
        #expect(forward(["swregistry", "du", "--", "--config"], "du") == ["du", "--", "--config"])
    }

    @Test func peerCredentialCheck() {
        #expect(PeerCredentials(uid: 1000, gid: 1000, pid: 1).isAdmitted(serverUID: 1000))
        #expect(PeerCredentials(uid: 0, gid: 0, pid: 1).isAdmitted(serverUID: 1000))
        #expect(!PeerCredentials(uid: 1001, gid: 1000, pid: 1).isAdmitted(serverUID: 1000), "the same group is not enough")
        #expect(!PeerCredentials(uid: 65534, gid: 65534, pid: 1).isAdmitted(serverUID: 0))
    }
}

/// `du --json`, as a client reads it.
private struct UsageJSON: Decodable {
    struct Repository: Decodable {
        let name: String
        let total: Int64
        let shared: Int64
        let exclusive: Int64
    }
    let repositories: [Repository]
}

/// Copies an executable (mode 0755) through a close-on-exec descriptor.
func copyExecutable(_ source: String, to target: String) throws {
    guard let bytes = try FileSystem.read(source, maxBytes: 1 << 30) else { throw SystemError("read \(source)", errno: ENOENT) }
    let fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o755)
    guard fd >= 0 else { throw SystemError("open \(target)", errno: errno) }
    defer { close(fd) }
    try FileSystem.writeAll(fd, bytes)
}

/// Runs a program to its end. - Returns: its exit status and what it printed.
func runProcess(_ path: String, _ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // Both pipes drained at once: a child that fills one while the other is read would block forever.
    let errData = Mutex(Data())
    let reader = SystemIO.Thread.start(name: "stderr") { errData.withLock { $0 = err.fileHandleForReading.readDataToEndOfFile() } }
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    pthread_join(reader, nil)
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: errData.withLock { $0 }, as: UTF8.self))
}
