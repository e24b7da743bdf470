import HTTPServer

/// The incremental HTTP/1.1 request parser, fed the same bytes whole and split at points the input chooses: both
/// ways must give the same heads, body bytes, ends and error status (the parser promises that its result does not
/// depend on how the socket delivered the bytes), and the parser must always make progress.
///
/// Input: a flags byte (bit 0: tiny limits, so that every limit is reached; bit 1: small pieces; bit 2: take body
/// bytes through `consumeBody` as `Connection` does when it reads a body itself), 4 bytes of split seed, then the
/// bytes of the connection.
enum HTTPFuzzing {
    /// A blob upload with a chunked body: the `chunked` target fuzzes only what follows it.
    static let chunkedHead = Array(
        "PATCH /v2/library/app/blobs/uploads/5d0f HTTP/1.1\r\nHost: registry\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)

    static func request(_ data: UnsafeRawBufferPointer) {
        var input = FuzzInput(data)
        let flags = input.byte()
        let seed = input.integer(4)
        compare(input.rest(), flags: flags, seed: seed)
    }

    static func chunked(_ data: UnsafeRawBufferPointer) {
        var input = FuzzInput(data)
        let flags = input.byte()
        let seed = input.integer(4)
        compare(chunkedHead + input.rest(), flags: flags, seed: seed)
    }

    /// What the parser reported, with consecutive body bytes joined (their cut points depend on the split).
    enum Outcome: Equatable {
        case head(String)
        case body([UInt8])
        case end
        case failure(HTTPStatus)
    }

    static func limits(_ flags: UInt8) -> ParserLimits {
        var limits = ParserLimits()
        if flags & 1 != 0 {
            limits.maxRequestLine = 48
            limits.maxHeaderBytes = 160
            limits.maxHeaderCount = 4
            limits.maxChunkLine = 12
            limits.maxTrailerBytes = 24
        }
        return limits
    }

    static func compare(_ bytes: [UInt8], flags: UInt8, seed: UInt64) {
        guard !bytes.isEmpty else { return }
        let whole = parse(bytes, pieces: [0..<bytes.count], limits: limits(flags), consume: nil)
        var random = SplitMix64(state: seed)
        var pieces: [Range<Int>] = []
        var start = 0
        let longest = flags & 2 != 0 ? 4 : 200
        while start < bytes.count {
            let end = min(bytes.count, start + random.upTo(longest))
            pieces.append(start..<end)
            start = end
        }
        let split = parse(bytes, pieces: pieces, limits: limits(flags), consume: flags & 4 != 0 ? random : nil)
        check(whole == split, "whole \(whole) but split at \(pieces.map(\.upperBound)) \(split)")
    }

    /// Feeds `pieces` of `bytes` in turn, as separate reads.
    /// - Parameter consume: when set, a generator deciding how many expected body bytes to take with `consumeBody`.
    static func parse(_ bytes: [UInt8], pieces: [Range<Int>], limits: ParserLimits, consume: SplitMix64?) -> [Outcome] {
        var parser = RequestParser(limits: limits)
        var outcomes: [Outcome] = []
        var consume = consume
        func addBody(_ body: some Collection<UInt8>) {
            if case .body(let earlier) = outcomes.last {
                outcomes[outcomes.count - 1] = .body(earlier + body)
            } else {
                outcomes.append(.body(Array(body)))
            }
        }
        for piece in pieces {
            let chunk = Array(bytes[piece])
            let failure: HTTPParseError? = chunk.withUnsafeBytes { buffer in
                var offset = 0
                var steps = 0
                while true {
                    steps += 1
                    check(steps <= 2 * buffer.count + 8, "parser makes no progress at \(offset) of \(buffer.count)")
                    if var generator = consume, offset < buffer.count, let expected = parser.expectedBodyBytes {
                        check(expected > 0, "expectedBodyBytes is \(expected)")
                        let count = Int(min(expected, Int64(buffer.count - offset), Int64(generator.upTo(64))))
                        consume = generator
                        addBody(buffer[offset..<(offset + count)])
                        offset += count
                        if parser.consumeBody(count) {
                            check(parser.expectedBodyBytes == nil, "body complete, yet more body expected")
                        }
                        continue
                    }
                    let next: Int, event: RequestParser.Event?
                    do throws(HTTPParseError) {
                        (next, event) = try parser.parse(buffer, from: offset)
                    } catch {
                        return error
                    }
                    check(next >= offset && next <= buffer.count, "parse returned offset \(next) from \(offset)")
                    offset = next
                    guard let event else {
                        check(next == buffer.count, "no event, yet \(buffer.count - next) bytes left unread")
                        return nil
                    }
                    switch event {
                    case .head(let head):
                        outcomes.append(.head(describe(head)))
                    case .body(let range):
                        check(!range.isEmpty && range.upperBound == next, "body range \(range) ends not at \(next)")
                        addBody(buffer[range])
                    case .end:
                        outcomes.append(.end)
                    }
                }
            }
            if let failure {
                outcomes.append(.failure(failure.status))
                break
            }
        }
        return outcomes
    }

    static func describe(_ head: RequestHead) -> String {
        let fields = head.headers.fields.map { "\($0.name): \($0.value)" }.joined(separator: "|")
        return "\(head.method) \(head.target) 1.\(head.versionMinor) [\(fields)] \(head.framing) "
            + "keepAlive=\(head.keepAlive) continue=\(head.expectContinue) path=\(head.path) query=\(head.query ?? "-")"
    }
}
