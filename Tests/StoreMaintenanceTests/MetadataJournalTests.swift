@testable import BlobStore
import Glibc
import OCIModel
import SystemIO
import Testing
import TestSupport

/// The store's metadata log (`MetadataJournal`): its records, a torn tail, and the replay that brings the tree back
/// to every acknowledged change after a crash lost writes the log covered.
@Suite struct MetadataJournalTests {
    static let name = try! RepositoryName(validating: "team/app")

    static func manifest(_ seed: String) -> (bytes: [UInt8], digest: Digest) {
        let bytes = Array("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"seed\":\"\(seed)\"}".utf8)
        return (bytes, Digest.sha256(of: bytes))
    }

    static let mediaType = "application/vnd.oci.image.manifest.v1+json"

    @Test func recordsRoundTripAndATornTailEndsThem() throws {
        let root = makeTemporaryDirectory(prefix: "swr-journal")
        defer { FileSystem.removeTree(root) }
        let journal = try MetadataJournal(path: "\(root)/journal")
        let (bytes, digest) = Self.manifest("a")
        let referrer = Array("{\"x\":1}".utf8)
        let records: [JournalRecord] = [
            .link(Self.name, Digest.sha256(of: Array("layer".utf8))),
            .manifest(.init(name: Self.name, digest: digest, mediaType: Self.mediaType, bytes: bytes,
                            tag: try Tag(validating: "v1"), subject: Digest.sha256(of: Array("s".utf8)), referrer: referrer)),
            .manifest(.init(name: Self.name, digest: digest, mediaType: Self.mediaType, bytes: bytes, tag: nil,
                            subject: nil, referrer: nil)),
        ]
        var end: UInt64 = 0
        for record in records { end = try journal.append(record) }
        try journal.waitDurable(end)
        #expect(try journal.records().records == records)

        // A crash during the last append: its record is cut short, the ones before it stand.
        let size = FileSystem.fileSize("\(root)/journal")!
        #expect(truncate("\(root)/journal", off_t(size - 3)) == 0)
        let reopened = try MetadataJournal(path: "\(root)/journal")
        let (torn, valid) = try reopened.records()
        #expect(torn == Array(records.prefix(2)))
        #expect(valid < size - 3)

        // A damaged byte inside the second record: the replay stops before it.
        let fd = open("\(root)/journal", O_WRONLY)
        #expect(pwrite(fd, "Z", 1, off_t(valid - 5)) == 1)
        close(fd)
        #expect(try MetadataJournal(path: "\(root)/journal").records().records == Array(records.prefix(1)))
    }

    /// Writes the log covered but the disk lost (the tree is flushed only at checkpoints) come back at the next
    /// opening, byte for byte; the log is empty afterwards.
    @Test func replayRestoresWhatACrashLost() throws {
        let root = makeTemporaryDirectory(prefix: "swr-journal")
        defer { FileSystem.removeTree(root) }
        let store = try BlobStore(root: root)
        let (bytes, digest) = Self.manifest("b")
        let tag = try Tag(validating: "latest")
        try store.putManifest(Self.name, bytes: bytes, digest: digest, mediaType: Self.mediaType, tag: tag,
                              subject: nil, referrer: nil)
        #expect(FileSystem.fileSize(store.layout.journalFile)! > 0)
        // As after a power loss that kept the log but not the tree's writes.
        _ = try FileSystem.remove(store.layout.tag(Self.name, tag))
        _ = try FileSystem.remove(store.layout.revisionLink(Self.name, digest))
        #expect(truncate(store.layout.blob(digest), 0) == 0)
        // And an append cut short after the last acknowledged one.
        let fd = open(store.layout.journalFile, O_WRONLY | O_APPEND)
        _ = write(fd, [UInt8](repeating: 0x41, count: 11), 11)
        close(fd)

        let reopened = try BlobStore(root: root)
        #expect(try reopened.resolve(Self.name, tag: tag) == digest)
        #expect(try reopened.manifest(Self.name, digest, maxBytes: 1 << 20).bytes == bytes)
        #expect(try FileSystem.read(reopened.layout.blob(digest), maxBytes: 1 << 20) == bytes)
        #expect(FileSystem.fileSize(reopened.layout.journalFile) == 0)
    }

    /// An opening whose replay fails (here a folder in the way; in life, a full disk) keeps the log whole for the
    /// next one: nothing acknowledged is dropped.
    @Test func aFailedReplayKeepsTheLog() throws {
        let root = makeTemporaryDirectory(prefix: "swr-journal")
        defer { FileSystem.removeTree(root) }
        let (bytes, digest) = Self.manifest("d")
        let tag = try Tag(validating: "v1")
        let layout: Layout
        do {
            let store = try BlobStore(root: root)
            layout = store.layout
            try store.putManifest(Self.name, bytes: bytes, digest: digest, mediaType: Self.mediaType, tag: tag,
                                  subject: nil, referrer: nil)
            // As after a crash that lost the tag's write; the store is not closed cleanly.
            _ = try FileSystem.remove(layout.tag(Self.name, tag))
            let tags = layout.tagsDirectory(Self.name)
            #expect(rmdir(tags) == 0)
            try FileSystem.writeAtomically(Array("in the way".utf8), to: tags, tmpDirectory: layout.tmpDirectory)
            // Dropped without a checkpoint, as a killed process does.
            withExtendedLifetime(store) {}
            store.journalReplayed.store(false, ordering: .releasing)
        }
        #expect(throws: SystemError.self) { _ = try BlobStore(root: root) }
        #expect(FileSystem.fileSize(layout.journalFile)! > 0, "the log is kept for the next opening")
        _ = try FileSystem.remove(layout.tagsDirectory(Self.name))
        let reopened = try BlobStore(root: root)
        #expect(try reopened.resolve(Self.name, tag: tag) == digest)
    }

    /// A change that cannot be applied (a full disk; here a file in the way of the tags folder) fails, and its
    /// record is taken back: a later replay does not make it, nor fails on it.
    @Test func aChangeThatFailsLeavesNoRecord() throws {
        let root = makeTemporaryDirectory(prefix: "swr-journal")
        defer { FileSystem.removeTree(root) }
        let store = try BlobStore(root: root)
        let (bytes, digest) = Self.manifest("e")
        try store.putManifest(Self.name, bytes: bytes, digest: digest, mediaType: Self.mediaType, tag: nil,
                              subject: nil, referrer: nil)
        let before = FileSystem.fileSize(store.layout.journalFile)!
        try FileSystem.writeAtomically(Array("in the way".utf8), to: store.layout.tagsDirectory(Self.name),
                                       tmpDirectory: store.layout.tmpDirectory)
        #expect(throws: StoreError.self) {
            try store.putManifest(Self.name, bytes: bytes, digest: digest, mediaType: Self.mediaType,
                                  tag: try Tag(validating: "v2"), subject: nil, referrer: nil)
        }
        #expect(FileSystem.fileSize(store.layout.journalFile) == before)
        #expect(try store.journal.records().records.count == 1)
    }

    /// A deletion checkpoints first: what it removed is not brought back by a replay of the changes before it.
    @Test func aDeletionIsNotUndoneByAReplay() throws {
        let root = makeTemporaryDirectory(prefix: "swr-journal")
        defer { FileSystem.removeTree(root) }
        let store = try BlobStore(root: root)
        let (bytes, digest) = Self.manifest("c")
        let tag = try Tag(validating: "v1")
        try store.putManifest(Self.name, bytes: bytes, digest: digest, mediaType: Self.mediaType, tag: tag,
                              subject: nil, referrer: nil)
        try store.deleteTag(Self.name, tag)
        #expect(FileSystem.fileSize(store.layout.journalFile) == 0)
        let reopened = try BlobStore(root: root)
        #expect(throws: StoreError.self) { try reopened.resolve(Self.name, tag: tag) }
        #expect(reopened.manifestMediaType(Self.name, digest) == Self.mediaType)
    }

    /// A mount is one record, and a second mount of the same link waits for the first one's record.
    @Test func mountsGoThroughTheLog() throws {
        let root = makeTemporaryDirectory(prefix: "swr-journal")
        defer { FileSystem.removeTree(root) }
        let store = try BlobStore(root: root)
        let (bytes, digest) = Self.manifest("layer")
        try FileSystem.writeAtomically(bytes, to: store.layout.blob(digest), tmpDirectory: store.layout.tmpDirectory)
        try store.linkBlob(Self.name, digest)
        try store.linkBlob(Self.name, digest)
        #expect(try store.journal.records().records == [.link(Self.name, digest)])
        _ = try FileSystem.remove(store.layout.layerLink(Self.name, digest))
        let reopened = try BlobStore(root: root)
        #expect(reopened.isLinked(Self.name, digest))
    }
}
