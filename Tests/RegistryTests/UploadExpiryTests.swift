@testable import BlobStore
import Glibc
import OCIModel
import Synchronization
import SystemIO
import Testing

/// Upload sessions in the store: limits, expiry, descriptors, and what a restart keeps or deletes. Time is a fake
/// clock the tests move.
@Suite struct UploadExpiryTests {
    /// A store in a fresh folder with a clock of its own.
    private final class Sandbox: Sendable {
        let root = "/tmp/swr-expiry-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let time = Atomic<Int>(1_700_000_000)

        func open(_ limits: UploadLimits) throws -> BlobStore {
            try BlobStore(root: root, uploadLimits: limits, clock: { [self] in time.load(ordering: .relaxed) })
        }

        func advance(_ seconds: Int) { time.add(seconds, ordering: .relaxed) }

        deinit { FileSystem.removeTree(root) }
    }

    private let name = try! RepositoryName(validating: "expiry/test")

    /// Open descriptors of this process on files under `directory`.
    static func descriptors(under directory: String) -> Int {
        var count = 0
        for entry in (try? FileSystem.list("/proc/self/fd")) ?? [] {
            var target = [CChar](repeating: 0, count: 4096)
            let n = readlink("/proc/self/fd/\(entry)", &target, target.count - 1)
            guard n > 0 else { continue }
            let path = String(decoding: target[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if path.hasPrefix(directory + "/") { count += 1 }
        }
        return count
    }

    @Test func idleSessionsExpireAndBusyOnesStay() throws {
        let sandbox = Sandbox()
        let store = try sandbox.open(UploadLimits(maxOpen: 10, maxPerOwner: 10, idleTimeout: 60, maxAge: 3600))
        let idle = try store.uploads.start(name, owner: "a")
        try store.uploads.append(idle, Array("partial".utf8))
        store.uploads.release(idle)
        let busy = try store.uploads.start(name, owner: "a")

        sandbox.advance(50)
        #expect(store.uploads.expire() == 0, "nothing idle for a minute yet")
        // Asking for the status receives no byte: it does not keep the session alive.
        store.uploads.release(try store.uploads.acquire(idle.id.value, for: name))
        sandbox.advance(11)
        #expect(store.uploads.expire() == 1)
        #expect(store.uploads.openCount == 1)
        #expect(throws: StoreError.uploadUnknown(idle.id.value)) { try store.uploads.acquire(idle.id.value, for: name) }
        #expect(!FileSystem.exists(store.layout.upload(idle.id)))
        // The session in use is left alone, however long it has been.
        #expect(FileSystem.exists(store.layout.uploadData(busy.id)))
    }

    @Test func sessionsReceivingBytesOutliveTheIdleTimeoutButNotTheMaximumAge() throws {
        let sandbox = Sandbox()
        let store = try sandbox.open(UploadLimits(maxOpen: 10, idleTimeout: 60, maxAge: 200))
        let upload = try store.uploads.start(name, owner: "a")
        store.uploads.release(upload)
        for _ in 0..<3 {
            sandbox.advance(50)
            let held = try store.uploads.acquire(upload.id.value, for: name)
            try store.uploads.append(held, Array("chunk".utf8))
            store.uploads.release(held)
            #expect(store.uploads.expire() == 0, "active 0 s ago")
        }
        sandbox.advance(51)  // 201 s after the start, 51 s after the last byte
        #expect(store.uploads.expire() == 1)
        #expect(store.uploads.openCount == 0)
    }

    @Test func atTheCapIdleSessionsGiveWayBeforeARefusal() throws {
        let sandbox = Sandbox()
        let store = try sandbox.open(UploadLimits(maxOpen: 3, maxPerOwner: 3, idleTimeout: 60))
        var first: [Upload] = []
        for owner in ["a", "b", "c"] {
            let upload = try store.uploads.start(name, owner: owner)
            store.uploads.release(upload)
            first.append(upload)
        }
        #expect(throws: StoreError.tooManyUploads(limit: 3)) { try store.uploads.start(name, owner: "d") }
        sandbox.advance(61)
        // No sweep ran: starting a session expires the idle ones itself.
        let next = try store.uploads.start(name, owner: "d")
        store.uploads.release(next)
        #expect(store.uploads.openCount == 1)
        for upload in first { #expect(!FileSystem.exists(store.layout.upload(upload.id))) }
    }

    @Test func oneOwnerCannotTakeEverySession() throws {
        let sandbox = Sandbox()
        let store = try sandbox.open(UploadLimits(maxOpen: 10, maxPerOwner: 2, idleTimeout: 60))
        for _ in 0..<2 { store.uploads.release(try store.uploads.start(name, owner: "10.0.0.1")) }
        #expect(throws: StoreError.tooManyUploadsForOwner(limit: 2)) { try store.uploads.start(name, owner: "10.0.0.1") }
        store.uploads.release(try store.uploads.start(name, owner: "10.0.0.2"))
        #expect(store.uploads.openCount(owner: "10.0.0.1") == 2)
        #expect(store.uploads.openCount(owner: "10.0.0.2") == 1)
        // A finished session gives its owner's slot back.
        let upload = try store.uploads.start(name, owner: "10.0.0.2")
        store.uploads.cancel(upload)
        #expect(store.uploads.openCount(owner: "10.0.0.2") == 1)
        // Idle ones too, without waiting for a sweep.
        sandbox.advance(61)
        store.uploads.release(try store.uploads.start(name, owner: "10.0.0.1"))
        #expect(store.uploads.openCount(owner: "10.0.0.1") == 1)
        // The default share is a tenth of the cap.
        #expect(UploadLimits(maxOpen: 20).maxPerOwner == 2)
        #expect(UploadLimits(maxOpen: 5).maxPerOwner == 1)
        #expect(UploadLimits().maxPerOwner == 100)
    }

    @Test func idleSessionsHoldNoDescriptor() throws {
        let sandbox = Sandbox()
        let store = try sandbox.open(UploadLimits(maxOpen: 200, maxPerOwner: 200))
        let uploads = store.layout.uploadsDirectory
        var sessions: [Upload] = []
        for i in 0..<64 {
            let upload = try store.uploads.start(name, owner: "a")
            try store.uploads.append(upload, Array("session \(i)".utf8))
            store.uploads.release(upload)
            sessions.append(upload)
        }
        #expect(Self.descriptors(under: uploads) == 0)
        // A request holds exactly its session's data file, until it lets go.
        let held = try store.uploads.acquire(sessions[7].id.value, for: name)
        #expect(Self.descriptors(under: uploads) == 1)
        try store.uploads.append(held, Array(" more".utf8))
        store.uploads.release(held)
        #expect(Self.descriptors(under: uploads) == 0)
        // The running hash is kept across requests: commit needs no rehash.
        #expect(held.hasher != nil)
        let again = try store.uploads.acquire(sessions[7].id.value, for: name)
        try store.uploads.commit(again, expected: Digest.sha256(of: Array("session 7 more".utf8)), into: store)
        #expect(Self.descriptors(under: uploads) == 0)
        #expect(store.uploads.openCount == 63)
    }

    @Test func sessionsSurviveReopeningTheStoreWithTheirOwner() throws {
        let sandbox = Sandbox()
        let limits = UploadLimits(maxOpen: 10, maxPerOwner: 2, idleTimeout: 60)
        let id: String
        do {
            let store = try sandbox.open(limits)
            let upload = try store.uploads.start(name, owner: "10.0.0.1")
            try store.uploads.append(upload, Array("hello ".utf8))
            store.uploads.release(upload)
            store.uploads.release(try store.uploads.start(name, owner: "10.0.0.1"))
            id = upload.id.value
        }
        // A new store on the same folder, as after a restart (an hour later: the downtime is not idle time).
        sandbox.advance(3600)
        let store = try sandbox.open(limits)
        #expect(store.uploads.removedAtStart == 0)
        #expect(store.uploads.openCount == 2)
        #expect(store.uploads.openCount(owner: "10.0.0.1") == 2)
        #expect(throws: StoreError.tooManyUploadsForOwner(limit: 2)) { try store.uploads.start(name, owner: "10.0.0.1") }
        // The session continues, its hash rebuilt from disk at commit.
        let upload = try store.uploads.acquire(id, for: name)
        #expect(upload.size == 6)
        try store.uploads.append(upload, Array("world".utf8))
        let digest = Digest.sha256(of: Array("hello world".utf8))
        try store.uploads.commit(upload, expected: digest, into: store)
        #expect(store.blobSize(digest) == 11)
        #expect(store.isLinked(name, digest))
        #expect(store.uploads.openCount == 1)
        // Another repository cannot take over a session.
        let other = try store.uploads.start(name, owner: "10.0.0.1")
        store.uploads.release(other)
        #expect(throws: StoreError.uploadUnknown(other.id.value)) {
            try store.uploads.acquire(other.id.value, for: try RepositoryName(validating: "someone/else"))
        }
    }

    @Test func sessionsNoClientCanContinueAreRemovedAtStart() throws {
        let sandbox = Sandbox()
        let limits = UploadLimits(maxOpen: 10, maxPerOwner: 10, idleTimeout: 60, maxAge: 3600)
        let layout = Layout(root: sandbox.root)
        let resumable: UploadID
        do {
            let store = try sandbox.open(limits)
            let upload = try store.uploads.start(name, owner: "a")
            try store.uploads.append(upload, Array("kept".utf8))
            store.uploads.release(upload)
            resumable = upload.id
            // A `POST ?digest=` the server crashes under: never released, its descriptor dies with the process.
            let single = try store.uploads.start(name, owner: "a", kind: .monolithic)
            try store.uploads.append(single, Array(repeating: 7, count: 100_000))
            close(single.fd)
        }
        // Folders a crash left half made: no info file; info but no data file; info cut short.
        func write(_ text: String, _ path: String) throws {
            try FileSystem.writeAtomically(Array(text.utf8), to: path, tmpDirectory: layout.tmpDirectory)
        }
        let noInfo = UploadID.random(), noData = UploadID.random(), shortInfo = UploadID.random()
        for id in [noInfo, noData, shortInfo] { #expect(mkdir(layout.upload(id), 0o755) == 0) }
        try write("", layout.uploadData(noInfo))
        try write("expiry/test\n1700000000\na\nresumable\n", layout.uploadInfo(noData))
        try write("expiry/test\n17", layout.uploadInfo(shortInfo))
        try write("", layout.uploadData(shortInfo))
        // A session of the previous version (two lines: no owner, no kind) is kept, as resumable.
        let legacy = UploadID.random()
        #expect(mkdir(layout.upload(legacy), 0o755) == 0)
        try write("expiry/test\n1700000000\n", layout.uploadInfo(legacy))
        try write("abc", layout.uploadData(legacy))

        do {
            let store = try sandbox.open(limits)
            #expect(store.uploads.removedAtStart == 4)
            #expect(Set(directoryEntries(layout.uploadsDirectory)) == [resumable.value, legacy.value])
            let old = try store.uploads.acquire(legacy.value, for: name)
            #expect(old.size == 3)
            #expect(old.owner == "")
            store.uploads.release(old)
        }
        // Past the maximum age, even a session that could continue is deleted at start.
        sandbox.advance(3601)
        let store = try sandbox.open(limits)
        #expect(store.uploads.removedAtStart == 2)
        #expect(directoryEntries(layout.uploadsDirectory).isEmpty)
    }

    @Test func aMonolithicSessionLeftByACrashGoesAndAResumableOneContinues() throws {
        let sandbox = Sandbox()
        let limits = UploadLimits(maxOpen: 10, maxPerOwner: 1, idleTimeout: 60)
        let layout = Layout(root: sandbox.root)
        let resumable: UploadID, monolithic: UploadID
        do {
            let store = try sandbox.open(limits)
            let upload = try store.uploads.start(name, owner: "a")
            try store.uploads.append(upload, Array("hello ".utf8))
            store.uploads.release(upload)
            resumable = upload.id
            let single = try store.uploads.start(name, owner: "b", kind: .monolithic)
            try store.uploads.append(single, Array(repeating: 1, count: 300_000))
            close(single.fd)  // the process dies
            monolithic = single.id
            // While it runs, nobody can reach it by its id.
            #expect(throws: StoreError.uploadUnknown(monolithic.value)) { try store.uploads.acquire(monolithic.value, for: name) }
        }
        let store = try sandbox.open(limits)
        #expect(store.uploads.removedAtStart == 1)
        #expect(!FileSystem.exists(layout.upload(monolithic)))
        #expect(store.uploads.openCount == 1)
        // Its owner's slot is free again; the resumable session's owner still holds one.
        store.uploads.release(try store.uploads.start(name, owner: "b"))
        #expect(throws: StoreError.tooManyUploadsForOwner(limit: 1)) { try store.uploads.start(name, owner: "a") }
        let upload = try store.uploads.acquire(resumable.value, for: name)
        try store.uploads.append(upload, Array("again".utf8))
        let digest = Digest.sha256(of: Array("hello again".utf8))
        try store.uploads.commit(upload, expected: digest, into: store)
        #expect(store.isLinked(name, digest))
    }

    @Test func ownersAreStoredAsOneLine() throws {
        let sandbox = Sandbox()
        let limits = UploadLimits(maxOpen: 10, maxPerOwner: 1)
        let hostile = "user\nmonolithic\n" + String(repeating: "x", count: 1000)
        do {
            let store = try sandbox.open(limits)
            store.uploads.release(try store.uploads.start(name, owner: hostile))
        }
        // The owner cannot inject lines into `info`: the session comes back resumable, with the same owner.
        let store = try sandbox.open(limits)
        #expect(store.uploads.removedAtStart == 0)
        #expect(store.uploads.openCount(owner: hostile) == 1)
        #expect(throws: StoreError.tooManyUploadsForOwner(limit: 1)) { try store.uploads.start(name, owner: hostile) }
    }
}
