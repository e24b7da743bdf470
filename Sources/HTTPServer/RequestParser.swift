import Glibc

/// An incremental HTTP/1.1 request parser (RFC 9112), fed bytes in whatever pieces the socket delivers.
///
/// The parser never buffers body bytes: it reports them as ranges of the caller's buffer. Only a header section
/// split across reads is copied, into a buffer bounded by `ParserLimits.maxHeaderBytes`. After `.end`, the parser
/// expects the next request of the connection (pipelining); the caller decides when to feed it.
///
/// Framing follows RFC 9112 §6 strictly, refusing the shapes used for request smuggling: `Transfer-Encoding`
/// together with `Content-Length`, differing `Content-Length` values, transfer codings other than a single
/// final `chunked`, bare LF line ends, obsolete line folding, whitespace before the colon, and chunk sizes that
/// are empty or overflow.
public struct RequestParser {
    public enum Event {
        case head(RequestHead)
        /// Body bytes: this range of the buffer passed to `parse`.
        case body(Range<Int>)
        /// The current request is complete.
        case end
    }

    private enum State {
        case head
        case fixedBody(remaining: Int64)
        /// `sawSpace`: whitespace after the size, which only BWS before a `;` (or the line end) may follow.
        case chunkSize(value: UInt64, digits: Int, lineLength: Int, sawSpace: Bool, inExtension: Bool, sawCR: Bool)
        case chunkData(remaining: UInt64)
        case chunkDataCR
        case chunkDataLF
        case trailers(total: Int, lineLength: Int, sawCR: Bool)
        case complete
    }

    public let limits: ParserLimits
    private var state: State = .head
    private var headBuffer: [UInt8] = []

    public init(limits: ParserLimits = ParserLimits()) {
        self.limits = limits
    }

    /// True between requests, with no byte of the next one seen yet.
    public var isIdle: Bool {
        if case .head = state { return headBuffer.isEmpty }
        return false
    }

    /// True while a header section is arriving.
    public var isReadingHead: Bool {
        if case .head = state { return true }
        return false
    }

    /// Body bytes the parser expects next with nothing to parse in them (the rest of a `Content-Length` body, or
    /// of the current chunk), or nil when the next bytes are framing or a header section.
    public var expectedBodyBytes: Int64? {
        switch state {
        case .fixedBody(let remaining) where remaining > 0: remaining
        case .chunkData(let remaining) where remaining > 0: Int64(clamping: remaining)
        default: nil
        }
    }

    /// Accounts for `count` body bytes the caller read itself, at most `expectedBodyBytes`.
    /// - Returns: true when that completed a `Content-Length` body: the next `parse` reports `.end`.
    public mutating func consumeBody(_ count: Int) -> Bool {
        switch state {
        case .fixedBody(let remaining):
            precondition(Int64(count) <= remaining, "consumeBody past the body")
            state = remaining == Int64(count) ? .complete : .fixedBody(remaining: remaining - Int64(count))
            return remaining == Int64(count)
        case .chunkData(let remaining):
            precondition(UInt64(count) <= remaining, "consumeBody past the chunk")
            state = remaining == UInt64(count) ? .chunkDataCR : .chunkData(remaining: remaining - UInt64(count))
            return false
        default:
            preconditionFailure("consumeBody outside body data")
        }
    }

    /// Parses from `offset` on and returns at the first event.
    /// - Returns: the offset after the bytes consumed and the event, or nil when every byte was consumed
    ///   without completing an event (more input is needed).
    /// - Throws: `HTTPParseError`; the connection must then be answered and closed.
    public mutating func parse(_ buffer: UnsafeRawBufferPointer, from offset: Int) throws(HTTPParseError) -> (Int, Event?) {
        var i = offset
        let end = buffer.count
        while true {
            switch state {
            case .complete:
                state = .head
                return (i, .end)

            case .head:
                if i == end { return (i, nil) }
                return try parseHead(buffer, from: i)

            case .fixedBody(let remaining):
                if remaining == 0 {
                    state = .head
                    return (i, .end)
                }
                if i == end { return (i, nil) }
                let n = Int(min(Int64(end - i), remaining))
                state = remaining - Int64(n) == 0 ? .complete : .fixedBody(remaining: remaining - Int64(n))
                return (i + n, .body(i..<i + n))

            case .chunkData(let remaining):
                if i == end { return (i, nil) }
                let n = Int(min(UInt64(end - i), remaining))
                state = remaining - UInt64(n) == 0 ? .chunkDataCR : .chunkData(remaining: remaining - UInt64(n))
                return (i + n, .body(i..<i + n))

            case .chunkDataCR:
                if i == end { return (i, nil) }
                guard buffer[i] == 0x0D else { throw .badRequest("missing CRLF after chunk data") }
                i += 1
                state = .chunkDataLF

            case .chunkDataLF:
                if i == end { return (i, nil) }
                guard buffer[i] == 0x0A else { throw .badRequest("missing CRLF after chunk data") }
                i += 1
                state = .chunkSize(value: 0, digits: 0, lineLength: 0, sawSpace: false, inExtension: false, sawCR: false)

            case .chunkSize(var value, var digits, var lineLength, var sawSpace, var inExtension, var sawCR):
                while i < end {
                    let c = buffer[i]
                    i += 1
                    lineLength += 1
                    if lineLength > limits.maxChunkLine { throw .badRequest("chunk-size line too long") }
                    if sawCR {
                        guard c == 0x0A else { throw .badRequest("CR without LF in chunk-size line") }
                        guard digits > 0 else { throw .badRequest("empty chunk size") }
                        if value == 0 {
                            state = .trailers(total: 0, lineLength: 0, sawCR: false)
                        } else {
                            state = .chunkData(remaining: value)
                        }
                        break
                    }
                    if c == 0x0D {
                        sawCR = true
                    } else if c == 0x0A {
                        throw .badRequest("bare LF in chunk-size line")
                    } else if inExtension {
                        // chunk-ext: tokens, quoted strings and whitespace; no control characters.
                        if c < 0x20 && c != 0x09 || c == 0x7F { throw .badRequest("control character in chunk extension") }
                    } else if !sawSpace, let d = Self.hexValue(c) {
                        // chunk-size is 1*HEXDIG (RFC 9112 §7.1): leading zeros are valid, so the bound is on the
                        // value, not on the digit count (the line length bounds that). Above Int64.max cannot be a
                        // real length.
                        guard value <= (UInt64(Int64.max) >> 4) else { throw .badRequest("chunk size overflows") }
                        value = value << 4 | UInt64(d)
                        digits += 1
                    } else if c == 0x3B {  // ';'
                        guard digits > 0 else { throw .badRequest("empty chunk size") }
                        inExtension = true
                    } else if c == 0x20 || c == 0x09 {  // BWS before ';'
                        guard digits > 0 else { throw .badRequest("empty chunk size") }
                        sawSpace = true
                    } else {
                        throw .badRequest("invalid character in chunk size")
                    }
                }
                if case .chunkSize = state {
                    state = .chunkSize(value: value, digits: digits, lineLength: lineLength, sawSpace: sawSpace,
                                       inExtension: inExtension, sawCR: sawCR)
                    return (i, nil)
                }

            case .trailers(var total, var lineLength, var sawCR):
                // Trailer fields are read and dropped: nothing here needs them, and merging them into the header
                // section after a handler has started would be too late to matter.
                while i < end {
                    let c = buffer[i]
                    i += 1
                    total += 1
                    if total > limits.maxTrailerBytes { throw .headersTooLarge("trailer section") }
                    if sawCR {
                        guard c == 0x0A else { throw .badRequest("CR without LF in trailer section") }
                        if lineLength == 0 {
                            state = .head
                            return (i, .end)
                        }
                        lineLength = 0
                        sawCR = false
                    } else if c == 0x0D {
                        sawCR = true
                    } else if c == 0x0A {
                        throw .badRequest("bare LF in trailer section")
                    } else {
                        lineLength += 1
                    }
                }
                state = .trailers(total: total, lineLength: lineLength, sawCR: sawCR)
                return (i, nil)
            }
        }
    }

    // MARK: - Header section

    private mutating func parseHead(_ buffer: UnsafeRawBufferPointer, from offset: Int) throws(HTTPParseError) -> (Int, Event?) {
        var start = offset
        // RFC 9112 §2.2: a server SHOULD ignore at least one empty line received before the request-line.
        if headBuffer.isEmpty {
            while start < buffer.count && (buffer[start] == 0x0D || buffer[start] == 0x0A) { start += 1 }
            if start == buffer.count { return (start, nil) }
        }
        if headBuffer.isEmpty {
            if let headEnd = Self.findHeadEnd(buffer, from: start, searchFrom: start) {
                let head = try parseHeadBytes(UnsafeRawBufferPointer(rebasing: buffer[start..<headEnd]))
                return (headEnd, head)
            }
            try checkPartialHead(UnsafeRawBufferPointer(rebasing: buffer[start...]))
            headBuffer.append(contentsOf: buffer[start...])
            return (buffer.count, nil)
        }
        let previous = headBuffer.count
        headBuffer.append(contentsOf: buffer[start...])
        let found: Int? = headBuffer.withUnsafeBytes { all in
            Self.findHeadEnd(all, from: 0, searchFrom: max(0, previous - 3))
        }
        guard let headEnd = found else {
            let failure = headBuffer.withUnsafeBytes { all -> HTTPParseError? in
                do throws(HTTPParseError) { try checkPartialHead(all); return nil } catch { return error }
            }
            if let failure { throw failure }
            return (buffer.count, nil)
        }
        let consumed = headEnd - previous
        let bytes = headBuffer
        headBuffer = []
        let parsed = bytes.withUnsafeBytes { all -> Result<Event, HTTPParseError> in
            do throws(HTTPParseError) {
                return .success(try parseHeadBytes(UnsafeRawBufferPointer(rebasing: all[0..<headEnd])))
            } catch {
                return .failure(error)
            }
        }
        let head = try parsed.get()
        return (start + consumed, head)
    }

    /// Limits for a header section that has not ended yet: request line (414) and total size (431), checked in
    /// the order `parseHeadBytes` checks them, so that the error does not depend on how the bytes were split.
    private func checkPartialHead(_ bytes: UnsafeRawBufferPointer) throws(HTTPParseError) {
        // Fail fast on what cannot be HTTP (a TLS ClientHello starts with 0x16): a client probing with TLS
        // gets a 400 and a close at once, instead of waiting for the header timeout.
        try Self.checkMethodPrefix(bytes, limit: limits.maxRequestLine)
        if let lineEnd = Self.index(of: 0x0A, in: bytes, from: 0) {
            if Self.requestLineLength(bytes, lineFeed: lineEnd) > limits.maxRequestLine { throw .uriTooLong }
        } else {
            // The request line goes on: it is at least this long, less a final CR the coming LF may end.
            if bytes.count - (bytes.last == 0x0D ? 1 : 0) > limits.maxRequestLine { throw .uriTooLong }
        }
        if bytes.count > limits.maxHeaderBytes { throw .headersTooLarge("more than \(limits.maxHeaderBytes) bytes") }
    }

    /// Throws when a byte before the first space, CR or LF is not a token character (so not a method).
    ///
    /// Only the first `limit` (`maxRequestLine`) bytes are looked at: past them the request line is too long
    /// whatever they hold, and a head that arrives in pieces must get the answer it gets whole. (Found by fuzzing:
    /// a method-like prefix longer than the limit with a bad byte after it got 400 whole but 414 in small pieces.)
    private static func checkMethodPrefix(_ bytes: UnsafeRawBufferPointer, limit: Int) throws(HTTPParseError) {
        for c in bytes.prefix(limit) {
            if c == 0x20 || c == 0x0D || c == 0x0A { return }
            guard isTokenChar(c) else { throw .badRequest("invalid method") }
        }
    }

    /// The length of the request line ending at the LF at `lineFeed`, without its line end.
    private static func requestLineLength(_ bytes: UnsafeRawBufferPointer, lineFeed: Int) -> Int {
        lineFeed > 0 && bytes[lineFeed - 1] == 0x0D ? lineFeed - 1 : lineFeed
    }

    /// The index just after the empty line that ends a header section, searching from `searchFrom`.
    ///
    /// The end is the CRLFCRLF of a valid section, or the first empty line after a bare LF (`LF LF`, `LF CR LF`):
    /// such a section is invalid, and ending it there lets `LineReader` refuse it at once rather than waiting for
    /// a CRLFCRLF that a client using LF line ends never sends.
    private static func findHeadEnd(_ bytes: UnsafeRawBufferPointer, from start: Int, searchFrom: Int) -> Int? {
        var i = max(searchFrom, start)
        while let lf = index(of: 0x0A, in: bytes, from: i) {
            if lf >= start + 1 && bytes[lf - 1] == 0x0A { return lf + 1 }
            if lf >= start + 2 && bytes[lf - 1] == 0x0D && bytes[lf - 2] == 0x0A { return lf + 1 }
            i = lf + 1
        }
        return nil
    }

    private static func index(of byte: UInt8, in bytes: UnsafeRawBufferPointer, from start: Int) -> Int? {
        guard start < bytes.count, let base = bytes.baseAddress else { return nil }
        guard let p = memchr(base + start, Int32(byte), bytes.count - start) else { return nil }
        return base.distance(to: UnsafeRawPointer(p))
    }

    /// Parses a complete header section, ending in an empty line (see `findHeadEnd`).
    private mutating func parseHeadBytes(_ bytes: UnsafeRawBufferPointer) throws(HTTPParseError) -> Event {
        // The method prefix, then the limits: the order `checkPartialHead` applies them in.
        try Self.checkMethodPrefix(bytes, limit: limits.maxRequestLine)
        if let lineEnd = Self.index(of: 0x0A, in: bytes, from: 0),
           Self.requestLineLength(bytes, lineFeed: lineEnd) > limits.maxRequestLine {
            throw .uriTooLong
        }
        if bytes.count > limits.maxHeaderBytes { throw .headersTooLarge("more than \(limits.maxHeaderBytes) bytes") }
        var lines = LineReader(bytes: bytes)
        guard let requestLine = try lines.next() else { throw .badRequest("empty request") }
        var (head, authority) = try Self.parseRequestLine(UnsafeRawBufferPointer(rebasing: bytes[requestLine]))

        var headers = HTTPHeaders()
        while let line = try lines.next() {
            if line.isEmpty { break }
            if headers.count == limits.maxHeaderCount { throw .headersTooLarge("more than \(limits.maxHeaderCount) fields") }
            let (name, value) = try Self.parseField(UnsafeRawBufferPointer(rebasing: bytes[line]))
            headers.add(name, value)
        }
        if let authority {
            // RFC 9112 §3.2.2: with an absolute-form target, its authority replaces any Host field.
            guard !authority.isEmpty else { throw .badRequest("absolute-form target without authority") }
            headers.set("Host", authority)
        }
        head.headers = headers
        try Self.applySemantics(&head)
        switch head.framing {
        case .none: state = .complete
        case .length(let n): state = .fixedBody(remaining: n)
        case .chunked: state = .chunkSize(value: 0, digits: 0, lineLength: 0, sawSpace: false, inExtension: false, sawCR: false)
        }
        return .head(head)
    }

    /// - Returns: the head so far, and the authority of an absolute-form target.
    private static func parseRequestLine(_ line: UnsafeRawBufferPointer) throws(HTTPParseError) -> (RequestHead, String?) {
        // method SP request-target SP HTTP-version (RFC 9112 §3): exactly one space between parts.
        guard let sp1 = line.firstIndex(of: 0x20), sp1 > 0 else { throw .badRequest("malformed request line") }
        let rest = line[(sp1 + 1)...]
        guard let sp2 = rest.firstIndex(of: 0x20), sp2 > sp1 + 1 else { throw .badRequest("malformed request line") }
        let method = line[0..<sp1]
        let target = line[(sp1 + 1)..<sp2]
        let version = line[(sp2 + 1)...]
        guard method.allSatisfy(isTokenChar) else { throw .badRequest("invalid method") }
        guard target.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { throw .badRequest("invalid request target") }
        var path = String(decoding: target, as: UTF8.self)
        var authority: String?
        if target.first != 0x2F && !(target.count == 1 && target.first == 0x2A) {
            // RFC 9112 §3.2.2: a server MUST accept the absolute-form; only its path and query matter here.
            let lower = path.lowercased()
            guard lower.hasPrefix("http://") || lower.hasPrefix("https://") else {
                throw .badRequest("request target must be in origin or absolute form")
            }
            let rest = path.drop { $0 != "/" }.dropFirst(2)
            let slash = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
            authority = String(rest[..<slash])
            if slash == rest.endIndex {
                path = "/"
            } else {
                path = rest[slash] == "/" ? String(rest[slash...]) : "/" + rest[slash...]
            }
        }
        let minor: Int
        if version.elementsEqual("HTTP/1.1".utf8) {
            minor = 1
        } else if version.elementsEqual("HTTP/1.0".utf8) {
            minor = 0
        } else if version.count == 8, version.starts(with: "HTTP/".utf8),
                  isDigit(version[version.startIndex + 5]), version[version.startIndex + 6] == 0x2E,
                  isDigit(version[version.startIndex + 7]) {
            throw .versionNotSupported
        } else {
            throw .badRequest("invalid HTTP version")
        }
        return (RequestHead(method: String(decoding: method, as: UTF8.self), target: path, versionMinor: minor), authority)
    }

    private static func parseField(_ line: UnsafeRawBufferPointer) throws(HTTPParseError) -> (String, String) {
        guard let first = line.first else { throw .badRequest("empty header line") }
        if first == 0x20 || first == 0x09 { throw .badRequest("obsolete line folding") }
        guard let colon = line.firstIndex(of: 0x3A), colon > 0 else { throw .badRequest("header line without name") }
        let name = line[0..<colon]
        // RFC 9112 §5.1: no whitespace is allowed between the field name and the colon.
        guard name.allSatisfy(isTokenChar) else { throw .badRequest("invalid header name") }
        var lo = colon + 1, hi = line.count
        while lo < hi && (line[lo] == 0x20 || line[lo] == 0x09) { lo += 1 }
        while hi > lo && (line[hi - 1] == 0x20 || line[hi - 1] == 0x09) { hi -= 1 }
        let value = line[lo..<hi]
        for c in value where (c < 0x20 && c != 0x09) || c == 0x7F {
            throw .badRequest("control character in header value")
        }
        return (String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self))
    }

    /// Message framing, persistence and expectations from the header fields (RFC 9112 §6, §9.3; RFC 9110 §10.1.1).
    private static func applySemantics(_ head: inout RequestHead) throws(HTTPParseError) {
        // One pass over the fields picks out the few that frame the message (arrays stay unallocated when empty).
        var hostCount = 0
        var transferEncodings: [String] = [], contentLengths: [String] = [], connections: [String] = [], expects: [String] = []
        for (name, value) in head.headers.fields {
            switch name.utf8.count {
            case 4 where HTTPHeaders.equalNames(name, "Host"): hostCount += 1
            case 6 where HTTPHeaders.equalNames(name, "Expect"): expects.append(value)
            case 10 where HTTPHeaders.equalNames(name, "Connection"): connections.append(value)
            case 14 where HTTPHeaders.equalNames(name, "Content-Length"): contentLengths.append(value)
            case 17 where HTTPHeaders.equalNames(name, "Transfer-Encoding"): transferEncodings.append(value)
            default: break
            }
        }
        if head.versionMinor == 1 && hostCount != 1 { throw .badRequest("HTTP/1.1 request needs exactly one Host") }
        if hostCount > 1 { throw .badRequest("more than one Host") }

        if !transferEncodings.isEmpty {
            if head.versionMinor == 0 { throw .badRequest("Transfer-Encoding in an HTTP/1.0 request") }
            if !contentLengths.isEmpty { throw .badRequest("both Transfer-Encoding and Content-Length") }
            let codings = transferEncodings.flatMap { $0.split(separator: ",") }
                .map { $0.trimmingSpaces.lowercased() }
            guard codings.last == "chunked" else { throw .badRequest("chunked is not the final transfer coding") }
            if codings.dropLast().contains("chunked") { throw .badRequest("chunked applied twice") }
            if codings.count > 1 { throw .notImplemented("transfer coding \(codings[0])") }
            head.framing = .chunked
        } else if !contentLengths.isEmpty {
            var length: Int64?
            for item in contentLengths.flatMap({ $0.split(separator: ",", omittingEmptySubsequences: false) }) {
                let text = item.trimmingSpaces
                guard !text.isEmpty, text.utf8.count <= 19, text.utf8.allSatisfy(isDigit), let n = Int64(text) else {
                    throw .badRequest("invalid Content-Length")
                }
                if let length, length != n { throw .badRequest("differing Content-Length values") }
                length = n
            }
            head.framing = length! == 0 ? .none : .length(length!)
        }

        var close = false, keepAlive = false
        for value in connections {
            for token in value.split(separator: ",") {
                let t = token.trimmingSpaces.lowercased()
                if t == "close" { close = true } else if t == "keep-alive" { keepAlive = true }
            }
        }
        head.keepAlive = head.versionMinor == 1 ? !close : (keepAlive && !close)

        for expect in expects {
            guard expect.trimmingSpaces.lowercased() == "100-continue" else { throw .expectationFailed }
            head.expectContinue = head.versionMinor == 1
        }
    }

    private static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: c - 0x30
        case 0x41...0x46: c - 0x41 + 10
        case 0x61...0x66: c - 0x61 + 10
        default: nil
        }
    }

    /// tchar of RFC 9110 §5.6.2.
    static func isTokenChar(_ c: UInt8) -> Bool {
        switch c {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: true
        case 0x21, 0x23, 0x24, 0x25, 0x26, 0x27, 0x2A, 0x2B, 0x2D, 0x2E, 0x5E, 0x5F, 0x60, 0x7C, 0x7E: true
        default: false
        }
    }
}

/// Splits a header section into lines, requiring CRLF line ends.
private struct LineReader {
    let bytes: UnsafeRawBufferPointer
    var position = 0

    mutating func next() throws(HTTPParseError) -> Range<Int>? {
        guard position < bytes.count, let base = bytes.baseAddress else { return nil }
        // memchr for the line end and for a stray CR: these scans run over every byte of every header section.
        guard let lf = memchr(base + position, 0x0A, bytes.count - position) else {
            throw .badRequest("unterminated header line")
        }
        let i = base.distance(to: UnsafeRawPointer(lf))
        guard i > position, bytes[i - 1] == 0x0D else {
            throw .badRequest("bare LF in header section")
        }
        let line = position..<(i - 1)
        position = i + 1
        if !line.isEmpty, memchr(base + line.lowerBound, 0x0D, line.count) != nil {
            throw .badRequest("bare CR in header section")
        }
        return line
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs (HTTP's optional whitespace).
    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}
