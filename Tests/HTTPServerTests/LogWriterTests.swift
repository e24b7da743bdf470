import Glibc
@testable import HTTPServer
import SystemIO
import Synchronization
import Testing

@Suite struct LogFormatTests {
    /// Both formats hold the same fields under the same names.
    @Test(arguments: LogFormat.allCases)
    func accessLineHasEveryField(_ format: LogFormat) throws {
        let sink = MemoryLogSink()
        let writer = LogWriter(sink: sink, format: format)
        AccessLog(writer: writer).exchangeCompleted(makeRecord(note: "write failed: EPIPE", isSecure: true))
        writer.stop()
        let line = try #require(sink.lines.first)
        #expect(sink.lines.count == 1)
        let fields: [String: String]
        if format == .json {
            let object = try #require(parseJSONLine(line), "\(line)")
            #expect(object["status"] as? Int == 200 && object["sent"] as? Int == 345 && object["received"] as? Int == 12)
            #expect(object["tls"] as? Bool == true && object["duration_ms"] as? Double == 1.235)
            fields = object.mapValues { "\($0)" }
        } else {
            let pairs = try #require(parseLogfmt(line), "\(line)")
            #expect(pairs.map(\.key) == ["time", "level", "msg", "client", "user", "method", "target", "status",
                                         "received", "sent", "duration_ms", "route", "repository", "reference",
                                         "tls", "note"])
            fields = Dictionary(uniqueKeysWithValues: pairs.map { ($0.key, $0.value) })
            #expect(fields["duration_ms"] == "1.235" && fields["tls"] == "true" && fields["status"] == "200")
        }
        #expect(fields["level"] == "info" && fields["msg"] == "access")
        #expect(fields["client"] == "127.0.0.1:40000" && fields["user"] == "alice" && fields["method"] == "GET")
        #expect(fields["target"] == "/v2/app/manifests/v1" && fields["route"] == "manifest")
        #expect(fields["repository"] == "app" && fields["reference"] == "v1" && fields["note"] == "write failed: EPIPE")
        let time = try #require(fields["time"])
        // 2026-12-02T03:20:34.123Z
        #expect(time.count == 24 && time.hasSuffix("Z") && Array(time)[10] == "T" && Array(time)[19] == ".")
    }

    @Test func anonymousLinesHaveNoUserAndCountsAreNumbers() throws {
        let sink = MemoryLogSink()
        let writer = LogWriter(sink: sink, format: .text)
        var record = makeRecord(user: nil)
        record.context = ResponseContext()
        AccessLog(writer: writer).exchangeCompleted(record)
        writer.stop()
        let pairs = try #require(parseLogfmt(sink.text.dropLast().description))
        #expect(!pairs.contains { $0.key == "user" || $0.key == "route" || $0.key == "note" })
        #expect(pairs.first { $0.key == "tls" }?.value == "false")
    }

    /// Client-chosen text (a user name, a request target) can neither split a line nor hide what it holds: control
    /// characters, line separators, bidi overrides, zero-width and tag characters are escaped, and the escaped
    /// value reads back as exactly what was received.
    @Test(arguments: LogFormat.allCases)
    func hostileValuesAreEscapedAndReadBack(_ format: LogFormat) throws {
        let hostile = [
            "alice\nlevel=error msg=forged", "bob\r\n{\"msg\":\"forged\"}", "eve\u{202E}nimda", "zero\u{200B}width",
            "\u{1B}[31mred\u{1B}[0m", "line\u{2028}sep\u{2029}", "tag\u{E0041}\u{E0001}", "nb\u{00A0}sp",
            "del\u{7F}c1\u{85}\u{9B}", "bom\u{FEFF}", "quote\"back\\slash", "a=b c", "", "isolate\u{2066}x\u{2069}",
            "private\u{E000}", "unassigned\u{0378}", "café 日本 ✓",
        ]
        let sink = MemoryLogSink()
        let writer = LogWriter(sink: sink, format: format)
        let log = AccessLog(writer: writer)
        for name in hostile {
            log.exchangeCompleted(makeRecord(user: name, target: "/v2/" + name))
        }
        writer.stop()
        let lines = sink.lines
        #expect(lines.count == hostile.count)
        for (name, line) in zip(hostile, lines) {
            // Written out here, not asked of the code under test: every hostile scalar above must come out escaped.
            let forbidden: Set<UInt32> = [0x7F, 0x85, 0x9B, 0xA0, 0x200B, 0x202E, 0x2028, 0x2029, 0x2066, 0x2069, 0xFEFF,
                                          0xE000, 0x0378, 0xE0041, 0xE0001]
            for scalar in line.unicodeScalars {
                #expect(scalar.value >= 0x20 && !forbidden.contains(scalar.value),
                        "raw U+\(String(scalar.value, radix: 16)) in \(line)")
            }
            if format == .json {
                let object = try #require(parseJSONLine(line), "\(line)")
                #expect(object["user"] as? String == name && object["target"] as? String == "/v2/" + name)
                #expect(object["msg"] as? String == "access")
            } else {
                let pairs = try #require(parseLogfmt(line), "\(line)")
                #expect(pairs.filter { $0.key == "user" }.map(\.value) == [name])
                #expect(pairs.filter { $0.key == "target" }.map(\.value) == ["/v2/" + name])
                #expect(pairs.filter { $0.key == "level" }.map(\.value) == ["info"])
            }
        }
        // Printable non-ASCII text stays readable.
        #expect(lines.last?.contains("café 日本 ✓") == true)
    }

    @Test func messagesKeepTheirMetadataAndOurNames() throws {
        let sink = MemoryLogSink()
        let writer = LogWriter(sink: sink, format: .json)
        writer.log(level: "warning", message: "disk \"full\"\n", metadata: [("blob.digest", "sha256:ab"), ("msg", "x")])
        writer.stop()
        let line = try #require(sink.lines.first)
        let object = try #require(parseJSONLine(line))
        #expect(object["level"] as? String == "warning" && object["msg"] as? String == "disk \"full\"\n")
        #expect(object["blob.digest"] as? String == "sha256:ab" && object["fields.msg"] as? String == "x")
    }

    @Test func wallClockTextIsRFC3339UTC() {
        func text(_ nanos: Int64) -> String {
            var clock = WallClockText()
            var bytes: [UInt8] = []
            clock.append(nanos, to: &bytes)
            return String(decoding: bytes, as: UTF8.self)
        }
        #expect(text(0) == "1970-01-01T00:00:00.000Z")
        #expect(text(951_782_400_999_999_999) == "2000-02-29T00:00:00.999Z")
        #expect(text(1_798_761_599_123_000_000) == "2026-12-31T23:59:59.123Z")
        #expect(text(4_107_542_400_000_000_000) == "2100-03-01T00:00:00.000Z")
        #expect(text(-1_000_000) == "1969-12-31T23:59:59.999Z")
        // Against the C library, over many days.
        for day in stride(from: Int64(-800), to: 80_000, by: 97) {
            var seconds = time_t(day * 86_400 + 45_296)
            var parts = tm()
            gmtime_r(&seconds, &parts)
            var buffer = [CChar](repeating: 0, count: 32)
            let length = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S", &parts)
            let expected = String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            #expect(text(Int64(seconds) * 1_000_000_000) == expected + ".000Z")
        }
    }
}

@Suite struct LogWriterTests {
    /// Lines from each thread come out in the order that thread logged them, access lines and others alike, and
    /// none is cut or mixed with another.
    @Test func linesKeepTheirOrderAndStayWhole() throws {
        let sink = MemoryLogSink()
        let writer = LogWriter(sink: sink, format: .text, batchDelay: 0.001)
        let log = AccessLog(writer: writer)
        let threads = 4, perThread = 2000
        var started: [pthread_t] = []
        for t in 0..<threads {
            started.append(Thread.start(name: "log-test-\(t)") {
                for i in 0..<perThread {
                    if i % 2 == 0 {
                        log.exchangeCompleted(makeRecord(user: "t\(t)", target: "/\(i)"))
                    } else {
                        writer.log(level: "info", message: "t\(t) \(i)")
                    }
                }
            })
        }
        for thread in started { pthread_join(thread, nil) }
        writer.flush()
        let lines = sink.lines
        #expect(lines.count == threads * perThread)
        var next = [Int](repeating: 0, count: threads)
        for line in lines {
            let fields = try #require(logfmtFields([line]).first, "\(line)")
            var t = 0, i = 0
            if let user = fields["user"] {
                t = Int(user.dropFirst())!
                i = Int(fields["target"]!.dropFirst())!
            } else {
                let words = fields["msg"]!.split(separator: " ")
                t = Int(words[0].dropFirst())!
                i = Int(words[1])!
            }
            #expect(i == next[t], "thread \(t): \(i) after \(next[t] - 1)")
            next[t] = i + 1
        }
        #expect(sink.batches < lines.count / 10, "\(sink.batches) writes for \(lines.count) lines")
        writer.stop()
    }

    /// A flush writes what is queued at once, without waiting for the batch delay.
    @Test func flushWritesEverythingQueued() {
        let sink = MemoryLogSink()
        let writer = LogWriter(sink: sink, batchDelay: 30)
        for i in 0..<500 { AccessLog(writer: writer).exchangeCompleted(makeRecord(target: "/\(i)")) }
        let start = Clock.monotonicNanos()
        writer.flush()
        #expect(sink.lines.count == 500)
        #expect(Clock.monotonicNanos() - start < 5_000_000_000)
        writer.stop()
        #expect(sink.lines.count == 500)
    }

    /// Stopping writes what is queued; later lines are dropped, not written after the end.
    @Test func stopWritesTheRestThenNothing() {
        let sink = MemoryLogSink()
        let writer = LogWriter(sink: sink, batchDelay: 30)
        for i in 0..<100 { writer.log(level: "info", message: "\(i)") }
        writer.stop()
        #expect(sink.lines.count == 100)
        writer.log(level: "info", message: "late")
        writer.flush()
        #expect(sink.lines.count == 100)
    }

    /// A destination that blocks never blocks the loggers: the queue holds `capacity` lines, the rest are dropped
    /// and counted, and the writer says how many once it can write again.
    @Test func fullQueueDropsAndCountsInsteadOfBlocking() throws {
        let sink = StalledLogSink()
        let reported = Mutex<[Int]>([])
        let writer = LogWriter(sink: sink, capacity: 8, batchDelay: 0) { n in reported.withLock { $0.append(n) } }
        writer.log(level: "info", message: "first")
        for _ in 0..<2000 where !sink.writerIsStuck { usleep(1000) }
        try #require(sink.writerIsStuck)
        let start = Clock.monotonicNanos()
        for i in 0..<20 { writer.log(level: "info", message: "queued \(i)") }
        #expect(Clock.monotonicNanos() - start < 1_000_000_000, "logging waited for the destination")
        #expect(writer.droppedCount == 12)
        sink.release()
        writer.flush()
        let lines = sink.inner.lines
        #expect(lines.count == 1 + 1 + 8)
        #expect(lines.first?.contains("msg=first") == true)
        #expect(lines.dropFirst().first?.contains("dropped=12") == true)
        #expect(lines.dropFirst().first?.contains("level=warning") == true)
        #expect(lines.last?.contains("msg=\"queued 7\"") == true)
        #expect(reported.withLock { $0 } == [12])
        writer.stop()
    }

    /// The bound is also on bytes: a few huge lines cannot take the memory that `capacity` small ones would.
    @Test func byteLimitBoundsTheQueue() throws {
        let sink = StalledLogSink()
        let writer = LogWriter(sink: sink, capacity: 1000, byteLimit: 10_000, batchDelay: 0)
        writer.log(level: "info", message: "first")
        for _ in 0..<2000 where !sink.writerIsStuck { usleep(1000) }
        try #require(sink.writerIsStuck)
        let big = String(repeating: "x", count: 3000)
        for _ in 0..<10 { AccessLog(writer: writer).exchangeCompleted(makeRecord(target: big)) }
        #expect(writer.droppedCount == 7)
        sink.release()
        writer.stop()
        #expect(sink.inner.lines.count == 1 + 1 + 3)
    }
}
