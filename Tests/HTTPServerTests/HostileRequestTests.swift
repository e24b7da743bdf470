import Testing
@testable import HTTPServer

struct HostileRequestCase: Sendable, CustomTestStringConvertible {
    var name: String
    var bytes: [UInt8]
    var status: Int
    var limits: ParserLimits
    var testDescription: String { "\(name) → \(status)" }

    init(_ name: String, _ status: Int, _ text: String, limits: ParserLimits = ParserLimits()) {
        self.init(name, status, Array(text.utf8), limits: limits)
    }

    init(_ name: String, _ status: Int, _ bytes: [UInt8], limits: ParserLimits = ParserLimits()) {
        self.name = name
        self.bytes = bytes
        self.status = status
        self.limits = limits
    }

    static let host = "Host: r\r\n"
    static func post(_ fields: String, _ body: String = "") -> String { "POST /p HTTP/1.1\r\nHost: r\r\n\(fields)\r\n\(body)" }
    static func chunked(_ body: String) -> String { post("Transfer-Encoding: chunked\r\n", body) }
    static func get(_ fields: String) -> String { "GET / HTTP/1.1\r\n\(fields)\r\n" }
    static func line(_ requestLine: String) -> String { "\(requestLine)\r\nHost: r\r\n\r\n" }

    static let corpus: [HostileRequestCase] = [
        // Framing conflicts (RFC 9112 §6.1, §6.3).
        .init("Content-Length and Transfer-Encoding", 400, post("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n")),
        .init("Transfer-Encoding and Content-Length", 400, post("Transfer-Encoding: chunked\r\nContent-Length: 0\r\n", "0\r\n\r\n")),
        .init("smuggling CL.TE classic", 400,
              post("Content-Length: 4\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\nGET /admin HTTP/1.1\r\nHost: r\r\n\r\n")),
        .init("smuggling TE.CL classic", 400,
              post("Transfer-Encoding: chunked\r\nContent-Length: 4\r\n", "5c\r\nGPOST / HTTP/1.1\r\n\r\n0\r\n\r\n")),
        .init("differing Content-Length headers", 400, post("Content-Length: 5\r\nContent-Length: 6\r\n", "hello!")),
        .init("differing Content-Length list", 400, post("Content-Length: 5, 6\r\n", "hello!")),
        .init("Content-Length negative", 400, post("Content-Length: -5\r\n", "hello")),
        .init("Content-Length with plus sign", 400, post("Content-Length: +5\r\n", "hello")),
        .init("Content-Length with space inside", 400, post("Content-Length: 1 0\r\n", "0123456789")),
        .init("Content-Length in hex", 400, post("Content-Length: 0x5\r\n", "hello")),
        .init("Content-Length overflowing", 400, post("Content-Length: 99999999999999999999\r\n", "hello")),
        .init("Content-Length just over Int64.max", 400, post("Content-Length: 9223372036854775808\r\n", "hello")),
        .init("Content-Length empty", 400, post("Content-Length: \r\n")),
        .init("Content-Length with empty list item", 400, post("Content-Length: 5,\r\n", "hello")),
        .init("Content-Length with exponent", 400, post("Content-Length: 1e1\r\n", "0123456789")),
        .init("Content-Length with non-ASCII digit", 400, post("Content-Length: \u{FF15}\r\n", "hello")),
        .init("Transfer-Encoding gzip, chunked", 501, post("Transfer-Encoding: gzip, chunked\r\n", "0\r\n\r\n")),
        .init("Transfer-Encoding chunked, gzip", 400, post("Transfer-Encoding: chunked, gzip\r\n", "0\r\n\r\n")),
        .init("Transfer-Encoding chunked, chunked", 400, post("Transfer-Encoding: chunked, chunked\r\n", "0\r\n\r\n")),
        .init("two Transfer-Encoding: chunked fields", 400,
              post("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n")),
        .init("Transfer-Encoding gzip alone", 400, post("Transfer-Encoding: gzip\r\n", "hello")),
        .init("Transfer-Encoding identity", 400, post("Transfer-Encoding: identity\r\n", "hello")),
        .init("Transfer-Encoding empty", 400, post("Transfer-Encoding: \r\n", "hello")),
        .init("Transfer-Encoding xchunked", 400, post("Transfer-Encoding: xchunked\r\n", "0\r\n\r\n")),
        .init("Transfer-Encoding in HTTP/1.0", 400, "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),

        // Chunked body syntax (RFC 9112 §7.1).
        .init("empty chunk size", 400, chunked("\r\nhello\r\n0\r\n\r\n")),
        .init("chunk size g", 400, chunked("g\r\nhello\r\n0\r\n\r\n")),
        .init("chunk size -1", 400, chunked("-1\r\nhello\r\n0\r\n\r\n")),
        .init("chunk size with 17 significant hex digits", 400, chunked("10000000000000001\r\nh\r\n0\r\n\r\n")),
        .init("chunk size over Int64.max", 400, chunked("8000000000000000\r\nhello\r\n0\r\n\r\n")),
        .init("chunk size overflowing 64 bits", 400, chunked("10000000000000000\r\nhello\r\n0\r\n\r\n")),
        .init("chunk size 0x10", 400, chunked("0x10\r\n0123456789abcdef\r\n0\r\n\r\n")),
        .init("chunk size with leading space", 400, chunked(" 5\r\nhello\r\n0\r\n\r\n")),
        .init("junk after whitespace in chunk size", 400, chunked("5 x\r\nhello\r\n0\r\n\r\n")),
        .init("second chunk size after whitespace", 400, chunked("5 5\r\nhello\r\n0\r\n\r\n")),
        .init("hex digit after whitespace in chunk size", 400, chunked("1 0\r\n0123456789abcdef\r\n0\r\n\r\n")),
        .init("chunk extension without size", 400, chunked(";x=1\r\nhello\r\n0\r\n\r\n")),
        .init("control character in chunk extension", 400, chunked("5;x=\u{1}\r\nhello\r\n0\r\n\r\n")),
        .init("chunk line over the limit", 400, chunked("5;" + String(repeating: "e", count: 40) + "\r\nhello\r\n0\r\n\r\n"),
              limits: .small),
        .init("missing CRLF after chunk data", 400, chunked("5\r\nhelloX\r\n0\r\n\r\n")),
        .init("chunk data longer than its size", 400, chunked("5\r\nhello world\r\n0\r\n\r\n")),
        .init("bare LF after chunk data", 400, chunked("5\r\nhello\n0\r\n\r\n")),
        .init("bare CR after chunk data", 400, chunked("5\r\nhello\r0\r\n\r\n")),
        .init("bare LF in chunk-size line", 400, chunked("5\nhello\r\n0\r\n\r\n")),
        .init("bare LF in last chunk line", 400, chunked("0\n\r\n")),
        .init("bare CR in chunk-size line", 400, chunked("5\rhello\r\n0\r\n\r\n")),
        .init("bare LF in trailer section", 400, chunked("0\r\nX: y\n\r\n")),
        .init("bare LF ending trailer section", 400, chunked("0\r\n\n")),
        .init("bare CR in trailer section", 400, chunked("0\r\nX: y\rZ: w\r\n\r\n")),
        .init("trailer section too large", 431, chunked("3\r\nabc\r\n0\r\nX: " + String(repeating: "t", count: 80) + "\r\n\r\n"),
              limits: .small),
        .init("endless trailer lines", 431, chunked("0\r\n" + String(repeating: "X: y\r\n", count: 20)), limits: .small),

        // Line endings and field syntax (RFC 9112 §2.2, §5).
        .init("bare LF ending the request line", 400, "GET / HTTP/1.1\nHost: r\r\n\r\n"),
        .init("bare LF ending a field line", 400, "GET / HTTP/1.1\r\nHost: r\nX: y\r\n\r\n"),
        .init("bare LF line ends throughout", 400, "GET / HTTP/1.1\nHost: r\n\n"),
        .init("bare LF ending the header section", 400, "GET / HTTP/1.1\r\nHost: r\r\n\n"),
        .init("bare LF before a CRLF empty line", 400, "GET / HTTP/1.1\r\nHost: r\n\r\n"),
        .init("bare LF after the request line only", 400, "GET / HTTP/1.1\n\r\n"),
        .init("bare CR in the request line", 400, "GET / HTTP/1.1\rHost: r\r\n\r\n"),
        .init("bare CR in a field line", 400, "GET / HTTP/1.1\r\nHost: r\rX: y\r\n\r\n"),
        .init("obs-fold with space", 400, get("Host: r\r\nX: a\r\n  folded\r\n")),
        .init("obs-fold with tab", 400, get("Host: r\r\nX: a\r\n\tfolded\r\n")),
        .init("whitespace before the first field", 400, get(" Host: r\r\n")),
        .init("space before colon", 400, get("Host : r\r\n")),
        .init("tab before colon", 400, get("Host: r\r\nContent-Length\t: 5\r\n")),
        .init("empty field name", 400, get("Host: r\r\n: value\r\n")),
        .init("field line without colon", 400, get("Host: r\r\nNoColon\r\n")),
        .init("invalid character in field name", 400, get("Host: r\r\nX(y): z\r\n")),
        .init("non-ASCII field name", 400, get("Host: r\r\nX-\u{E9}: z\r\n")),
        .init("control character in value", 400, get("Host: r\r\nX: a\u{1}b\r\n")),
        .init("DEL in value", 400, get("Host: r\r\nX: a\u{7F}b\r\n")),
        .init("NUL in value", 400, get("Host: r\r\nX: a\u{0}b\r\n")),
        .init("NUL in field name", 400, get("Host: r\r\nX\u{0}Y: z\r\n")),

        // Limits (RFC 9112 §3, RFC 6585 §5).
        .init("request line over the limit", 414, line("GET /" + String(repeating: "a", count: 80) + " HTTP/1.1"),
              limits: .small),
        .init("request line one byte over the limit", 414, line("GET /" + String(repeating: "a", count: 51) + " HTTP/1.1"),
              limits: .small),
        .init("request line without end", 414, "GET /" + String(repeating: "a", count: 100), limits: .small),
        .init("long request line in an oversized header section", 414,
              "GET /" + String(repeating: "a", count: 80) + " HTTP/1.1\r\nHost: r\r\nX: " + String(repeating: "v", count: 300)
                + "\r\n\r\n", limits: .small),
        .init("long request line ending in a bare LF", 414,
              "GET /" + String(repeating: "a", count: 80) + " HTTP/1.1\nHost: r\r\n\r\n", limits: .small),
        .init("header section over the limit", 431, get("Host: r\r\nX: " + String(repeating: "v", count: 300) + "\r\n"),
              limits: .small),
        .init("header section one byte over the limit", 431,
              get("Host: r\r\nX: " + String(repeating: "v", count: 256 + 1 - 32) + "\r\n"), limits: .small),
        .init("header section without end", 431, "GET / HTTP/1.1\r\n" + String(repeating: "X: y\r\n", count: 60),
              limits: .small),
        .init("too many fields", 431, get("Host: r\r\n" + String(repeating: "X: y\r\n", count: 6)), limits: .small),
        .init("request line over the default limit", 414, line("GET /" + String(repeating: "a", count: 8 * 1024) + " HTTP/1.1")),
        .init("too many fields at the default limit", 431, get("Host: r\r\n" + String(repeating: "X: y\r\n", count: 128))),

        // Host (RFC 9112 §3.2).
        .init("missing Host in HTTP/1.1", 400, "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n"),
        .init("two Host fields", 400, get("Host: r\r\nHost: s\r\n")),
        .init("two identical Host fields", 400, get("Host: r\r\nhost: r\r\n")),
        .init("two Host fields in HTTP/1.0", 400, "GET / HTTP/1.0\r\nHost: r\r\nHost: s\r\n\r\n"),

        // Version (RFC 9112 §2.3).
        .init("HTTP/2.0", 505, line("GET / HTTP/2.0")),
        .init("HTTP/1.2", 505, line("GET / HTTP/1.2")),
        .init("HTTP/0.9", 505, line("GET / HTTP/0.9")),
        .init("HTTP/1.1x", 400, line("GET / HTTP/1.1x")),
        .init("HTTP/1.10", 400, line("GET / HTTP/1.10")),
        .init("lower-case http/1.1", 400, line("GET / http/1.1")),
        .init("HTTP/1", 400, line("GET / HTTP/1")),
        .init("garbage version", 400, line("GET / FOO/1.1")),
        .init("missing version", 400, line("GET /")),
        .init("trailing space after version", 400, line("GET / HTTP/1.1 ")),

        // Expect (RFC 9110 §10.1.1).
        .init("Expect: foo", 417, get("Host: r\r\nExpect: foo\r\n")),
        .init("Expect with 100-continue and more", 417, get("Host: r\r\nExpect: 100-continue, foo\r\n")),

        // Request line (RFC 9112 §3).
        .init("method with invalid character", 400, line("GE(T / HTTP/1.1")),
        .init("method with NUL", 400, line("GE\u{0}T / HTTP/1.1")),
        .init("empty method", 400, line(" / HTTP/1.1")),
        .init("tab as separator", 400, line("GET\t/ HTTP/1.1")),
        .init("two spaces after method", 400, line("GET  / HTTP/1.1")),
        .init("target with space", 400, line("GET /a b HTTP/1.1")),
        .init("target not in origin form", 400, line("GET foo HTTP/1.1")),
        .init("authority-form target", 400, line("CONNECT r:443 HTTP/1.1")),
        .init("malformed absolute-form", 400, line("GET http:/x HTTP/1.1")),
        .init("absolute-form without authority", 400, line("GET http:///x HTTP/1.1")),
        .init("second Expect field unsupported", 417,
              "GET / HTTP/1.1\r\nHost: r\r\nExpect: 100-continue\r\nExpect: foo\r\n\r\n"),
        .init("NUL in target", 400, line("GET /a\u{0}b HTTP/1.1")),
        .init("non-ASCII target", 400, line("GET /caf\u{E9} HTTP/1.1")),
        .init("request line without spaces", 400, line("GET")),
        .init("NUL instead of request", 400, [0, 0, 0, 0x0D, 0x0A, 0x0D, 0x0A]),
        .init("binary garbage", 400, [0x16, 0x03, 0x01, 0x00, 0xA5, 0x01, 0x00, 0x00, 0x0D, 0x0A, 0x0D, 0x0A]),

        // Errors in a later pipelined request.
        .init("valid request then smuggled one", 400,
              "GET / HTTP/1.1\r\nHost: r\r\n\r\n" + post("Content-Length: 1\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n")),
        .init("valid chunked request then bad version", 505, chunked("1\r\na\r\n0\r\n\r\n") + line("GET / HTTP/3.0")),
    ]
}

@Suite struct HostileRequestTests {
    @Test(arguments: HostileRequestCase.corpus)
    func hostileRequestFailsWithTheSameErrorWhateverTheSplit(_ c: HostileRequestCase) {
        let t = expectSplitIndependent(c.bytes, limits: c.limits)
        #expect(t.error?.status.code == c.status, "\(t)")
    }

    /// Limits must hold while bytes trickle in: the parser may not buffer an unbounded header section.
    @Test func endlessHeaderSectionFailsOnceOverTheDefaultLimit() throws {
        let limits = ParserLimits()
        var parser = RequestParser(limits: limits)
        let start = Array("GET / HTTP/1.1\r\n".utf8)
        let line = Array("X-Filler: 0123456789abcdef0123456789abcdef\r\n".utf8)
        var fed = 0
        var failure: HTTPParseError?
        var piece = start
        while fed < 2 * limits.maxHeaderBytes && failure == nil {
            switch parseOnce(&parser, piece) {
            case .success(let (i, event)): #expect(i == piece.count && event == nil)
            case .failure(let error): failure = error
            }
            fed += piece.count
            piece = line
        }
        #expect(failure?.status.code == 431)
        #expect(fed <= limits.maxHeaderBytes + line.count)
    }

    @Test func endlessRequestLineFailsOnceOverTheDefaultLimit() throws {
        let limits = ParserLimits()
        var parser = RequestParser(limits: limits)
        let piece = Array(("GET /" + String(repeating: "a", count: 1019)).utf8)
        var fed = 0
        var failure: HTTPParseError?
        while fed < 4 * limits.maxRequestLine && failure == nil {
            if case .failure(let error) = parseOnce(&parser, piece) { failure = error }
            fed += piece.count
        }
        #expect(failure == .uriTooLong)
        #expect(fed <= limits.maxRequestLine + piece.count)
    }

    @Test func headerSectionOverTheDefaultLimit() {
        var text = "GET / HTTP/1.1\r\nHost: r\r\n"
        for n in 0..<10 { text += "X-\(n): " + String(repeating: "v", count: 7000) + "\r\n" }
        let bytes = Array((text + "\r\n").utf8)
        let whole = feedParser(bytes, cuts: [])
        #expect(whole.transcript.error?.status.code == 431)
        let limit = ParserLimits().maxHeaderBytes
        let splits: [[Int]] = [[1], [100], [30_000], [limit - 1], [limit], [limit + 1], [bytes.count - 1],
                               Array(stride(from: 4096, to: bytes.count, by: 4096)),
                               Array(stride(from: 1000, to: bytes.count, by: 1000))]
        for cuts in splits {
            let r = feedParser(bytes, cuts: cuts)
            #expect(r.transcript == whole.transcript, "cuts \(cuts.prefix(3))")
            #expect(r.violations.isEmpty)
        }
    }

    /// The parser must never crash, hang or break its contract on garbage: seeded mutations of valid requests
    /// (bit flips, truncations, insertions of delimiters, deletions, duplications), fed whole and in random pieces.
    /// Every way of feeding the same bytes must give the same transcript.
    @Test func mutatedRequestsNeverCrashOrHang() {
        var rng = SplitMix64(seed: 0x5EED_1234)
        let bases = ValidRequestCase.corpus.map(\.bytes)
        let inserts: [UInt8] = [0x0D, 0x0A, 0x00, 0x20, 0x3A, 0x2C, 0x3B, 0x09, 0x30, 0x66, 0x7F, 0xFF]
        var failures = 0
        var errors = 0, successes = 0
        for round in 0..<2000 {
            var bytes = bases[Int(rng.next() % UInt64(bases.count))]
            for _ in 0..<(1 + Int(rng.next() % 4)) {
                let at = bytes.isEmpty ? 0 : Int(rng.next() % UInt64(bytes.count))
                switch rng.next() % 6 {
                case 0: if !bytes.isEmpty { bytes[at] ^= UInt8(1 << (rng.next() % 8)) }
                case 1: bytes = Array(bytes[..<at])
                case 2: bytes.insert(inserts[Int(rng.next() % UInt64(inserts.count))], at: at)
                case 3: if !bytes.isEmpty { bytes.remove(at: at) }
                case 4: if !bytes.isEmpty { bytes[at] = UInt8(truncatingIfNeeded: rng.next()) }
                default:
                    let end = min(bytes.count, at + Int(rng.next() % 40))
                    bytes.insert(contentsOf: bytes[at..<end], at: at)
                }
            }
            let limits = round % 3 == 0 ? ParserLimits.small : ParserLimits()
            let whole = feedParser(bytes, cuts: [], limits: limits)
            var cuts: [Int] = []
            if !bytes.isEmpty { for _ in 0..<(1 + Int(rng.next() % 4)) { cuts.append(Int(rng.next() % UInt64(bytes.count))) } }
            var feeds = [whole, feedParser(bytes, cuts: cuts, limits: limits)]
            if round % 10 == 0 { feeds.append(feedParser(bytes, cuts: Array(0..<bytes.count), limits: limits)) }
            if whole.transcript.error == nil { successes += 1 } else { errors += 1 }
            for r in feeds where !r.violations.isEmpty || r.transcript != whole.transcript {
                failures += 1
                if failures <= 5 {
                    Issue.record("""
                        round \(round), input "\(escapedBytes(bytes))", cuts \(cuts):
                        \(r.transcript) \(r.violations)
                        whole: \(whole.transcript)
                        """)
                }
            }
        }
        #expect(failures == 0)
        // The corpus must actually exercise both outcomes.
        #expect(errors > 200 && successes > 200, "\(errors) errors, \(successes) successes")
    }

    @Test func randomBytesNeverCrashOrHang() {
        var rng = SplitMix64(seed: 42)
        let alphabet = Array("GET / HTTP/1.1\r\n:;,0123456789abcdefABCDEF \t\u{0}Host: Content-Length: Transfer-Encoding: chunked".utf8)
        var failures = 0
        for round in 0..<300 {
            let count = Int(rng.next() % 300)
            let bytes: [UInt8] = (0..<count).map { _ in
                round % 2 == 0 ? UInt8(truncatingIfNeeded: rng.next()) : alphabet[Int(rng.next() % UInt64(alphabet.count))]
            }
            let whole = feedParser(bytes, cuts: [])
            let split = feedParser(bytes, cuts: [Int(rng.next() % UInt64(max(1, count)))])
            if !whole.violations.isEmpty || !split.violations.isEmpty || whole.transcript != split.transcript {
                failures += 1
                if failures <= 3 { Issue.record("\"\(escapedBytes(bytes))\": \(whole.transcript) vs \(split.transcript)") }
            }
        }
        #expect(failures == 0)
    }
}

/// One `parse` call on a whole buffer.
private func parseOnce(_ parser: inout RequestParser, _ bytes: [UInt8]) -> Result<(Int, RequestParser.Event?), HTTPParseError> {
    bytes.withUnsafeBytes { buf in
        do throws(HTTPParseError) {
            return .success(try parser.parse(buf, from: 0))
        } catch {
            return .failure(error)
        }
    }
}

/// A small seeded generator, so every run tests the same inputs.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
