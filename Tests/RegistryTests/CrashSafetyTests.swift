import BlobStore
import Glibc
import OCIModel
import Synchronization
import SystemIO
import Testing
import TestSupport

/// `kill -9` during concurrent pushes, repeatedly; after each restart the store must be consistent.
@Suite(.serialized) struct CrashSafetyTests {
    static var binary: String { ChildProcess.productsDirectory + "/swregistry" }

    final class Pushes: Sendable {
        let committed = Mutex<[(String, Digest)]>([])
        let sessions = Mutex<[(String, String, [UInt8], Int)]>([])  // repo, upload path, whole blob, bytes sent
    }

    /// Starts the server on `storage` and returns it with its port.
    func start(_ storage: String) throws -> (ChildProcess, UInt16) {
        let process = try ChildProcess(Self.binary, ["serve", "--address", "127.0.0.1:0", "--storage", storage,
                                                     "--log-level", "error"])
        let line = try process.readLine(containing: "listening on")
        let port = UInt16(line.split(separator: " ")[3].split(separator: ":").last!)!
        return (process, port)
    }

    static func randomBlob(_ seed: inout UInt64, size: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: size)
        for i in 0..<size {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            out[i] = UInt8(truncatingIfNeeded: seed >> 33)
        }
        return out
    }

    /// One pusher: monolithic pushes and chunked sessions left half done, until the server dies.
    static func push(port: UInt16, worker: Int, pushes: Pushes) {
        var seed = UInt64(worker) &* 7919 &+ UInt64(time(nil))
        var n = 0
        while true {
            n += 1
            let repo = "crash/w\(worker)"
            let blob = randomBlob(&seed, size: 64 * 1024 + Int(seed % (512 * 1024)))
            let digest = Digest.sha256(of: blob)
            guard let client = try? TestClient(port: port, timeoutSeconds: 5) else { return }
            if n % 3 == 0 {
                // A chunked session: the first half only, to be resumed after the crash.
                guard let started = try? client.request("POST", "/v2/\(repo)/blobs/uploads/"), started.status == 202,
                      let location = started.header("Location") else { return }
                let half = blob.count / 2
                guard let patched = try? client.request("PATCH", location, headers: [("Content-Range", "0-\(half - 1)")],
                                                        body: Array(blob[0..<half])), patched.status == 202 else { return }
                pushes.sessions.withLock { $0.append((repo, location, blob, half)) }
            } else {
                guard let response = try? client.request("POST", "/v2/\(repo)/blobs/uploads/?digest=\(digest)", body: blob) else { return }
                if response.status == 201 { pushes.committed.withLock { $0.append((repo, digest)) } }
            }
        }
    }

    @Test func killNineDuringConcurrentPushesLeavesAConsistentStore() throws {
        let storage = "/tmp/swr-crash-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { FileSystem.removeTree(storage) }
        let pushes = Pushes()
        for round in 0..<4 {
            let (process, port) = try start(storage)
            var threads: [pthread_t] = []
            for worker in 0..<4 {
                threads.append(SystemIO.Thread.start(name: "pusher") { Self.push(port: port, worker: worker + round * 4, pushes: pushes) })
            }
            usleep(UInt32(150_000 + 100_000 * round))
            process.signal(SIGKILL)
            _ = try process.waitForExit()
            for thread in threads { pthread_join(thread, nil) }
        }

        let (process, port) = try start(storage)
        defer {
            process.signal(SIGTERM)
            _ = try? process.waitForExit()
        }
        // Every stored blob re-hashes to its name; nothing half-written is in blobs/ or left in tmp/.
        var checked = 0
        for prefix in try listDirectory("\(storage)/blobs/sha256") {
            for name in try listDirectory("\(storage)/blobs/sha256/\(prefix)") {
                let bytes = try #require(readWholeFile("\(storage)/blobs/sha256/\(prefix)/\(name)"))
                #expect(Digest.sha256(of: bytes).encoded == name, "blob \(name) does not match its digest")
                checked += 1
            }
        }
        #expect(try listDirectory("\(storage)/tmp").isEmpty)
        // The only sessions left are chunked ones a client may continue: the `POST ?digest=` uploads the server
        // died under (their ids were never handed out) were deleted at start-up.
        for id in try listDirectory("\(storage)/uploads") {
            let info = String(decoding: readWholeFile("\(storage)/uploads/\(id)/info") ?? [], as: UTF8.self)
            #expect(info.split(separator: "\n").last == "resumable", "upload \(id) left behind: \(info)")
        }
        let committed = pushes.committed.withLock { $0 }
        #expect(!committed.isEmpty)
        #expect(checked >= Set(committed.map(\.1)).count)

        // Every blob a client was told is stored (201) is served, whole.
        let client = try TestClient(port: port)
        for (repo, digest) in committed {
            let response = try client.request("HEAD", "/v2/\(repo)/blobs/\(digest)")
            #expect(response.status == 200, "\(repo) \(digest)")
        }
        // Interrupted chunked uploads resume where the server says they stand, or are gone (404), never corrupt.
        var resumed = 0
        for (repo, location, blob, _) in pushes.sessions.withLock({ $0 }) {
            let status = try client.request("GET", location)
            if status.status == 404 { continue }
            #expect(status.status == 204)
            let range = try #require(status.header("Range"))
            let end = Int(range.split(separator: "-")[1])!
            let have = end == 0 && status.header("Range") == "0-0" ? 0 : end + 1
            let rest = Array(blob[have...])
            let put = try client.request("PUT", "\(location)?digest=\(Digest.sha256(of: blob))",
                                         headers: rest.isEmpty ? [] : [("Content-Range", "\(have)-\(blob.count - 1)")], body: rest)
            // A session whose first chunk never reached the disk whole is rejected cleanly with a 4xx.
            #expect(put.status == 201 || (put.status >= 400 && put.status < 500), "\(put.status) \(put.text)")
            if put.status == 201 {
                resumed += 1
                let get = try client.request("GET", "/v2/\(repo)/blobs/\(Digest.sha256(of: blob))")
                #expect(get.body == blob)
            }
        }
        #expect(resumed > 0)
    }
}

/// Small file helpers for tests that inspect the store from outside (the store's own, read-only uses).
func listDirectory(_ path: String) throws -> [String] {
    try FileSystem.list(path)
}

func readWholeFile(_ path: String) -> [UInt8]? {
    (try? FileSystem.read(path, maxBytes: 64 << 20)) ?? nil
}
