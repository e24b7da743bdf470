import Glibc
import Logging
@testable import RegistryNotifications
import SystemIO
import Testing
import TestSupport

/// The disk queue: durable appends, resuming after a restart, cutting off a torn write, deleting what was
/// delivered; and the in-memory bound.
@Suite struct QueueTests {
    private func lines(_ texts: [String]) -> [[UInt8]] { texts.map { Array($0.utf8) } }
    private func texts(_ events: [QueuedEvent]) -> [String] { events.map { String(decoding: $0.json, as: UTF8.self) } }

    private func mode(_ path: String) -> mode_t {
        var st = stat()
        stat(path, &st)
        return st.st_mode & 0o777
    }

    @Test func appendedEventsAreReadBackInOrderAfterARestartFromTheHead() throws {
        let root = makeTemporaryDirectory(prefix: "swr-journal")
        defer { FileSystem.removeTree(root) }
        let directory = root + "/hook"
        do {
            let journal = try EventJournal(directory: directory, segmentCapacity: 3)
            for batch in [["{\"n\":0}", "{\"n\":1}"], ["{\"n\":2}", "{\"n\":3}", "{\"n\":4}"], ["{\"n\":5}"]] {
                let (queued, error) = journal.append(lines(batch))
                #expect(error == nil)
                #expect(queued.count == batch.count)
            }
            #expect(journal.tail == 6)
            try journal.advanceHead(to: 4)
        }
        #expect(mode(directory) == 0o700)
        for name in try FileSystem.list(directory) { #expect(mode(directory + "/" + name) & 0o077 == 0, "\(name)") }
        let reopened = try EventJournal(directory: directory, segmentCapacity: 3)
        let recovered = reopened.takeRecovered()
        #expect(texts(recovered) == ["{\"n\":4}", "{\"n\":5}"])
        #expect(recovered.map(\.sequence) == [4, 5])
        #expect(reopened.head == 4 && reopened.tail == 6)
        // Sequence numbers go on from where they were.
        #expect(reopened.append(lines(["{\"n\":6}"])).queued.map(\.sequence) == [6])
    }

    @Test func deliveredSegmentsAreDeleted() throws {
        let root = makeTemporaryDirectory(prefix: "swr-journal")
        defer { FileSystem.removeTree(root) }
        let journal = try EventJournal(directory: root + "/hook", segmentCapacity: 2)
        for n in 0..<7 { _ = journal.append(lines(["{\"n\":\(n)}"])) }
        let segments = { try FileSystem.list(root + "/hook").filter { $0.hasSuffix(".events") }.sorted() }
        #expect(try segments().count == 4)
        try journal.advanceHead(to: 5)
        #expect(try segments() == ["00000000000000000004.events", "00000000000000000006.events"])
        try journal.advanceHead(to: 7)
        #expect(try segments() == ["00000000000000000006.events"], "the segment appended to stays until it is full")
        #expect(try EventJournal(directory: root + "/hook", segmentCapacity: 2).takeRecovered().isEmpty)
    }

    @Test func aTornLastLineIsCutOff() throws {
        let root = makeTemporaryDirectory(prefix: "swr-journal")
        defer { FileSystem.removeTree(root) }
        let directory = root + "/hook"
        do {
            let journal = try EventJournal(directory: directory)
            _ = journal.append(lines(["{\"n\":0}", "{\"n\":1}"]))
        }
        let segment = directory + "/" + (try FileSystem.list(directory).first { $0.hasSuffix(".events") }!)
        let fd = open(segment, O_WRONLY | O_APPEND)
        try FileSystem.writeAll(fd, Array("{\"n\":2, \"torn".utf8))
        close(fd)
        let journal = try EventJournal(directory: directory)
        #expect(texts(journal.takeRecovered()) == ["{\"n\":0}", "{\"n\":1}"])
        #expect(FileSystem.fileSize(segment) == Int64("{\"n\":0}\n{\"n\":1}\n".utf8.count))
        #expect(journal.append(lines(["{\"n\":2}"])).queued.map(\.sequence) == [2])
        #expect(texts(try EventJournal(directory: directory).takeRecovered()) == ["{\"n\":0}", "{\"n\":1}", "{\"n\":2}"])
    }

    /// A damaged record in the middle of a segment is skipped and counted; the others keep their order and numbers.
    @Test func aDamagedRecordIsSkipped() throws {
        let root = makeTemporaryDirectory(prefix: "swr-journal")
        defer { FileSystem.removeTree(root) }
        let directory = root + "/hook"
        do {
            let journal = try EventJournal(directory: directory)
            _ = journal.append(lines(["{\"n\":0}", "{\"n\":1}", "{\"n\":2}"]))
        }
        let segment = directory + "/" + (try FileSystem.list(directory).first { $0.hasSuffix(".events") }!)
        try FileSystem.writeAtomically(Array("{\"n\":0}\ngarbage\u{1}{\"x\n{\"n\":2}\n".utf8), to: segment, tmpDirectory: root)
        let journal = try EventJournal(directory: directory)
        let recovered = journal.takeRecovered()
        #expect(texts(recovered) == ["{\"n\":0}", "{\"n\":2}"])
        #expect(recovered.map(\.sequence) == [0, 2])
        #expect(journal.unreadableAtStart == 1)
    }

    @Test func pastTheBoundTheOldestAreDroppedAndOrderIsKept() throws {
        let root = makeTemporaryDirectory(prefix: "swr-journal")
        defer { FileSystem.removeTree(root) }
        let journal = try EventJournal(directory: root + "/hook")
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let queue = EndpointQueue(configuration: EndpointConfiguration(name: "hook", url: "http://127.0.0.1:9/"),
                                  journal: journal, maxEvents: 5, logger: logger, delivered: {})
        for n in 0..<4 { queue.enqueue(journal.append(lines(["{\"n\":\(n)}"])).queued) }
        #expect(queue.count == 4 && queue.deliveredHead == 0)
        queue.enqueue(journal.append(lines((4..<8).map { "{\"n\":\($0)}" })).queued)
        #expect(queue.count == 5)
        #expect(queue.deliveredHead == 3, "events 0, 1 and 2 were dropped")
        try journal.advanceHead(to: queue.deliveredHead)
        #expect(texts(try EventJournal(directory: root + "/hook").takeRecovered())
                == (3..<8).map { "{\"n\":\($0)}" })
    }
}
