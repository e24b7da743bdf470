import Foundation
import Glibc
import SystemIO

/// An event waiting in an endpoint's queue: its place in the queue and its JSON.
struct QueuedEvent: Sendable {
    /// Sequence number: one more than the event queued before it, across restarts.
    let sequence: UInt64
    let json: [UInt8]
}

/// The disk side of one endpoint's queue: an append-only log in segments, and the sequence number of the first
/// event not yet delivered.
///
/// ```
/// <queue directory>/<endpoint>/          0700
/// ├── 00000000000000001024.events        events 1024, 1025, … one JSON object a line (JSON has no raw newline)
/// ├── 00000000000000002048.events        the segment appended to
/// └── head                               "1500": every event before it was delivered (or dropped)
/// ```
///
/// - Appends go to the last segment, one `write` and one `fdatasync` per batch: a batch is durable before it is
///   delivered. A crash in the middle of a write leaves a last line without its newline; loading cuts it off
///   (that batch was never acknowledged to anyone: its events were still in memory only).
/// - `head` is replaced atomically (write, fsync, rename, fsync the folder) after deliveries; segments wholly
///   below it are then deleted. A crash after a POST succeeded and before `head` moved past it sends those events
///   again after the restart: delivery is at least once, and each event's unique `id` lets a receiver drop repeats.
///
/// Used by one thread at a time (the notifier's writer thread, after `init`).
final class EventJournal {
    let directory: String
    /// Events before this were delivered or dropped (as last made durable).
    private(set) var head: UInt64 = 0
    /// The sequence number the next event appended gets.
    private(set) var tail: UInt64 = 0
    /// The segments on disk, oldest first: first sequence number and number of events.
    private var segments: [(first: UInt64, count: UInt64)] = []
    /// The last segment, open for appending; -1 when the next append starts a new one.
    private var appendFD: Int32 = -1
    /// Events per segment file.
    let segmentCapacity: UInt64
    /// The events found on disk at `init` that were not delivered yet, oldest first.
    private(set) var recovered: [QueuedEvent] = []
    /// Records found on disk at `init` that were not events (see `isEventRecord`); skipped.
    private(set) var unreadableAtStart = 0

    static let segmentSuffix = ".events"
    /// The largest segment read back (a segment holds `segmentCapacity` events of a few hundred bytes each).
    static let maxSegmentBytes = 256 << 20

    /// Opens the queue in `directory` (created 0700), reading back what was queued.
    /// - Throws: `SystemError` when the folder cannot be made or read.
    init(directory: String, segmentCapacity: Int = 1024) throws(SystemError) {
        self.directory = directory
        self.segmentCapacity = UInt64(max(1, segmentCapacity))
        try FileSystem.makePrivateDirectory(directory)
        var firsts: [UInt64] = []
        for name in try FileSystem.list(directory) {
            if name.hasPrefix(".tmp-") {
                unlink(directory + "/" + name)  // a head file whose rename a crash cut short
            } else if name.hasSuffix(Self.segmentSuffix), let first = UInt64(name.dropLast(Self.segmentSuffix.count)) {
                firsts.append(first)
            }
        }
        if let text = try FileSystem.read(headPath, maxBytes: 64),
           let value = UInt64(String(decoding: text, as: UTF8.self).trimmingSpaces) {
            head = value
        }
        tail = head
        for first in firsts.sorted() {
            let lines = try readSegment(first)
            segments.append((first, UInt64(lines.count)))
            for (offset, line) in lines.enumerated() where first + UInt64(offset) >= head {
                // A damaged record (a disk error, a hand edit) would make every batch holding it invalid JSON,
                // which a receiver refuses for ever: it is dropped here, and counted.
                guard Self.isEventRecord(line) else {
                    unreadableAtStart += 1
                    continue
                }
                recovered.append(QueuedEvent(sequence: first + UInt64(offset), json: line))
            }
            tail = max(tail, first + UInt64(lines.count))
        }
        try removeDeliveredSegments()
    }

    deinit {
        if appendFD >= 0 { close(appendFD) }
    }

    /// Whether a line read back is one JSON object, as `append` wrote it.
    static func isEventRecord(_ line: [UInt8]) -> Bool {
        guard line.first == UInt8(ascii: "{"), line.last == UInt8(ascii: "}") else { return false }
        return (try? JSONSerialization.jsonObject(with: Data(line))) is [String: Any]
    }

    /// Hands over the events read back at start (once).
    func takeRecovered() -> [QueuedEvent] {
        defer { recovered = [] }
        return recovered
    }

    /// Appends events durably, numbering them from `tail`.
    /// - Returns: the events with their sequence numbers, also when writing failed (`error` then says why: they
    ///   are queued in memory only and lost if the process stops before they are delivered).
    func append(_ events: [[UInt8]]) -> (queued: [QueuedEvent], error: SystemError?) {
        let queued = events.enumerated().map { QueuedEvent(sequence: tail + UInt64($0.offset), json: $0.element) }
        guard !events.isEmpty else { return ([], nil) }
        var failure: SystemError?
        do throws(SystemError) {
            try write(events)
        } catch {
            failure = error
            // The next append starts a new segment at the new tail, so that line numbers and sequence numbers
            // keep agreeing in every segment.
            if appendFD >= 0 { close(appendFD) }
            appendFD = -1
        }
        if failure == nil { segments[segments.count - 1].count += UInt64(events.count) }
        tail += UInt64(events.count)
        return (queued, failure)
    }

    /// Records that every event before `newHead` is delivered or dropped, and deletes the segments that holds.
    func advanceHead(to newHead: UInt64) throws(SystemError) {
        guard newHead > head else { return }
        try writeHead(newHead)
        head = newHead
        try removeDeliveredSegments()
    }

    // MARK: - Files

    private var headPath: String { directory + "/head" }

    private func segmentPath(_ first: UInt64) -> String {
        let digits = String(first)
        return directory + "/" + String(repeating: "0", count: max(0, 20 - digits.count)) + digits + Self.segmentSuffix
    }

    /// Replaces `head` atomically: a new file (0600, like the segments) written and synced, renamed over the old
    /// one, then the folder synced.
    private func writeHead(_ value: UInt64) throws(SystemError) {
        let temporary = directory + "/.tmp-head"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SystemError("open \(temporary)", errno: errno) }
        do throws(SystemError) {
            try FileSystem.writeAll(fd, Array("\(value)\n".utf8))
            if fsync(fd) != 0 { throw SystemError("fsync \(temporary)", errno: errno) }
        } catch {
            close(fd)
            throw error
        }
        close(fd)
        guard rename(temporary, headPath) == 0 else { throw SystemError("rename \(temporary)", errno: errno) }
        try FileSystem.syncDirectory(directory)
    }

    private func write(_ events: [[UInt8]]) throws(SystemError) {
        var created = false
        if appendFD < 0 || segments.last.map({ $0.count >= segmentCapacity }) ?? true {
            if appendFD >= 0 { close(appendFD) }
            appendFD = -1
            let path = segmentPath(tail)
            // O_TRUNC: a segment of that name can only be one whose events a failed write left out.
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw SystemError("open \(path)", errno: errno) }
            appendFD = fd
            segments.removeAll { $0.first == tail }
            segments.append((tail, 0))
            created = true
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(events.reduce(0) { $0 + $1.count + 1 })
        for event in events {
            bytes += event
            bytes.append(0x0A)
        }
        var size = stat()
        fstat(appendFD, &size)
        do throws(SystemError) {
            try FileSystem.writeAll(appendFD, bytes)
            if fdatasync(appendFD) != 0 { throw SystemError("fdatasync \(directory)", errno: errno) }
        } catch {
            // No partial line may stay: the next batch would be glued to it.
            _ = ftruncate(appendFD, size.st_size)
            throw error
        }
        if created { try FileSystem.syncDirectory(directory) }
    }

    /// The complete lines of a segment; a last line without its newline (a write a crash interrupted) is cut off.
    private func readSegment(_ first: UInt64) throws(SystemError) -> [[UInt8]] {
        let path = segmentPath(first)
        guard let bytes = try FileSystem.read(path, maxBytes: Self.maxSegmentBytes) else { return [] }
        var lines: [[UInt8]] = []
        var start = 0
        for (index, byte) in bytes.enumerated() where byte == 0x0A {
            lines.append(Array(bytes[start..<index]))
            start = index + 1
        }
        if start < bytes.count {
            let fd = open(path, O_WRONLY | O_CLOEXEC)
            if fd >= 0 {
                _ = ftruncate(fd, off_t(start))
                _ = fsync(fd)
                close(fd)
            }
        }
        return lines
    }

    private func removeDeliveredSegments() throws(SystemError) {
        var removed = false
        while let oldest = segments.first, oldest.first + oldest.count <= head {
            let isOpen = segments.count == 1 && appendFD >= 0
            // The segment being appended to stays until it is full: deleting it would cost a new file and two
            // folder syncs per delivered batch.
            if isOpen && oldest.count < segmentCapacity { break }
            if isOpen {
                close(appendFD)
                appendFD = -1
            }
            unlink(segmentPath(oldest.first))
            segments.removeFirst()
            removed = true
        }
        if removed { try FileSystem.syncDirectory(directory) }
    }
}

extension String {
    var trimmingSpaces: String {
        var slice = Substring(self)
        while let last = slice.last, last.isWhitespace { slice.removeLast() }
        while let first = slice.first, first.isWhitespace { slice.removeFirst() }
        return String(slice)
    }
}
