import Glibc
import OCIModel
import Synchronization
import Testing
import TestSupport
@testable import S3Storage

/// S3Client against the real Ceph RGW (scripts/services/ceph-rgw.sh). Each test works under its own random prefix.
@Suite("S3Client", .offCooperativePool, .enabled(if: S3TestEnvironment.enabled, "needs SWREGISTRY_TEST_S3_* (Ceph RGW)"))
final class S3ClientTests {
    let s3: S3Client
    let prefix: String

    init() throws {
        s3 = try S3TestEnvironment.client()
        prefix = S3TestEnvironment.randomPrefix("client") + "/"
    }

    deinit { S3TestEnvironment.removeEverything(under: prefix, s3) }

    /// `count` bytes of a pattern that does not repeat on block boundaries.
    static func pattern(_ count: Int, seed: UInt8 = 0) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ ($0 >> 12) &+ Int(seed)) }
    }

    @Test("put, head, get and delete an object whose key needs encoding")
    func roundTrip() throws {
        let key = prefix + "dir/a b+c=d&e%f~g é😀"
        let bytes = Self.pattern(1000)
        let etag = try s3.putObject(key, bytes: bytes, contentType: "application/octet-stream")
        let info = try #require(try s3.headObject(key))
        #expect(info.size == 1000)
        #expect(info.etag == etag)
        #expect(info.contentType == "application/octet-stream")
        #expect(try s3.getObjectBytes(key) == bytes)
        try s3.deleteObject(key)
        #expect(try s3.headObject(key) == nil)
        // Deleting again is not an error.
        try s3.deleteObject(key)
    }

    @Test("an empty object")
    func empty() throws {
        let key = prefix + "empty"
        try s3.putObject(key, bytes: [])
        #expect(try s3.headObject(key)?.size == 0)
        var heads: [S3GetHead] = []
        let head = try s3.getObject(key, head: { heads.append($0) }, body: { _ in Issue.record("no body expected") })
        #expect(heads == [head])
        #expect(head.contentLength == 0)
    }

    @Test("ranged GETs stream the right bytes, the head first")
    func ranges() throws {
        let key = prefix + "ranged"
        let bytes = Self.pattern(3 << 20)
        try s3.putObject(key, bytes: bytes)
        var events: [String] = []
        var received: [UInt8] = []
        let head = try s3.getObject(key, head: { _ in events.append("head") }, body: { chunk in
            if events.last != "body" { events.append("body") }
            received.append(contentsOf: chunk)
        })
        #expect(events == ["head", "body"])
        #expect(head.status == 200 && head.contentLength == Int64(bytes.count) && head.objectSize == Int64(bytes.count))
        #expect(received == bytes)

        let middle = try s3.getObjectBytes(key, range: .from(100, through: 1_000_099))
        #expect(middle == Array(bytes[100...1_000_099]))
        var rangedHead: S3GetHead?
        _ = try s3.getObject(key, range: .from(5, through: 9), head: { rangedHead = $0 }, body: { _ in })
        #expect(rangedHead?.status == 206)
        #expect(rangedHead?.range?.first == 5 && rangedHead?.range?.last == 9)
        #expect(rangedHead?.objectSize == Int64(bytes.count))
        #expect(try s3.getObjectBytes(key, range: .from(Int64(bytes.count) - 10, through: nil))
            == Array(bytes.suffix(10)))
        #expect(try s3.getObjectBytes(key, range: .suffix(7)) == Array(bytes.suffix(7)))
        // A range past the end: 416, typed.
        #expect {
            try s3.getObjectBytes(key, range: .from(Int64(bytes.count), through: nil))
        } throws: { error in
            guard case .service(let status, let code, _, _) = error as? S3Error else { return false }
            return status == 416 && code == "InvalidRange"
        }
        // The memory helper refuses what is over its limit.
        #expect(throws: S3Error.self) { try s3.getObjectBytes(key, limit: 1000) }
    }

    @Test("a sink that throws stops the download with its error")
    func sinkThrows() throws {
        let key = prefix + "stop"
        try s3.putObject(key, bytes: Self.pattern(2 << 20))
        struct Stop: Error {}
        var pieces = 0
        #expect(throws: S3Error.self) {
            try s3.getObject(key, body: { _ in
                pieces += 1
                throw Stop()
            })
        }
        #expect(pieces == 1)
        // The handle and its connection are usable afterwards.
        #expect(try s3.headObject(key)?.size == 2 << 20)
    }

    @Test("a streamed PUT of 20 MiB, read back streamed, same digest; never whole in memory")
    func streamedPut() throws {
        let key = prefix + "streamed"
        let size: Int64 = 20 << 20
        var sent: Int64 = 0
        let sentHash = DigestHasher()
        var largestRead = 0
        try s3.putObject(key, length: size) { buffer in
            let n = Int(min(Int64(buffer.count), size - sent, 100_003))
            largestRead = max(largestRead, buffer.count)
            for i in 0..<n { buffer[i] = UInt8(truncatingIfNeeded: (sent + Int64(i)) &* 7) }
            sentHash.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            sent += Int64(n)
            return n
        }
        #expect(largestRead <= 2 << 20)
        let received = DigestHasher()
        var largestPiece = 0
        try s3.getObject(key) { chunk in
            largestPiece = max(largestPiece, chunk.count)
            received.update(chunk)
        }
        #expect(received.byteCount == size)
        #expect(received.finalize() == sentHash.finalize())
        #expect(largestPiece <= 1 << 20)
    }

    @Test("a source that ends early or throws fails the PUT and creates nothing")
    func sourceFails() throws {
        let short = prefix + "short"
        #expect {
            try s3.putObject(short, length: 1000) { buffer in
                0
            }
        } throws: { error in
            guard case .aborted = error as? S3Error else { return false }
            return true
        }
        #expect(try s3.headObject(short) == nil)
        struct Broken: Error {}
        let broken = prefix + "broken"
        var calls = 0
        #expect(throws: S3Error.self) {
            try s3.putObject(broken, length: 5 << 20) { buffer in
                calls += 1
                if calls > 2 { throw Broken() }
                buffer.initializeMemory(as: UInt8.self, repeating: 1)
                return buffer.count
            }
        }
        #expect(try s3.headObject(broken) == nil)
    }

    @Test("missing keys, buckets and bad credentials are typed errors")
    func errors() throws {
        #expect(try s3.headObject(prefix + "nothing") == nil)
        #expect {
            try s3.getObjectBytes(prefix + "nothing")
        } throws: { error in
            guard let error = error as? S3Error, case .service(404, "NoSuchKey", _, _) = error else { return false }
            return error.isNotFound
        }
        let noBucket = try S3Client(S3TestEnvironment.configuration(bucket: "swtest-no-such-bucket-7f3a"))
        #expect {
            try noBucket.putObject("k", bytes: [1])
        } throws: { error in
            guard case .service(404, "NoSuchBucket", _, _) = error as? S3Error else { return false }
            return true
        }
        var wrong = try S3TestEnvironment.configuration()
        wrong.credentials.secretKey += "x"
        #expect {
            try S3Client(wrong).putObject(prefix + "denied", bytes: [1])
        } throws: { error in
            guard case .service(403, "SignatureDoesNotMatch", _, _) = error as? S3Error else { return false }
            return true
        }
        wrong = try S3TestEnvironment.configuration()
        wrong.credentials.accessKey = "nobody"
        #expect {
            try S3Client(wrong).headObject(prefix + "denied")
        } throws: { error in
            guard case .service(403, _, _, _) = error as? S3Error else { return false }
            return true
        }
    }

    @Test("ListObjectsV2: prefix, delimiter, continuation and start-after")
    func listing() throws {
        let keys = ["a/1", "a/2", "a/3", "b/1", "b/2", "c", "d"].map { prefix + $0 }
        for key in keys { try s3.putObject(key, bytes: Array(key.utf8)) }
        let all = try s3.listObjectsV2(prefix: prefix)
        #expect(all.objects.map(\.key) == keys)
        #expect(all.objects.first?.size == Int64(keys[0].utf8.count))
        #expect(!all.isTruncated)

        let folders = try s3.listObjectsV2(prefix: prefix, delimiter: "/")
        #expect(folders.commonPrefixes == [prefix + "a/", prefix + "b/"])
        #expect(folders.objects.map(\.key) == [prefix + "c", prefix + "d"])

        var paged: [String] = []
        var token: String?
        var pages = 0
        repeat {
            let page = try s3.listObjectsV2(prefix: prefix, continuationToken: token, maxKeys: 3)
            paged += page.objects.map(\.key)
            token = page.nextContinuationToken
            pages += 1
            if !page.isTruncated { break }
        } while true
        #expect(paged == keys)
        #expect(pages == 3)

        let after = try s3.listObjectsV2(prefix: prefix, startAfter: prefix + "b/1")
        #expect(after.objects.map(\.key) == [prefix + "b/2", prefix + "c", prefix + "d"])

        var visited: [String] = []
        try s3.forEachObject(prefix: prefix + "a/") { object in
            visited.append(object.key)
            return visited.count < 2
        }
        #expect(visited == [prefix + "a/1", prefix + "a/2"])
    }

    @Test("DeleteObjects removes many keys in batches of 1,000, from several threads' worth of PUTs")
    func batchDelete() throws {
        let keys = (0..<1003).map { prefix + "many/" + String($0) }
        let failures = Mutex<[String]>([])
        let s3 = self.s3
        DispatchLikeGroup.run(threads: 6, items: keys) { key in
            do { try s3.putObject(key, bytes: [1]) } catch { failures.withLock { $0.append("\(key): \(error)") } }
        }
        #expect(failures.withLock { $0 } == [])
        // Six threads, each reusing its pooled handle: a handful of connections for 1,003 requests.
        #expect(s3.transport.connectionsOpened.load(ordering: .relaxed) <= 12)
        let notDeleted = try s3.deleteObjects(keys + [prefix + "many/never-existed"])
        #expect(notDeleted == [])
        #expect(try s3.listObjectsV2(prefix: prefix + "many/").objects.isEmpty)
        #expect(try s3.deleteObjects([]) == [])
    }

    @Test("sequential requests reuse one connection")
    func connectionReuse() throws {
        let key = prefix + "reuse"
        try s3.putObject(key, bytes: [1, 2, 3])
        let before = s3.transport.connectionsOpened.load(ordering: .relaxed)
        for _ in 0..<20 { _ = try s3.headObject(key) }
        for _ in 0..<5 { _ = try s3.getObjectBytes(key) }
        #expect(s3.transport.connectionsOpened.load(ordering: .relaxed) - before <= 1)
    }

    @Test("CopyObject, and its errors")
    func copy() throws {
        let source = prefix + "source"
        let bytes = Self.pattern(70_000)
        try s3.putObject(source, bytes: bytes)
        try s3.copyObject(from: source, to: prefix + "copy dest")
        #expect(try s3.getObjectBytes(prefix + "copy dest") == bytes)
        #expect {
            try s3.copyObject(from: prefix + "absent", to: prefix + "x")
        } throws: { error in (error as? S3Error)?.isNotFound == true }
    }

    @Test("multipart: create, parts (streamed and copied), list, complete; the Complete ETag is not relied on")
    func multipart() throws {
        let key = prefix + "multi"
        let first = Self.pattern(5 << 20, seed: 1)
        let second = Self.pattern(1234, seed: 2)
        let source = prefix + "part-source"
        let copied = Self.pattern(6 << 20, seed: 3)
        try s3.putObject(source, bytes: copied)

        let id = try s3.createMultipartUpload(key)
        var offset = 0
        let etag1 = try s3.uploadPart(key, uploadID: id, partNumber: 1, length: Int64(first.count)) { buffer in
            let n = min(buffer.count, first.count - offset)
            first[offset..<offset + n].withUnsafeBytes { buffer.copyMemory(from: $0) }
            offset += n
            return n
        }
        let etag2 = try s3.uploadPartCopy(key, uploadID: id, partNumber: 2, source: source,
                                          range: 0...Int64(5 << 20) - 1)
        let etag3 = try s3.uploadPart(key, uploadID: id, partNumber: 3, bytes: second)
        let listed = try s3.listParts(key, uploadID: id)
        #expect(listed.map(\.number) == [1, 2, 3])
        #expect(listed.map(\.size) == [Int64(5 << 20), Int64(5 << 20), 1234])
        #expect(listed.map(\.etag) == [etag1, etag2, etag3])
        let uploads = try s3.listMultipartUploads(prefix: prefix)
        #expect(uploads.uploads.map(\.uploadID) == [id])
        #expect(uploads.uploads.first?.key == key)

        try s3.completeMultipartUpload(key, uploadID: id, parts: [
            S3CompletedPart(number: 3, etag: etag3), S3CompletedPart(number: 1, etag: etag1),
            S3CompletedPart(number: 2, etag: etag2),
        ])
        let info = try #require(try s3.headObject(key))
        #expect(info.size == Int64(first.count + (5 << 20) + second.count))
        #expect(info.etag.hasSuffix("-3\""))
        let whole = DigestHasher()
        try s3.getObject(key) { whole.update($0) }
        #expect(whole.finalize() == Digest.sha256(of: first + copied[..<(5 << 20)] + second))
        #expect(try s3.listMultipartUploads(prefix: prefix).uploads.isEmpty)
    }

    @Test("multipart errors: a too-small part, a wrong ETag, an aborted upload")
    func multipartErrors() throws {
        let key = prefix + "bad"
        let id = try s3.createMultipartUpload(key)
        let small1 = try s3.uploadPart(key, uploadID: id, partNumber: 1, bytes: [1, 2, 3])
        let small2 = try s3.uploadPart(key, uploadID: id, partNumber: 2, bytes: [4])
        #expect {
            try s3.completeMultipartUpload(key, uploadID: id, parts: [
                S3CompletedPart(number: 1, etag: small1), S3CompletedPart(number: 2, etag: small2),
            ])
        } throws: { error in
            guard case .service(400, "EntityTooSmall", _, _) = error as? S3Error else { return false }
            return true
        }
        #expect {
            try s3.completeMultipartUpload(key, uploadID: id, parts: [S3CompletedPart(number: 1, etag: "\"0000\"")])
        } throws: { error in
            guard case .service(400, "InvalidPart", _, _) = error as? S3Error else { return false }
            return true
        }
        try s3.abortMultipartUpload(key, uploadID: id)
        #expect(try s3.listMultipartUploads(prefix: prefix).uploads.isEmpty)
        #expect {
            try s3.uploadPart(key, uploadID: id, partNumber: 3, bytes: [1])
        } throws: { error in (error as? S3Error)?.isNotFound == true }
        // Aborting again: already gone, not an error.
        try s3.abortMultipartUpload(key, uploadID: id)
        #expect(try s3.headObject(key) == nil)
    }

    @Test("ListMultipartUploads pages with markers")
    func multipartListing() throws {
        var ids: [String] = []
        for i in 0..<3 { ids.append(try s3.createMultipartUpload(prefix + "up/\(i)")) }
        defer { for (i, id) in ids.enumerated() { try? s3.abortMultipartUpload(prefix + "up/\(i)", uploadID: id) } }
        var seen: [String] = []
        var keyMarker: String?
        var idMarker: String?
        repeat {
            let page = try s3.listMultipartUploads(prefix: prefix + "up/", keyMarker: keyMarker,
                                                   uploadIDMarker: idMarker, maxUploads: 2)
            seen += page.uploads.map(\.uploadID)
            guard page.isTruncated else { break }
            keyMarker = page.nextKeyMarker
            idMarker = page.nextUploadIDMarker
        } while true
        #expect(seen == ids)
    }

    @Test("presigned GET URLs work with plain curl, and only as signed")
    func presigned() throws {
        let key = prefix + "presigned é+&"
        let bytes = Self.pattern(100_000)
        try s3.putObject(key, bytes: bytes)
        let url = s3.presignedGetURL(key, expires: .seconds(60))
        let (status, body) = try Self.curl(url)
        #expect(status == 200)
        #expect(body == bytes)
        let (rangeStatus, rangeBody) = try Self.curl(url, range: "10-19")
        #expect(rangeStatus == 206 && rangeBody == Array(bytes[10...19]))

        // Another key with the same signature, a changed signature, an expired URL: 403.
        let other = s3.presignedGetURL(prefix + "other", expires: .seconds(60))
        let swapped = other.prefix(while: { $0 != "?" }) + url.drop(while: { $0 != "?" })
        #expect(try Self.curl(String(swapped)).status == 403)
        let tampered = String(url.dropLast()) + (url.last == "0" ? "1" : "0")
        #expect(try Self.curl(tampered).status == 403)
        let expired = s3.presignedGetURL(key, expires: .seconds(1), now: Int(time(nil)) - 3600)
        #expect(try Self.curl(expired).status == 403)
    }

    /// GETs `url` with /usr/bin/curl (no credentials): the status and the body.
    static func curl(_ url: String, range: String? = nil) throws -> (status: Int, body: [UInt8]) {
        let base = "/tmp/s3test-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        defer {
            unlink(base + ".body")
            unlink(base + ".status")
        }
        // The URL holds only unreserved characters, %XX, & and =: safe inside single quotes.
        let command = "/usr/bin/curl -s -g --max-time 20 -o \(base).body -w '%{http_code}' "
            + (range.map { "-r \($0) " } ?? "") + "'\(url)' > \(base).status"
        guard system(command) == 0 else { throw S3Error.aborted("curl failed: \(command)") }
        return (Int(String(decoding: try readFile(base + ".status"), as: UTF8.self)) ?? 0, try readFile(base + ".body"))
    }

    static func readFile(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw S3Error.aborted("cannot open \(path)") }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &chunk, chunk.count)
            if n <= 0 { break }
            bytes += chunk[0..<n]
        }
        return bytes
    }

    @Test("a dead endpoint fails in seconds: refused, and accepted but silent")
    func deadEndpoint() throws {
        var refused = try S3TestEnvironment.configuration()
        refused.endpoint = "http://127.0.0.1:1"
        let start = ContinuousClock.now
        #expect {
            try S3Client(refused).headObject("k")
        } throws: { error in
            guard case .transport = error as? S3Error else { return false }
            return (error as? S3Error)?.isRetryable == true
        }
        #expect(ContinuousClock.now - start < .seconds(3))

        // A listener that never accepts: the kernel completes the handshake, nothing ever answers.
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        try withUnsafeMutablePointer(to: &address) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                guard bind(listener, raw, length) == 0, listen(listener, 16) == 0,
                      getsockname(listener, raw, &length) == 0 else { throw S3Error.aborted("listener") }
            }
        }
        var silent = try S3TestEnvironment.configuration()
        silent.endpoint = "http://127.0.0.1:\(UInt16(bigEndian: address.sin_port))"
        silent.stallTimeout = .seconds(2)
        let silentStart = ContinuousClock.now
        #expect(throws: S3Error.self) { try S3Client(silent).getObjectBytes("k") }
        let elapsed = ContinuousClock.now - silentStart
        #expect(elapsed >= .seconds(1) && elapsed < .seconds(8), "took \(elapsed)")
    }
}

/// Runs `body` over `items` on `threads` plain threads (each taking every `threads`-th item) and waits for all.
enum DispatchLikeGroup {
    static func run<T: Sendable>(threads: Int, items: [T], _ body: @escaping @Sendable (T) -> Void) {
        var ids: [pthread_t] = []
        for t in 0..<threads {
            let mine = stride(from: t, to: items.count, by: threads).map { items[$0] }
            let box = Unmanaged.passRetained(Work { for item in mine { body(item) } })
            var id = pthread_t()
            pthread_create(&id, nil, { raw in
                let work = Unmanaged<Work>.fromOpaque(raw!).takeRetainedValue()
                work.body()
                return nil
            }, box.toOpaque())
            ids.append(id)
        }
        for id in ids { pthread_join(id, nil) }
    }

    final class Work {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }
}
