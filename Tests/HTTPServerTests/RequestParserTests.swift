import Testing
@testable import HTTPServer

// MARK: - Transcript helper (shared with HostileRequestTests)

/// A request head reduced to comparable values.
struct ParsedHead: Equatable, Sendable, CustomStringConvertible {
    var method: String
    var target: String
    var versionMinor: Int
    /// "name: value", in received order.
    var headers: [String]
    var framing: BodyFraming
    var keepAlive: Bool
    var expectContinue: Bool

    init(_ method: String, _ target: String, versionMinor: Int = 1, headers: [String], framing: BodyFraming = .none,
         keepAlive: Bool = true, expectContinue: Bool = false) {
        self.method = method
        self.target = target
        self.versionMinor = versionMinor
        self.headers = headers
        self.framing = framing
        self.keepAlive = keepAlive
        self.expectContinue = expectContinue
    }

    init(_ head: RequestHead) {
        self.init(head.method, head.target, versionMinor: head.versionMinor,
                  headers: head.headers.map { "\($0.name): \($0.value)" }, framing: head.framing,
                  keepAlive: head.keepAlive, expectContinue: head.expectContinue)
    }

    var description: String {
        "\(method) \(target) HTTP/1.\(versionMinor) \(headers) framing=\(framing) keepAlive=\(keepAlive)"
            + " expectContinue=\(expectContinue)"
    }
}

/// One request as the parser reported it: its head, every body byte concatenated, and whether `.end` came.
struct ParsedRequest: Equatable, Sendable, CustomStringConvertible {
    var head: ParsedHead
    var body: [UInt8]
    var ended: Bool

    init(_ head: ParsedHead, body: String = "", ended: Bool = true) {
        self.head = head
        self.body = Array(body.utf8)
        self.ended = ended
    }

    var description: String { "{\(head) body=\"\(escapedBytes(body))\"\(ended ? " END" : " (open)")}" }
}

/// Everything a parser reported for one input, normalized so that different splits of the input compare equal.
struct ParseTranscript: Equatable, Sendable, CustomStringConvertible {
    var requests: [ParsedRequest] = []
    var error: HTTPParseError? = nil
    /// The parser was idle (between requests) after the last byte; false after an error.
    var idle = true

    var description: String {
        var s = requests.map(\.description).joined(separator: "\n  ")
        if let error { s += "\n  ERROR \(error.status.code): \(error)" }
        if !idle && error == nil { s += "\n  (not idle)" }
        return "[\n  \(s)\n]"
    }
}

struct ParserFeedResult {
    var transcript: ParseTranscript
    /// Broken API contracts seen while feeding (offsets, ranges, event order, lack of progress).
    var violations: [String]
}

func escapedBytes(_ bytes: [UInt8]) -> String {
    var s = ""
    for b in bytes {
        switch b {
        case 0x0D: s += "\\r"
        case 0x0A: s += "\\n"
        case 0x20..<0x7F: s.unicodeScalars.append(Unicode.Scalar(b))
        default: s += "\\x" + String(b, radix: 16)
        }
    }
    return s
}

/// Feeds `bytes` to a fresh parser in the pieces delimited by `cuts`, the way `Connection.process(_:)` does: each
/// piece is a separate buffer, parsed until the parser asks for more input or throws.
func feedParser(_ bytes: [UInt8], cuts: [Int], limits: ParserLimits = ParserLimits()) -> ParserFeedResult {
    var bounds = [0]
    bounds += cuts.filter { $0 > 0 && $0 < bytes.count }.sorted()
    bounds.append(bytes.count)
    var t = ParseTranscript()
    var violations: [String] = []
    var parser = RequestParser(limits: limits)
    for p in 0..<bounds.count - 1 {
        let piece = Array(bytes[bounds[p]..<bounds[p + 1]])
        let stop = piece.withUnsafeBytes { buf -> Bool in
            var i = 0
            var calls = 0
            while true {
                calls += 1
                // Every call consumes a byte or reports an event; at most one event per request consumes nothing.
                if calls > 2 * buf.count + 4 {
                    violations.append("no progress in piece \(p) at offset \(i)")
                    return true
                }
                let step: (Int, RequestParser.Event?)
                do throws(HTTPParseError) {
                    step = try parser.parse(buf, from: i)
                } catch {
                    t.error = error
                    return true
                }
                let (next, event) = step
                guard next >= i && next <= buf.count else {
                    violations.append("offset \(next) outside \(i)...\(buf.count)")
                    return true
                }
                switch event {
                case nil:
                    if next != buf.count { violations.append("nil event with \(buf.count - next) bytes unconsumed") }
                    return false
                case .head(let head):
                    if let last = t.requests.last, !last.ended { violations.append("head before end of previous request") }
                    if next == i { violations.append("head without consuming bytes") }
                    t.requests.append(ParsedRequest(ParsedHead(head), ended: false))
                case .body(let range):
                    // The range may start after `i` (a chunk-size line consumed in the same call), but ends at the offset returned.
                    guard range.lowerBound >= i, range.upperBound == next, !range.isEmpty else {
                        violations.append("body range \(range) for call at \(i) returning \(next)")
                        return true
                    }
                    guard let last = t.requests.last, !last.ended, last.head.framing != .none else {
                        violations.append("body outside a request with a body")
                        return true
                    }
                    t.requests[t.requests.count - 1].body += buf[range]
                case .end:
                    guard let last = t.requests.last, !last.ended else {
                        violations.append("end outside a request")
                        return true
                    }
                    if case .length(let n) = last.head.framing, Int64(last.body.count) != n {
                        violations.append("end after \(last.body.count) of \(n) body bytes")
                    }
                    t.requests[t.requests.count - 1].ended = true
                }
                i = next
            }
        }
        if stop { break }
    }
    t.idle = t.error == nil && parser.isIdle
    return ParserFeedResult(transcript: t, violations: violations)
}

/// Feeds `bytes` whole, split in two at every offset, and one byte at a time; every transcript must equal the
/// whole one (and `expected`, when given), with no contract violation. Returns the whole transcript.
@discardableResult
func expectSplitIndependent(_ bytes: [UInt8], limits: ParserLimits = ParserLimits(), expected: ParseTranscript? = nil,
                            sourceLocation: SourceLocation = #_sourceLocation) -> ParseTranscript {
    let whole = feedParser(bytes, cuts: [], limits: limits)
    #expect(whole.violations == [], sourceLocation: sourceLocation)
    if let expected {
        #expect(whole.transcript == expected, sourceLocation: sourceLocation)
    }
    func check(_ cuts: [Int], _ what: String) -> Bool {
        let r = feedParser(bytes, cuts: cuts, limits: limits)
        if r.transcript != whole.transcript || !r.violations.isEmpty {
            Issue.record("""
                \(what): \(r.transcript) \(r.violations)
                whole: \(whole.transcript)
                """, sourceLocation: sourceLocation)
            return false
        }
        return true
    }
    for k in stride(from: 1, to: bytes.count, by: 1) where !check([k], "split at \(k)") { break }
    _ = check(Array(0..<bytes.count), "one byte at a time")
    // A few deterministic three-way splits.
    if bytes.count > 3 {
        for k in stride(from: 1, to: bytes.count, by: max(1, bytes.count / 16)) {
            if !check([k, (k * 7 + 3) % bytes.count], "three pieces at \(k)") { break }
        }
    }
    return whole.transcript
}

extension ParserLimits {
    /// Small limits keeping limit tests fast.
    static var small: ParserLimits {
        var l = ParserLimits()
        l.maxRequestLine = 64
        l.maxHeaderBytes = 256
        l.maxHeaderCount = 6
        l.maxChunkLine = 32
        l.maxTrailerBytes = 64
        return l
    }
}

// MARK: - Valid request corpus

struct ValidRequestCase: Sendable, CustomTestStringConvertible {
    var name: String
    var bytes: [UInt8]
    var expected: [ParsedRequest]
    var testDescription: String { name }

    init(_ name: String, _ text: String, _ expected: ParsedRequest...) {
        self.name = name
        self.bytes = Array(text.utf8)
        self.expected = expected
    }

    static let simpleGET = "GET /v2/ HTTP/1.1\r\nHost: registry.example\r\nUser-Agent: swcopy/1.0\r\nAccept: */*\r\n\r\n"
    static let postWithBody = "POST /v2/a/blobs/uploads/ HTTP/1.1\r\nHost: r\r\nContent-Length: 5\r\n\r\nabcde"
    static let chunked = "PATCH /v2/a/blobs/uploads/u1 HTTP/1.1\r\nHost: r\r\nTransfer-Encoding: chunked\r\n\r\n"
        + "3\r\nxyz\r\n2;last\r\n12\r\n0\r\n\r\n"
    static let closingGET = "GET /v2/_catalog?n=10 HTTP/1.1\r\nHost: r\r\nConnection: close\r\n\r\n"

    static let corpus: [ValidRequestCase] = [
        .init("simple GET", simpleGET,
              .init(.init("GET", "/v2/", headers: ["Host: registry.example", "User-Agent: swcopy/1.0", "Accept: */*"]))),
        .init("HEAD", "HEAD /v2/library/alpine/manifests/latest HTTP/1.1\r\nHost: r:5000\r\n"
                + "Accept: application/vnd.oci.image.manifest.v1+json\r\n\r\n",
              .init(.init("HEAD", "/v2/library/alpine/manifests/latest",
                          headers: ["Host: r:5000", "Accept: application/vnd.oci.image.manifest.v1+json"]))),
        .init("POST with Content-Length", "POST /upload HTTP/1.1\r\nHost: r\r\nContent-Type: application/octet-stream\r\n"
                + "Content-Length: 11\r\n\r\nhello world",
              .init(.init("POST", "/upload", headers: ["Host: r", "Content-Type: application/octet-stream",
                                                       "Content-Length: 11"], framing: .length(11)),
                    body: "hello world")),
        .init("chunked with extensions and trailers", "PUT /upload HTTP/1.1\r\nHost: r\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "5;name=value\r\nhello\r\n6 ; q=\"a;b\" ;x\r\n world\r\n0;end=1\r\nDigest: sha-256=abc\r\nX-Trailer: 1\r\n\r\n",
              .init(.init("PUT", "/upload", headers: ["Host: r", "Transfer-Encoding: chunked"], framing: .chunked),
                    body: "hello world")),
        .init("chunk sizes in upper and lower case hex", "PUT /u HTTP/1.1\r\nHost: r\r\nTransfer-Encoding: Chunked\r\n\r\n"
                + "A\r\n0123456789\r\nb\r\nabcdefghijk\r\n1F\r\n" + String(repeating: "x", count: 31) + "\r\n"
                + "000c\r\nABCDEFGHIJKL\r\n00\r\n\r\n",
              .init(.init("PUT", "/u", headers: ["Host: r", "Transfer-Encoding: Chunked"], framing: .chunked),
                    body: "0123456789abcdefghijk" + String(repeating: "x", count: 31) + "ABCDEFGHIJKL")),
        // RFC 9112 §7.1: chunk-size = 1*HEXDIG, so any number of leading zeros is valid.
        .init("chunk sizes with leading zeros", "PUT /u HTTP/1.1\r\nHost: r\r\nTransfer-Encoding: chunked\r\n\r\n"
                + String(repeating: "0", count: 40) + "5\r\nhello\r\n" + String(repeating: "0", count: 17) + "6\r\n world\r\n"
                + String(repeating: "0", count: 30) + "\r\n\r\n",
              .init(.init("PUT", "/u", headers: ["Host: r", "Transfer-Encoding: chunked"], framing: .chunked),
                    body: "hello world")),
        .init("whitespace after chunk size", "PUT /u HTTP/1.1\r\nHost: r\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "3 \t\r\nabc\r\n2\t;x\r\nde\r\n0 \r\n\r\n",
              .init(.init("PUT", "/u", headers: ["Host: r", "Transfer-Encoding: chunked"], framing: .chunked), body: "abcde")),
        .init("HTTP/1.0 without keep-alive", "GET / HTTP/1.0\r\n\r\n",
              .init(.init("GET", "/", versionMinor: 0, headers: [], keepAlive: false))),
        .init("HTTP/1.0 with keep-alive", "POST /form HTTP/1.0\r\nConnection: Keep-Alive\r\nContent-Length: 3\r\n\r\nabc"
                + "GET /next HTTP/1.0\r\nHost: r\r\nConnection: keep-alive, close\r\n\r\n",
              .init(.init("POST", "/form", versionMinor: 0, headers: ["Connection: Keep-Alive", "Content-Length: 3"],
                          framing: .length(3), keepAlive: true), body: "abc"),
              .init(.init("GET", "/next", versionMinor: 0, headers: ["Host: r", "Connection: keep-alive, close"],
                          keepAlive: false))),
        .init("Connection: close", "GET / HTTP/1.1\r\nHost: r\r\nConnection: Upgrade, CLOSE\r\n\r\n",
              .init(.init("GET", "/", headers: ["Host: r", "Connection: Upgrade, CLOSE"], keepAlive: false))),
        .init("Expect: 100-continue", "PUT /blob HTTP/1.1\r\nHost: r\r\nExpect: 100-Continue\r\nContent-Length: 4\r\n\r\nblob",
              .init(.init("PUT", "/blob", headers: ["Host: r", "Expect: 100-Continue", "Content-Length: 4"],
                          framing: .length(4), expectContinue: true), body: "blob")),
        .init("Expect: 100-continue ignored in HTTP/1.0", "PUT /blob HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nb",
              .init(.init("PUT", "/blob", versionMinor: 0, headers: ["Expect: 100-continue", "Content-Length: 1"],
                          framing: .length(1), keepAlive: false), body: "b")),
        .init("leading CRLF before the request line", "\r\n\r\nGET / HTTP/1.1\r\nHost: r\r\n\r\n",
              .init(.init("GET", "/", headers: ["Host: r"]))),
        .init("absolute-form target", "GET http://host/v2/?x=1 HTTP/1.1\r\nHost: host\r\n\r\n",
              .init(.init("GET", "/v2/?x=1", headers: ["Host: host"]))),
        .init("absolute-form target without path", "GET HTTPS://Host:5000?x=1 HTTP/1.1\r\nHost: Host:5000\r\n\r\n",
              .init(.init("GET", "/?x=1", headers: ["Host: Host:5000"]))),
        .init("absolute-form authority replaces Host", "GET http://real:5000/x HTTP/1.1\r\nHost: other\r\n\r\n",
              .init(.init("GET", "/x", headers: ["Host: real:5000"]))),
        .init("asterisk-form target", "OPTIONS * HTTP/1.1\r\nHost: r\r\n\r\n",
              .init(.init("OPTIONS", "*", headers: ["Host: r"]))),
        .init("field values trimmed, tabs and obs-text kept, empty value",
              "GET / HTTP/1.1\r\nHost:r\r\nX-A: \t a\tb  \r\nX-Empty:\r\nX-Utf8: caf\u{E9}\r\n\r\n",
              .init(.init("GET", "/", headers: ["Host: r", "X-A: a\tb", "X-Empty: ", "X-Utf8: caf\u{E9}"]))),
        .init("pipelined GET, POST, chunked PATCH, GET",
              simpleGET + postWithBody + chunked + "\r\n" + closingGET,
              .init(.init("GET", "/v2/", headers: ["Host: registry.example", "User-Agent: swcopy/1.0", "Accept: */*"])),
              .init(.init("POST", "/v2/a/blobs/uploads/", headers: ["Host: r", "Content-Length: 5"], framing: .length(5)),
                    body: "abcde"),
              .init(.init("PATCH", "/v2/a/blobs/uploads/u1", headers: ["Host: r", "Transfer-Encoding: chunked"],
                          framing: .chunked), body: "xyz12"),
              .init(.init("GET", "/v2/_catalog?n=10", headers: ["Host: r", "Connection: close"], keepAlive: false))),
    ]
}

@Suite struct RequestParserTests {
    @Test(arguments: ValidRequestCase.corpus)
    func validRequestParsesTheSameWhateverTheSplit(_ c: ValidRequestCase) {
        expectSplitIndependent(c.bytes, expected: ParseTranscript(requests: c.expected))
    }

    /// A valid request cut short is never an error: the parser waits for the rest.
    @Test(arguments: ValidRequestCase.corpus)
    func everyPrefixOfAValidRequestIsIncompleteNotAnError(_ c: ValidRequestCase) {
        for n in 0..<c.bytes.count {
            let r = feedParser(Array(c.bytes[..<n]), cuts: [])
            if r.transcript.error != nil || !r.violations.isEmpty {
                Issue.record("prefix of \(n) bytes: \(r.transcript) \(r.violations)")
                return
            }
        }
    }

    @Test func eventsComeInOrderWithBodyRangesOfTheCallersBuffer() throws {
        let bytes = Array(ValidRequestCase.postWithBody.utf8)
        var parser = RequestParser()
        try bytes.withUnsafeBytes { buf in
            var (i, event) = try parser.parse(buf, from: 0)
            guard case .head(let head) = event else { Issue.record("expected head, got \(String(describing: event))"); return }
            #expect(head.framing == .length(5))
            #expect(i == bytes.count - 5)
            #expect(!parser.isIdle)
            (i, event) = try parser.parse(buf, from: i)
            guard case .body(let range) = event else { Issue.record("expected body"); return }
            #expect(range == bytes.count - 5..<bytes.count)
            #expect(i == bytes.count)
            (i, event) = try parser.parse(buf, from: i)
            guard case .end = event else { Issue.record("expected end"); return }
            #expect(i == bytes.count)
            #expect(parser.isIdle)
            (i, event) = try parser.parse(buf, from: i)
            #expect(event == nil && i == bytes.count)
        }
    }

    @Test func bodyBytesReadByTheCallerAreAccountedFor() throws {
        // Content-Length: the caller reads the body itself; the parser then reports the end and the next request.
        var parser = RequestParser()
        let head = Array("POST /a HTTP/1.1\r\nHost: r\r\nContent-Length: 10\r\n\r\n".utf8)
        try head.withUnsafeBytes { buf in
            let (_, event) = try parser.parse(buf, from: 0)
            guard case .head = event else { Issue.record("expected head"); return }
        }
        #expect(parser.expectedBodyBytes == 10)
        let endedEarly = parser.consumeBody(4)
        #expect(!endedEarly)
        #expect(parser.expectedBodyBytes == 6)
        let ended = parser.consumeBody(6)
        #expect(ended)
        #expect(parser.expectedBodyBytes == nil)
        let next = Array("GET /b HTTP/1.1\r\nHost: r\r\n\r\n".utf8)
        try next.withUnsafeBytes { buf in
            var (i, event) = try parser.parse(buf, from: 0)
            guard case .end = event, i == 0 else { Issue.record("expected end, got \(String(describing: event))"); return }
            (i, event) = try parser.parse(buf, from: i)
            guard case .head(let h) = event else { Issue.record("expected the next head"); return }
            #expect(h.target == "/b")
        }

        // Chunked: only the chunk's data is the caller's; its CRLF and the next size line are parsed as usual.
        var chunked = RequestParser()
        let start = Array("POST /c HTTP/1.1\r\nHost: r\r\nTransfer-Encoding: chunked\r\n\r\nA\r\n".utf8)
        try start.withUnsafeBytes { buf in
            var (i, event) = try chunked.parse(buf, from: 0)
            guard case .head = event else { Issue.record("expected head"); return }
            (i, event) = try chunked.parse(buf, from: i)
            #expect(event == nil && i == start.count)
        }
        #expect(chunked.expectedBodyBytes == 10)
        let chunkEnded = chunked.consumeBody(10)
        #expect(!chunkEnded, "a chunk's end is not the body's")
        #expect(chunked.expectedBodyBytes == nil)
        let rest = Array("\r\n0\r\n\r\n".utf8)
        try rest.withUnsafeBytes { buf in
            let (i, event) = try chunked.parse(buf, from: 0)
            guard case .end = event, i == rest.count else { Issue.record("expected end, got \(String(describing: event))"); return }
        }
        #expect(chunked.isIdle)
    }

    @Test func partialHeadIsNotIdleButIsReadingHead() throws {
        var parser = RequestParser()
        let bytes = Array("GET / HT".utf8)
        try bytes.withUnsafeBytes { buf in
            let (i, event) = try parser.parse(buf, from: 0)
            #expect(i == bytes.count && event == nil)
        }
        #expect(!parser.isIdle)
        #expect(parser.isReadingHead)
    }

    // MARK: Framing semantics

    @Test func contentLengthZeroHasNoBody() {
        let t = expectSplitIndependent(Array("POST /a HTTP/1.1\r\nHost: r\r\nContent-Length: 0\r\n\r\nGET /b HTTP/1.1\r\nHost: r\r\n\r\n".utf8))
        #expect(t == ParseTranscript(requests: [
            .init(.init("POST", "/a", headers: ["Host: r", "Content-Length: 0"], framing: .none)),
            .init(.init("GET", "/b", headers: ["Host: r"])),
        ]))
    }

    @Test func duplicateIdenticalContentLengthIsAccepted() {
        let t = expectSplitIndependent(Array("POST / HTTP/1.1\r\nHost: r\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\nxyz".utf8))
        #expect(t.error == nil)
        #expect(t.requests.first?.head.framing == .length(3))
        #expect(t.requests.first?.body == Array("xyz".utf8))
        #expect(t.requests.first?.ended == true)
    }

    @Test(arguments: ["5, 5", "5,5", " 5 ,\t5 ", "005", "5,005"])
    func contentLengthListOfEqualValuesIsAccepted(_ value: String) {
        let t = expectSplitIndependent(Array("PUT / HTTP/1.1\r\nHost: r\r\nContent-Length: \(value)\r\n\r\nhello".utf8))
        #expect(t.error == nil)
        #expect(t.requests.first?.head.framing == .length(5))
        #expect(t.requests.first?.body == Array("hello".utf8))
    }

    /// The parser does not cap bodies: 413 is the body reader's business. A huge length is framing, not an error.
    @Test func largestContentLengthIsFramingNotAnError() {
        let t = feedParser(Array("PUT / HTTP/1.1\r\nHost: r\r\nContent-Length: 9223372036854775807\r\n\r\nab".utf8), cuts: [])
        #expect(t.transcript.error == nil)
        #expect(t.transcript.requests.first?.head.framing == .length(Int64.max))
        #expect(t.transcript.requests.first?.ended == false)
    }

    @Test func largestChunkSizeIsAccepted() {
        let t = feedParser(Array("PUT / HTTP/1.1\r\nHost: r\r\nTransfer-Encoding: chunked\r\n\r\n7fffffffffffffff\r\nab".utf8), cuts: [])
        #expect(t.transcript.error == nil && t.violations.isEmpty)
        #expect(t.transcript.requests.first?.body == Array("ab".utf8))
    }

    @Test func largestChunkSizeWithLeadingZerosIsAcceptedAndOneMoreOverflows() {
        let zeros = String(repeating: "0", count: 100)
        let largest = feedParser(Array("PUT / HTTP/1.1\r\nHost: r\r\nTransfer-Encoding: chunked\r\n\r\n\(zeros)7fffffffffffffff\r\nab".utf8), cuts: [])
        #expect(largest.transcript.error == nil && largest.violations.isEmpty)
        #expect(largest.transcript.requests.first?.body == Array("ab".utf8))
        let over = feedParser(Array("PUT / HTTP/1.1\r\nHost: r\r\nTransfer-Encoding: chunked\r\n\r\n\(zeros)8000000000000000\r\nab".utf8), cuts: [])
        #expect(over.transcript.error != nil)
    }

    @Test func bodyBytesThatLookLikeARequestAreBody() {
        let smuggled = "GET /admin HTTP/1.1\r\nHost: r\r\n\r\n"
        let t = expectSplitIndependent(Array(("POST / HTTP/1.1\r\nHost: r\r\nContent-Length: \(smuggled.utf8.count)\r\n\r\n"
                                               + smuggled).utf8))
        #expect(t.requests.count == 1)
        #expect(t.requests.first?.body == Array(smuggled.utf8))
    }

    // MARK: Limits: exactly at the limit is accepted

    @Test func requestLineOfExactlyTheLimitIsAccepted() {
        let limits = ParserLimits.small
        let prefix = "GET /", suffix = " HTTP/1.1"
        let target = "/" + String(repeating: "a", count: limits.maxRequestLine - prefix.count - suffix.count)
        let line = "GET " + target + suffix
        #expect(line.utf8.count == limits.maxRequestLine)
        let t = expectSplitIndependent(Array((line + "\r\nHost: r\r\n\r\n").utf8), limits: limits)
        #expect(t.error == nil)
        #expect(t.requests.first?.head.target == target)
    }

    /// Found by fuzzing (Tests/Fuzz/http-request/corpus/crash-split-method-prefix): a method-like first token
    /// longer than the request-line limit, with a byte that is no token character after the limit, got 400 when the
    /// head arrived whole and 414 when it arrived in pieces. Now 414 both ways.
    @Test func overlongMethodPrefixGetsTheSameStatusHoweverSplit() {
        let limits = ParserLimits.small
        let text = "\nTransfer-EX-" + String(repeating: "W", count: limits.maxRequestLine) + "Trailer: v\r\n\r\n"
        let t = expectSplitIndependent(Array(text.utf8), limits: limits)
        #expect(t.error == .uriTooLong)
        // Within the limit, the bad byte is seen first whatever the split.
        let short = expectSplitIndependent(Array("GE(T / HTTP/1.1\r\nHost: r\r\n\r\n".utf8), limits: limits)
        #expect(short.error?.status.code == 400)
    }

    @Test func headerSectionOfExactlyTheLimitIsAccepted() {
        let limits = ParserLimits.small
        let start = "GET / HTTP/1.1\r\nHost: r\r\nX: "
        let end = "\r\n\r\n"
        let text = start + String(repeating: "v", count: limits.maxHeaderBytes - start.utf8.count - end.utf8.count) + end
        #expect(text.utf8.count == limits.maxHeaderBytes)
        let t = expectSplitIndependent(Array(text.utf8), limits: limits)
        #expect(t.error == nil)
        #expect(t.requests.count == 1)
    }

    @Test func exactlyTheMaximumNumberOfFieldsIsAccepted() {
        let limits = ParserLimits.small
        var text = "GET / HTTP/1.1\r\nHost: r\r\n"
        for n in 1..<limits.maxHeaderCount { text += "X-\(n): \(n)\r\n" }
        let t = expectSplitIndependent(Array((text + "\r\n").utf8), limits: limits)
        #expect(t.error == nil)
        #expect(t.requests.first?.head.headers.count == limits.maxHeaderCount)
    }

    @Test func chunkLineAndTrailerOfExactlyTheLimitAreAccepted() {
        let limits = ParserLimits.small
        // The chunk-size line limit counts its CRLF.
        let ext = String(repeating: "e", count: limits.maxChunkLine - "3;\r\n".utf8.count)
        let trailerField = "T: " + String(repeating: "t", count: limits.maxTrailerBytes - "T: \r\n\r\n".utf8.count)
        let text = "PUT / HTTP/1.1\r\nHost: r\r\nTransfer-Encoding: chunked\r\n\r\n3;\(ext)\r\nabc\r\n0\r\n\(trailerField)\r\n\r\n"
        let t = expectSplitIndependent(Array(text.utf8), limits: limits)
        #expect(t.error == nil)
        #expect(t.requests.first?.body == Array("abc".utf8))
        #expect(t.requests.first?.ended == true)
    }

    @Test func defaultLimitsAcceptTheMaximumNumberOfFields() {
        var text = "GET / HTTP/1.1\r\nHost: r\r\n"
        for n in 1..<ParserLimits().maxHeaderCount { text += "X-\(n): \(n)\r\n" }
        let bytes = Array((text + "\r\n").utf8)
        for cuts in [[], Array(stride(from: 1000, to: bytes.count, by: 1000)), [bytes.count - 1], [bytes.count - 2]] {
            let r = feedParser(bytes, cuts: cuts)
            #expect(r.transcript.error == nil && r.violations.isEmpty)
            #expect(r.transcript.requests.first?.head.headers.count == 128)
        }
    }
}
